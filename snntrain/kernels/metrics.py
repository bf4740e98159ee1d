"""Per-epoch monitors kept on the device, so a training step needs no host transfer."""
from __future__ import annotations


def record_outcome(b, cursor, labels, losses, preds, out_counts, all_losses, all_preds, all_silent):
    """Store sample b's loss and prediction at offset + b, where the batch starts at offset = cursor[0] in the
    pass, and whether its label's output neuron stayed silent."""
    offset = cursor[0]
    all_losses[offset + b] = losses[b]
    all_preds[offset + b] = preds[b]
    all_silent[offset + b] = 1 if out_counts[b, labels[b]] == 0 else 0


def add_spike_counts(n, counts, totals):
    """Add neuron n's spikes over the batch (`counts[b, n]`) to its running total."""
    s = 0
    for b in range(counts.shape[0]):
        s += counts[b, n]
    totals[n] += s


ENTRY_POINTS = (record_outcome, add_spike_counts)
