"""Captured steps (snntrain.backends.graphs): replaying a step gives the same numbers as running it, bit for bit;
a replay that no longer matches its step's Python is caught; captures that allocate, or that were made before an
allocation, are not replayed. On a real GPU (NUMBA_ENABLE_CUDASIM=0) the captures are CUDA graphs."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from snntrain.backends import cuda_available, get_backend
from snntrain.backends.graphs import MAX_FAILED_CAPTURES, GraphMismatch, StepGraphs
from snntrain.config import load_model
from snntrain.data.store import load_dataset
from snntrain.network.build import build_network
from snntrain.network.loss import Loss
from snntrain.network.optimizer import Optimizer
from snntrain.training.epoch import EpochRunner
from snntrain.training.inputs import encode_split

DEFAULT = Path(__file__).resolve().parents[1] / "models" / "default.toml"
REAL_GPU = cuda_available(allow_simulator=False)


def small_model(precision: str = "float32", neurons: int = 24, max_spikes: int = 30):
    cfg = load_model(DEFAULT)
    layers = tuple(replace(layer, max_spikes=max_spikes) for layer in cfg.layers)
    layers = (replace(layers[0], neurons=neurons),) + layers[1:]
    return replace(cfg, layers=layers, precision=precision)


def train(device: str, graphs: bool, precision: str = "float32", samples: int = 130, batch: int = 20,
          passes: int = 3, between=None, score_batch: int = 50, neurons: int = 24, max_spikes: int = 30):
    """Weights after `passes` training passes over `samples` digits (the last batch of each pass is partial),
    each followed by a scoring pass at another batch size, and the runners' captured steps."""
    be = get_backend(device)
    cfg = small_model(precision, neurons, max_spikes)
    data = load_dataset("digits", Path("data"))
    network = build_network(cfg, be, np.random.default_rng(0))
    loss = Loss(be, cfg.loss, cfg.t_max)
    optimizer = Optimizer(be, cfg.optimizer, cfg.schedule, network.layers)
    split = encode_split(be, data, "train", cfg.input, samples, cfg.precision)
    trainer = EpochRunner(be, network, loss, split, batch, cfg.input.classes, graphs)
    scorer = EpochRunner(be, network, loss, split, score_batch, cfg.input.classes, graphs)
    rng = np.random.default_rng(1)
    results = []
    for index in range(passes):
        stats = trainer.run(rng.permutation(samples), optimizer)
        scored = scorer.run(np.arange(samples))
        results.append((stats.loss, stats.correct, scored.loss, scored.correct, stats.spikes, scored.spikes))
        if between is not None:
            between(index, network)
    return [layer.weights for layer in network.layers], results, (trainer.graphs, scorer.graphs)


def test_replayed_training_equals_eager_training_bit_for_bit():
    weights, results, (trainer, scorer) = train("cpu", graphs=True)
    eager_weights, eager_results, _ = train("cpu", graphs=False)
    for a, b in zip(weights, eager_weights):
        np.testing.assert_array_equal(a, b)
    assert results == eager_results
    # 7 batches per pass (6 full, 1 partial): each pass's full batches after the first are replays. The
    # partial batch reallocates the layers' buffers, so its capture is dropped and the next pass captures anew.
    assert trainer.replays >= 3 * 5 - 2 and trainer.captures >= 3
    assert trainer.last_error.startswith("step (10, ") and "allocated device memory" in trainer.last_error
    assert scorer.replays >= 1  # 3 batches of 50 per scoring pass (2 full, 1 partial)


def test_weights_set_between_passes_reach_the_replayed_steps():
    def perturb(index, network):
        layer = network.layers[0]
        layer.set_weights(layer.weights * np.float32(0.5 + index))

    weights, results, (trainer, _) = train("cpu", graphs=True, between=perturb)
    eager_weights, eager_results, _ = train("cpu", graphs=False, between=perturb)
    for a, b in zip(weights, eager_weights):
        np.testing.assert_array_equal(a, b)
    assert results == eager_results and trainer.replays > 0


