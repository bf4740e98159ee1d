"""The engine on real Fashion-MNIST (Debian's dataset-fashion-mnist; skipped, and reported so, when absent)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snntrain.backends import get_backend
from snntrain.config.model import LossConfig
from snntrain.data.encoding import latency_encode
from snntrain.data.formats import read_idx_images, read_idx_labels
from snntrain.network.dense import DenseLayer, LifParams
from snntrain.network.loss import Loss
from snntrain.network.network import Network
from snntrain.network.spikes import SpikeTrains, spike_trains_from_times

FASHION = Path("/usr/share/datasets/fashion-mnist")
MODELS = Path(__file__).resolve().parents[1] / "models"
pytestmark = pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").exists(),
                                reason="real Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


def test_784_800_10_forward_backward_on_a_real_batch():
    images = read_idx_images(FASHION / "train-images-idx3-ubyte.gz")[:50]
    labels = read_idx_labels(FASHION / "train-labels-idx1-ubyte.gz")[:50].astype(np.int32)
    be = get_backend("cpu")
    rng = np.random.default_rng(0)
    # the MNIST ttfs reference layers of SPEC §7
    net = Network([DenseLayer(be, rng.uniform(0, 1, (800, 784)), LifParams(0.13, 0.7, 0.7, 1), 1.0),
                   DenseLayer(be, rng.uniform(0, 1, (10, 800)), LifParams(0.13, 2.0, 2.0, 1), 1.0)])
    times, counts = spike_trains_from_times(latency_encode(images, 0.1))
    out = net.forward(SpikeTrains(times, counts))
    assert net.outputs[0].counts.mean() > 0.5 and out.counts.sum() > 0
    errors, losses, preds = Loss(be, LossConfig("ttfs", tau_loss=0.005), 1.0)(out, labels)
    assert np.all(np.isfinite(losses)) and np.all(preds >= 0)
    net.backward(errors)
    for layer in net.layers:
        assert np.all(np.isfinite(layer.gradient)) and np.abs(layer.gradient).sum() > 0


def train_one_epoch(tmp_path, model: str) -> dict:
    """Train `model` (a file in models/) on the real data via the CLI; its single metrics row."""
    from click.testing import CliRunner

    from snntrain.cli import main
    from snntrain.runs import RunDir

    runner = CliRunner()
    data = tmp_path / "data"
    got = runner.invoke(main, ["download", "fashion-mnist", "--from", str(FASHION), "--data-dir", str(data)])
    assert got.exit_code == 0, got.output
    got = runner.invoke(main, ["train", "--model", str(MODELS / model), "--device", "cpu", "--data-dir",
                               str(data), "--runs-dir", str(tmp_path / "runs")])
    assert got.exit_code == 0, got.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    (row,) = RunDir.open(run_dir).read_metrics()
    return row


@pytest.mark.slow
def test_fashion_small_reaches_70_percent_after_one_epoch_on_10000_images(tmp_path):
    row = train_one_epoch(tmp_path, "fashion-small.toml")
    assert row["test_accuracy"] >= 0.70, row


@pytest.mark.slow
def test_conv_small_reaches_65_percent_after_one_epoch_on_5000_images(tmp_path):
    row = train_one_epoch(tmp_path, "conv-small.toml")
    assert row["test_accuracy"] > 0.65, row
