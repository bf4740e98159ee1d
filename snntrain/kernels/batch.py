"""Assembling a batch on the device: copy the samples named by an index array, one sample per element.

Where a batch starts in the pass is the device counter `cursor[0]`, advanced on the device after each batch,
so that a captured step (a CUDA graph) replays unchanged from batch to batch.
"""
from __future__ import annotations


def gather_sample(i, order, cursor, src_t, src_cnt, src_label, dst_t, dst_cnt, dst_label):
    """Copy input p = i % n_in of sample order[cursor[0] + b], b = i // n_in, of the (device-resident) dataset into
    row b of the batch buffers (and its label, once per row). One element per input rather than per sample: a
    batch of 50 is too few threads to hide a GPU's memory latency."""
    n_in = src_cnt.shape[1]
    b = i // n_in
    p = i - b * n_in
    j = order[cursor[0] + b]
    dst_cnt[b, p] = src_cnt[j, p]
    for s in range(src_t.shape[2]):
        dst_t[b, p, s] = src_t[j, p, s]
    if p == 0:
        dst_label[b] = src_label[j]


def advance_cursor(i, cursor, step):
    """Move the pass's position on by one batch of `step` samples (a single element, i = 0)."""
    cursor[i] += step


ENTRY_POINTS = (gather_sample, advance_cursor)
