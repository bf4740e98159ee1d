"""The public Python API (`snntrain.Model`, `snntrain.datasets`, `snntrain.encode`) on the shipped digits."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import snntrain
from snntrain.config import load_model
from snntrain.errors import ConfigError, SnntrainError, UsageError
from snntrain.runs import RunDir, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "models" / "default.toml"
SMALL = ["training.train_samples=300", "training.test_samples=100", "training.epochs=2"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    runs = tmp_path_factory.mktemp("api")
    model = snntrain.Model.from_toml(DEFAULT, SMALL, device="cpu")
    lines: list[str] = []
    history = model.fit(data_dir=runs / "data", runs_dir=runs, echo=lines.append)
    return model, history, lines


def test_fit_writes_the_run_directory_and_keeps_best(fitted):
    model, history, lines = fitted
    run = RunDir.open(model.run_dir)
    assert history == run.read_metrics() and len(history) == 2
    for mine, saved in zip(model.weights, load_checkpoint(run.best_path).weights):
        np.testing.assert_array_equal(mine, saved)
    assert any(line.startswith("done: best.h5 is epoch") for line in lines)


def test_resume_continues_to_the_same_weights_as_one_fit(fitted, tmp_path):
    """An interrupted fit (1 epoch of 2) resumed through the API ends where the uninterrupted one did."""
    model, history, _ = fitted
    first = snntrain.Model.from_toml(DEFAULT, SMALL[:-1] + ["training.epochs=1"], device="cpu")
    first.fit(data_dir=tmp_path / "data", runs_dir=tmp_path, echo=lambda line: None)
    resumed = snntrain.Model.resume(first.run_dir, tmp_path / "data", ["training.epochs=2"], device="cpu",
                                    echo=lambda line: None)
    assert resumed.run_dir == first.run_dir and len(resumed.history) == 2
    for key in ("train_loss", "test_accuracy"):
        assert [row[key] for row in resumed.history] == [row[key] for row in history]
    last = load_checkpoint(RunDir.open(resumed.run_dir).last_path).weights
    for mine, theirs in zip(last, load_checkpoint(RunDir.open(model.run_dir).last_path).weights):
        np.testing.assert_array_equal(mine, theirs)


def test_resume_returns_best_h5_with_the_model_that_trained_it(fitted, tmp_path):
    """A finished run resumed with a new theta trains nothing, and best.h5 was trained with the old one: the model
    returned is best.h5's, scoring what the records say (before: config.toml's model with best.h5's weights)."""
    model, history, _ = fitted
    run = tmp_path / "run"
    shutil.copytree(model.run_dir, run)
    resumed = snntrain.Model.resume(run, tmp_path / "data", ["layers[0].theta=0.5"], device="cpu",
                                    echo=lambda line: None)
    assert load_model(run / "config.toml").layers[0].theta == 0.5  # for the epochs to come
    assert resumed.config.layers[0].theta == model.config.layers[0].theta
    best = max(history, key=lambda row: row["val_accuracy"])
    assert resumed.evaluate("test", tmp_path / "data").accuracy == best["test_accuracy"]


def test_resume_of_a_run_whose_best_model_this_version_refuses(tmp_path, monkeypatch):
    """A run trained by a version that allowed float32 with tau_s 150 x t_max, resumed with the precision that
    makes it valid now: the model returned is best.h5's with that override (before the fallback: the resume
    finished, then best.h5's own model raised the float32 error)."""
    from snntrain.config import load as config_load

    with monkeypatch.context() as older:
        older.setattr(config_load, "MAX_TAU_S_WINDOW_FLOAT32", 1e9)
        first = snntrain.Model.from_toml(DEFAULT, SMALL[:-1] + ["training.epochs=1", "layers[0].tau_s=30",
                                                                "layers[1].tau_s=30"], device="cpu")
        first.fit(data_dir=tmp_path / "data", runs_dir=tmp_path, echo=lambda line: None)
    with pytest.raises(ConfigError, match="too long for float32"):
        snntrain.Model.from_run(first.run_dir, device="cpu")
    resumed = snntrain.Model.resume(first.run_dir, tmp_path / "data", ['simulation.precision="float64"'],
                                    device="cpu", echo=lambda line: None)
    assert (resumed.config.precision, resumed.config.layers[0].tau_s) == ("float64", 30.0)
    for mine, theirs in zip(resumed.weights, load_checkpoint(RunDir.open(first.run_dir).best_path).weights):
        np.testing.assert_array_equal(mine, theirs)


