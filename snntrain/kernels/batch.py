"""Assembling a batch on the device: copy the samples named by an index array, one sample per element."""
from __future__ import annotations


def gather_sample(b, idx, src_t, src_cnt, src_label, dst_t, dst_cnt, dst_label):
    """Copy sample idx[b] of the (device-resident) dataset into row b of the batch buffers."""
    j = idx[b]
    for p in range(src_cnt.shape[1]):
        dst_cnt[b, p] = src_cnt[j, p]
        for s in range(src_t.shape[2]):
            dst_t[b, p, s] = src_t[j, p, s]
    dst_label[b] = src_label[j]


ENTRY_POINTS = (gather_sample,)