@pytest.mark.skipif(REAL_GPU, reason="a real GPU's exp, log and sqrt differ from the CPU's by ulps (see "
                    "test_cpu_vs_cuda.py); on the GPU, graphs are compared with its own eager launches below")
def test_replays_on_the_cuda_backend_equal_the_cpu():
    small = dict(precision="float64", samples=16, batch=8, passes=2, score_batch=16, neurons=6, max_spikes=4)
    # (the simulator is slow: 2 batches per pass, eager then captured, and replayed in the second pass)
    weights, results, (trainer, _) = train("cuda", graphs=True, **small)
    cpu_weights, cpu_results, _ = train("cpu", graphs=False, **small)
    for a, b in zip(weights, cpu_weights):
        np.testing.assert_array_equal(a, b)
    assert results == cpu_results and trainer.replays > 0


class _Steps:
    """A toy step on the CPU backend, y += x (sgd_step with hp = [-1]), whose arrays the test swaps."""

    def __init__(self) -> None:
        be = self.be = get_backend("cpu")
        self.x = be.to_device(np.arange(4, dtype=np.float64))
        self.y = be.zeros((4,), np.float64)
        self.hp = be.to_device(np.array([-1.0]))
        self.allocate = False  # a new hp array each time the step runs

    def __call__(self) -> None:
        hp = self.be.to_device(np.array([-1.0])) if self.allocate else self.hp
        self.be.kernels.sgd_step(4, w=self.y, g=self.x, hp=hp)


def test_a_replay_whose_python_now_launches_differently_is_an_error():
    steps = _Steps()
    graphs = StepGraphs(steps.be, verify=True)
    for _ in range(3):  # eager, captured and replayed, replayed
        graphs.run("k", steps)
    assert graphs.replays == 2
    np.testing.assert_array_equal(steps.be.to_host(steps.y), 3 * np.arange(4))
    steps.y = steps.be.to_device(np.zeros(4))  # an allocation: the capture is made again, no error
    graphs.run("k", steps)
    assert graphs.captures == 2
    steps.y = steps.y[::-1]  # another array at another address, without any allocation
    with pytest.raises(GraphMismatch, match="launch 0"):
        graphs.run("k", steps)


def test_a_step_that_allocates_is_never_replayed():
    steps = _Steps()
    steps.allocate = True
    graphs = StepGraphs(steps.be, verify=True)
    for _ in range(2 + MAX_FAILED_CAPTURES):
        graphs.run("k", steps)
    assert graphs.replays == 0 and graphs.captures == 0 and "allocated device memory" in graphs.last_error
    np.testing.assert_array_equal(steps.be.to_host(steps.y), (2 + MAX_FAILED_CAPTURES) * np.arange(4))


def test_apply_without_prepare_is_an_error():
    be, cfg = get_backend("cpu"), small_model()
    optimizer = Optimizer(be, cfg.optimizer, cfg.schedule, build_network(cfg, be, np.random.default_rng(0)).layers)
    with pytest.raises(RuntimeError, match="before prepare"):
        optimizer.apply()
    optimizer.prepare()
    optimizer.apply()
    optimizer.load_state(optimizer.state() | {"step": np.array(7)})  # a restored step count needs its prepare
    with pytest.raises(RuntimeError, match="before prepare"):
        optimizer.apply()


@pytest.mark.skipif(not REAL_GPU, reason="needs a real GPU (NUMBA_ENABLE_CUDASIM=0): CUDA graphs")
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_cuda_graphs_equal_eager_launches_on_the_gpu(precision):
    weights, results, (trainer, scorer) = train("cuda", graphs=True, precision=precision)
    eager_weights, eager_results, _ = train("cuda", graphs=False, precision=precision)
    assert get_backend("cuda").capture_kind == "cuda graphs"
    assert trainer.replays > 0 and scorer.replays > 0
    for graphs in (trainer, scorer):  # only the partial batches' captures fail (they reallocate, see above)
        assert not graphs.last_error or "allocated device memory" in graphs.last_error
    for a, b in zip(weights, eager_weights):
        np.testing.assert_array_equal(a, b)
    assert results == eager_results