def test_predict_agrees_with_evaluate(fitted):
    model, _, _ = fitted
    images, labels = snntrain.datasets.load("digits").split("test")
    predictions = model.predict(images[:100])
    assert predictions.shape == (100,) and predictions.dtype == np.int64
    assert model.evaluate("test").accuracy == pytest.approx(np.mean(predictions == labels[:100]))
    # the count loss predicts the output neuron with the most spikes (the first on ties, -1 when all silent)
    counts = model.spikes(images[:100])[-1].counts
    expected = np.where(counts.max(axis=1) > 0, counts.argmax(axis=1), -1)
    np.testing.assert_array_equal(predictions, expected)


def test_spikes_are_per_layer_and_spike_trains_work_as_inputs(fitted):
    model, _, _ = fitted
    images, _ = snntrain.datasets.load("digits").split("test")
    layers = model.spikes(images[:7], batch_size=3)
    assert [layer.name for layer in layers] == ["dense0", "dense1"]
    assert layers[0].times.shape == (7, 128, model.config.layers[0].max_spikes) and layers[0].counts.shape == (7, 128)
    finite = np.isfinite(layers[0].times)
    np.testing.assert_array_equal(finite.sum(axis=2), layers[0].counts)
    trains = snntrain.encode(images[:7], model.config.input.t_window)
    assert trains[0].shape == (7, 64, 1)
    np.testing.assert_array_equal(model.predict(trains), model.predict(images[:7]))


def test_save_and_load_give_the_same_model(fitted, tmp_path):
    model, _, _ = fitted
    model.save(tmp_path / "model.h5")
    with h5py.File(tmp_path / "model.h5") as f:
        assert f["layers/dense0"].attrs["weight_layout"].startswith("[out, in]")
    again = snntrain.Model.from_checkpoint(tmp_path / "model.h5", device="cpu")
    images, _ = snntrain.datasets.load("digits").split("test")
    np.testing.assert_array_equal(again.predict(images[:50]), model.predict(images[:50]))
    best = snntrain.Model.from_run(model.run_dir, device="cpu")  # reloaded from the run: the same predictions
    np.testing.assert_array_equal(best.predict(images[:50]), model.predict(images[:50]))
    last = snntrain.Model.from_run(model.run_dir, which="last", device="cpu")
    for mine, saved in zip(last.weights, load_checkpoint(Path(model.run_dir) / "last.h5").weights):
        np.testing.assert_array_equal(mine, saved)


def test_bad_arguments_are_clear_errors(fitted):
    model, _, _ = fitted
    with pytest.raises(SnntrainError, match="which='middle': allowed are best, last"):
        snntrain.Model.from_run(model.run_dir, which="middle")
    with pytest.raises(SnntrainError, match=r"images of shape \(2, 5, 5, 1\) do not fit dataset digits, whose "
                                            r"images are \(8, 8, 1\)"):
        model.predict(np.zeros((2, 5, 5, 1), np.uint8))
    with pytest.raises(SnntrainError, match="2 weight arrays for 2 layers|1 weight arrays for 2 layers"):
        model.set_weights(model.weights[:1])


