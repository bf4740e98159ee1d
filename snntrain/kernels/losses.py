"""Losses of SPEC §4, written once per sample for both targets.

Each `*_loss(b, ...)` reads sample b's output spikes (`t[b, n, k]`, `cnt[b, n]`) and label, writes the loss
value `loss[b]`, the prediction `pred[b]` (-1 when nothing can be predicted) and the errors
`err[b, n, k] = scale * dL/dt_k` for every output spike (0 on padding). `scale` is 1 / batch size, so the
errors are those of the batch mean.
"""
from __future__ import annotations

import math

INF = math.inf


def clear_errors(err, b, n):
    """Zero the errors of neuron n of sample b."""
    for k in range(err.shape[2]):
        err[b, n, k] = 0.0


def ttfs_loss(b, t, cnt, labels, tau_loss, t_max, scale, err, loss, pred):
    """Softmax cross-entropy on first spike times, p = softmax(-t / tau_loss); prediction = earliest neuron.

    Errors follow SPEC §4 (silent neurons have p = 0 and carry no error). For the *reported* loss a silent
    neuron counts as firing at t_max, so that a silent label gives a large finite loss, not +inf.
    """
    n_out = cnt.shape[1]
    label = labels[b]
    first = INF
    best = -1
    for n in range(n_out):
        if cnt[b, n] > 0 and t[b, n, 0] < first:
            first = t[b, n, 0]
            best = n
    pred[b] = best
    # reported loss: log-sum-exp over all neurons, silent at t_max, shifted by the earliest time for stability
    ref = first if best >= 0 else t_max
    total = 0.0
    for n in range(n_out):
        tn = t[b, n, 0] if cnt[b, n] > 0 else t_max
        total += math.exp(-(tn - ref) / tau_loss)
    t_label = t[b, label, 0] if cnt[b, label] > 0 else t_max
    loss[b] = (t_label - ref) / tau_loss + math.log(total)
    # errors: softmax over the neurons that spiked
    spiking = 0.0
    for n in range(n_out):
        if cnt[b, n] > 0:
            spiking += math.exp(-(t[b, n, 0] - ref) / tau_loss)
    for n in range(n_out):
        clear_errors(err, b, n)
        if cnt[b, n] > 0:
            p = math.exp(-(t[b, n, 0] - ref) / tau_loss) / spiking
            target = 1.0 if n == label else 0.0
            err[b, n, 0] = scale * (target - p) / tau_loss


def count_loss(b, t, cnt, labels, n_true, n_false, scale, err, loss, pred):
    """Spike-count class loss 0.5 * sum (target - count)^2; every spike of neuron i gets target_i - count_i.

    Prediction = the neuron with the most spikes (the lowest index on ties; -1 if all are silent).
    """
    n_out = cnt.shape[1]
    label = labels[b]
    total = 0.0
    best = -1
    most = 0
    for n in range(n_out):
        count = cnt[b, n]
        if count > most:
            most = count
            best = n
        target = n_true if n == label else n_false
        diff = target - count
        total += 0.5 * diff * diff
        for k in range(err.shape[2]):
            err[b, n, k] = scale * diff if k < count else 0.0
    loss[b] = total
    pred[b] = best


def time_loss(b, t, cnt, labels, t_true, t_false, scale, err, loss, pred):
    """Spike time loss 0.5 * sum (t - target)^2 on first spikes, a silent neuron counting as t = 1.0.

    Only real spikes carry an error. Prediction = earliest neuron (-1 if all are silent).
    """
    n_out = cnt.shape[1]
    label = labels[b]
    total = 0.0
    first = INF
    best = -1
    for n in range(n_out):
        clear_errors(err, b, n)
        target = t_true if n == label else t_false
        tn = t[b, n, 0] if cnt[b, n] > 0 else 1.0
        total += 0.5 * (tn - target) * (tn - target)
        if cnt[b, n] > 0:
            err[b, n, 0] = scale * (tn - target)
            if tn < first:
                first = tn
                best = n
    loss[b] = total
    pred[b] = best


def silent_label_scaling(i, w, labels, cnt, factor, scale, grad):
    """Synaptic scaling of silent label neurons, for synapse i = (g * P + p) * N + n of an output layer.

    A neuron that never spikes gets no error and so no gradient: it cannot recover. For every sample of group g
    whose label is n and where n stayed silent, dL/dw[g, p, n] -= scale * factor * |w[g, p, n]|, which raises
    all of n's weights until it fires again (the regularisation of the original BATS code, as a gradient term).
    """
    n_in = w.shape[1]
    n_out = w.shape[2]
    n = i % n_out
    p = (i // n_out) % n_in
    g = i // (n_in * n_out)
    per_group = cnt.shape[0] // w.shape[0]
    silent = 0
    for b in range(g * per_group, (g + 1) * per_group):
        if labels[b] == n and cnt[b, n] == 0:
            silent += 1
    if silent > 0:
        grad[g, p, n] -= scale * factor * silent * abs(w[g, p, n])


ENTRY_POINTS = (ttfs_loss, count_loss, time_loss, silent_label_scaling)