def test_pixels_other_than_uint8_and_one_image_are_clear_errors(fitted):
    """(Before: latency_encode's ValueError from inside snntrain for float or int64 images and for a bad window; a
    single image was said not to fit images of its own shape; evaluate(images) printed the whole array.) Integer
    pixels within 0..255 are taken as they are."""
    model, _, _ = fitted
    images, _ = snntrain.datasets.load("digits").split("test")
    with pytest.raises(SnntrainError, match=r"^inputs: images must hold pixel values 0\.\.255 as integers \(uint8, as "
                                            r"the datasets do\), got float32; images in \[0, 1\] become "):
        model.predict(images[:4].astype(np.float32) / 255)
    with pytest.raises(SnntrainError, match=r"got int64, values -1\.\.254;"):
        model.predict(images[:4].astype(np.int64) - 1)
    expected = model.predict(images[:4])
    np.testing.assert_array_equal(model.predict(images[:4].astype(np.int64)), expected)
    np.testing.assert_array_equal(model.predict(images[:4].tolist()), expected)
    with pytest.raises(SnntrainError, match=r"^inputs: one image of shape \(8, 8, 1\); give a batch of them, shaped "
                                            r"\(N, 8, 8, 1\) \(e\.g\. images\[None\]\)$"):
        model.predict(images[0])
    with pytest.raises(SnntrainError, match=r"^inputs: not an array of images \("):  # before: numpy's ValueError
        model.predict([images[0], images[1][:4]])
    with pytest.raises(SnntrainError, match=r"^t_window must be a number of seconds, .*, got -1$"):  # not ValueError
        snntrain.encode(images[:4], -1)
    with pytest.raises(SnntrainError, match=r"^split=ndarray of shape \(360, 8, 8, 1\): give \"train\", "
                                            r"\"validation\" or \"test\" .*; to run inputs of your own, use predict"):
        model.evaluate(images)
    assert repr(snntrain.datasets.load("digits")) == ("Dataset('digits': 1,437 training and 360 test images 8x8x1, "
                                                      "uint8; 10 classes)")


def test_images_in_another_layout_of_as_many_pixels_are_refused(fitted):
    """(N, 16, 4, 1) or (N, 1, 8, 8) digits hold 64 pixels too, in another order (before: scored as if they were
    (8, 8, 1) images). Without the channel axis, or flat, the same images give the same predictions."""
    model, _, _ = fitted
    images, _ = snntrain.datasets.load("digits").split("test")
    for shape in [(4, 16, 4, 1), (4, 1, 8, 8)]:
        with pytest.raises(SnntrainError, match=r"do not fit dataset digits, whose images are \(8, 8, 1\) \(give "
                                                r"\(N, 8, 8, 1\), \(N, 8, 8\) or \(N, 64\) flat\)"):
            model.predict(images[:4].reshape(shape))
    expected = model.predict(images[:4])
    for shape in [(4, 8, 8), (4, 64)]:
        np.testing.assert_array_equal(model.predict(images[:4].reshape(shape)), expected)


def test_weights_too_large_for_the_precision_are_refused():
    """Every synapse at -1e7: an all-inhibitory network must stay silent, but float32 rounding of its sums made
    every neuron fill its buffer at once (before: accepted, and the prediction was class 0). Refused in float32, with
    the same weights exact in float64."""
    images, _ = snntrain.datasets.load("digits").split("test")
    model = snntrain.Model.from_toml(DEFAULT, device="cpu")
    inhibitory = [np.full_like(w, -1e7) for w in model.weights]
    with pytest.raises(SnntrainError, match=r"^set_weights: layer dense0: weights too large for float32: rounding of "
                                            r"a neuron's input sums can reach 99\.\d times its threshold"):
        model.set_weights(inhibitory)
    with pytest.raises(ConfigError, match=r"default.toml: the initial layer dense0: weights too large for float32"):
        snntrain.Model.from_toml(DEFAULT, ["layers[0].init.std=1e6"], device="cpu")  # before: trained, then refused
    exact = snntrain.Model.from_toml(DEFAULT, ['simulation.precision="float64"'], device="cpu")
    with pytest.raises(SnntrainError, match=r"weights too large for float64: .*; give smaller weights or a larger "
                                            r"theta$"):  # before: "... or simulation.precision = float64"
        exact.set_weights([w * 1e20 for w in inhibitory])
    exact.set_weights(inhibitory)
    assert (exact.predict(images[:5]) == -1).all()
    assert all(layer.counts.sum() == 0 for layer in exact.spikes(images[:5]))


def test_two_threads_share_one_model(tmp_path):
    """Two threads predicting with one model, at different batch sizes (before: one launched kernels on the
    buffers the other had just resized, a segfault or heap corruption within a second): each gets what it gets
    alone. In a subprocess, so that a crash fails this test instead of ending the whole run."""
    script = f"""
import threading, numpy as np, snntrain
model = snntrain.Model.from_toml({str(DEFAULT)!r}, device="cpu")
images, _ = snntrain.datasets.load("digits").split("test")
alone = {{n: model.predict(images[:n]) for n in (200, 3)}}
got, errors = {{}}, []
def work(n):
    try:
        for _ in range(30):
            out = model.predict(images[:n])
            assert (out == alone[n]).all()
        got[n] = out
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=work, args=(n,)) for n in (200, 3)]
[t.start() for t in threads]
[t.join() for t in threads]
assert not errors, errors
assert sorted(got) == [3, 200]
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout == "ok\n", (result.returncode, result.stderr[-2000:])


@pytest.mark.cudasim
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_spike_trains_out_of_time_order_are_taken_in_order(device):
    """Input trains whose spikes are not in time order within a train: the same output as in order (before: the
    CUDA forward merges trains assuming each is in order, and gave other spikes)."""
    from snntrain.backends import cuda_available

    if device == "cuda" and not cuda_available():
        pytest.skip("no CUDA GPU and the CUDA simulator is off")
    model = snntrain.Model.from_toml(DEFAULT, ["layers[0].neurons=8"], device=device)
    rng = np.random.default_rng(3)
    n_in = int(np.prod(model.config.input.shape))
    times = np.sort(rng.uniform(0.0, 0.1, (1, n_in, 3)).astype(np.float32), axis=2)
    counts = rng.integers(0, 4, (1, n_in)).astype(np.int32)
    in_order = model.spikes((times, counts))
    reversed_counted = times.copy()
    for s, n in np.ndindex(counts.shape):
        reversed_counted[s, n, :counts[s, n]] = times[s, n, :counts[s, n]][::-1]
    out_of_order = model.spikes((reversed_counted, counts))
    for a, b in zip(in_order, out_of_order):
        np.testing.assert_array_equal(a.times, b.times)
        np.testing.assert_array_equal(a.counts, b.counts)


def _trains(model):
    images, _ = snntrain.datasets.load("digits").split("test")
    return snntrain.encode(images[:3])


@pytest.mark.parametrize("make, message", [
    # before: the kernels wrote past the spike buffer (a segfault or a corrupted heap)
    (lambda t, c: (t, c * 3), r"spike counts must lie in 0\.\.1 \(the trains' 1 slots\), got 0\.\.3"),
    (lambda t, c: (t, c - 5), r"spike counts must lie in 0\.\.1"),  # before: read as silent inputs
    (lambda t, c: (t[:, :, :0], c), r"must lie in 0\.\.0"),  # before: numba's SystemError
    (lambda t, c: (np.where(c[..., None] > 0, np.nan, t), c), r"finite and >= 0 up to each count; sample 0, input"),
    (lambda t, c: (t - 0.5, c), r"finite and >= 0 up to each count"),  # before: output spikes at negative times
    (lambda t, c: (np.ones(t.shape, np.int64), c), r"spike times must be floating-point seconds, got int64"),
    (lambda t, c: (t, c.astype(float)), r"spike counts must be integers, got float64"),  # before: truncated
])
def test_spike_trains_the_kernels_cannot_take_are_refused(fitted, make, message):
    model, _, _ = fitted
    with pytest.raises(SnntrainError, match=message):
        model.predict(make(*_trains(model)))


def test_misused_api_calls_are_clear_errors_and_change_nothing(fitted):
    model, _, _ = fitted
    images, _ = snntrain.datasets.load("digits").split("test")
    with pytest.raises(UsageError, match="split 'val': a run has the splits train, validation and test"):
        model.evaluate("val")  # before: scored the test split and called it val
    with pytest.raises(SnntrainError, match=r"batch_size=-1: give an integer >= 1"):
        model.predict(images[:3], batch_size=-1)
    assert model.predict(images[:3], batch_size=10**9).shape == (3,)  # before: a 4 GB label buffer
    with pytest.raises(SnntrainError, match=r"epochs=True: give an integer >= 1"):
        model.fit(epochs=True)  # before: trained, and wrote epochs = true into the run's config.toml
    with pytest.raises(SnntrainError, match=r"overrides='training.epochs=1': give a list of \"KEY=VALUE\" strings"):
        snntrain.Model.from_toml("default", "training.epochs=1")  # before: "--set t: expected KEY=VALUE"
    assert snntrain.encode(images[:0])[0].shape == (0, 64, 1)  # before: numpy's reshape error
    with pytest.raises(SnntrainError,
                       match=r"t_window must be a number of seconds, positive and finite \(in float32\)"):
        snntrain.encode(images[:1], 1e39)  # before: half the pixels silently never fired
    with pytest.raises(SnntrainError, match=r"t_window must be a number of seconds.*, got '0.1'"):
        snntrain.encode(images[:1], "0.1")  # before: math.isfinite's "must be real number, not str"
    with pytest.raises(SnntrainError, match=r"callbacks=.*: give a list of snntrain.Callback instances"):
        model.fit(callbacks=snntrain.Callback())  # before: "'Callback' object is not iterable", after a run folder
    with pytest.raises(SnntrainError, match=r"inputs: give spike trains as a pair \(times, counts\), got a tuple of 3"):
        model.predict((1, 2, 3))  # before: "too many values to unpack"
    # paths that are not paths name the argument (before: os.fspath's TypeError, naming none)
    for call, name, value in [(lambda: model.fit(runs_dir=None), "runs_dir", "None"),
                              (lambda: model.save(None), "path", "None"),
                              (lambda: model.evaluate(data_dir=5), "data_dir", "5"),
                              (lambda: snntrain.datasets.load("digits", data_dir=""), "data_dir", "''")]:
        with pytest.raises(SnntrainError, match=re.escape(f"{name}={value}: give a path (a non-empty str or "
                                                          "pathlib.Path)")):
            call()
    with pytest.raises(SnntrainError, match=r"config: give a ModelConfig \(Model.from_toml reads a model file\), got "
                                            r"str"):
        snntrain.Model("models/default.toml")  # before: AttributeError, 'str' object has no attribute 'training'
    before = model.weights
    for weights, message in [([np.full_like(w, np.nan) for w in before], "layer dense0 has non-finite weights"),
                             ([before[0], before[1].T],
                              "layer dense1 has weights of shape (128, 10) but the model expects (10, 128)"),
                             ([before[0] * 0, np.full_like(before[1], 1e39, np.float64)], "dense1 has non-finite"),
                             ([before[0], before[1].astype(complex)], "layer dense1 has weights of dtype complex128"),
                             (None, "weights: give a list of arrays, one per layer, got NoneType")]:
        with pytest.raises(SnntrainError, match=re.escape(message)):
            model.set_weights(weights)
        for mine, kept in zip(model.weights, before):  # all layers or none: dense0 was replaced before
            np.testing.assert_array_equal(mine, kept)


def test_importing_snntrain_does_not_load_numba():
    """`snntrain --help` and `import snntrain` stay quick: the API loads the engine on first use."""
    code = "import sys, snntrain; print('numba' in sys.modules, snntrain.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "False"


def test_overrides_may_come_from_a_generator():
    """A generator of overrides is read once (validating it first had used it up, leaving no overrides)."""
    model = snntrain.Model.from_toml("default", (o for o in ["training.epochs=3"]), device="cpu")
    assert model.config.training.epochs == 3
