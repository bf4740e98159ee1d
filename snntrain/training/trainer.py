"""`snntrain train`: train a model, evaluate it every epoch, and keep everything in a run directory."""
from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from snntrain import __version__
from snntrain.backends import Backend
from snntrain.config import load_model, to_toml
from snntrain.config.emit import format_value
from snntrain.config.load import overlapping, written_paths
from snntrain.config.model import ModelConfig
from snntrain.data.store import load_dataset
from snntrain.errors import SnntrainError, UsageError
from snntrain.network.build import build_network, describe_layers, take_weights, weight_scale_problem
from snntrain.network.loss import Loss
from snntrain.network.network import Network
from snntrain.network.optimizer import Optimizer
from snntrain.runs import Checkpoint, RunDir, load_checkpoint, plot_curves, plot_raster, plot_spike_counts
from snntrain.runs import make_dirs, save_checkpoint
from snntrain.runs.metrics import last_epoch
from snntrain.runs.rundir import LOCK_NAME
from snntrain.training.callbacks import Callback, CallbackList
from snntrain.training.epoch import EpochRunner, EpochStats, run_epoch
from snntrain.training.inputs import EncodedSplit, augment_split, encode_host, encode_split, upload_split
from snntrain.training.inputs import training_parts


class Interrupted(SnntrainError):
    """Ctrl-C: the checkpoints on disk are complete; the run can be resumed."""

    exit_code = 130


@dataclass
class Session:
    """Everything a training run holds in memory."""

    cfg: ModelConfig
    backend: Backend
    network: Network
    loss: Loss
    optimizer: Optimizer
    rng: np.random.Generator
    train: EncodedSplit
    validation: EncodedSplit | None  # held out of the training split; best.h5 is chosen on it
    test: EncodedSplit
    run: RunDir | None
    rows: list[dict]
    train_images: np.ndarray | None = None  # the training split's images, kept to deform anew each epoch
    epoch: int = 0  # epochs completed
    best_accuracy: float = -1.0  # of the selection: validation accuracy, or training accuracy without validation
    best_epoch: int = 0


def prepare(cfg: ModelConfig, backend: Backend, data_dir: Path, run: RunDir | None) -> Session:
    """Load and encode the data, build the network from the seed: the state before epoch 1. A new run passes
    `run=None` and sets it once this worked, so a failed load leaves no empty run directory behind."""
    data = load_dataset(cfg.input.dataset, data_dir)
    rng = np.random.default_rng(cfg.training.seed)
    network = build_network(cfg, backend, rng)
    t = cfg.training
    times, counts, labels = encode_host(data, "train", cfg.input, t.train_samples)
    trained, held = training_parts(cfg, len(labels))
    validation = (upload_split(backend, times[held], counts[held], labels[held], cfg.precision)
                  if held.start < held.stop else None)
    # the config allows augmentation for image datasets only
    images = data.split("train")[0][trained] if cfg.augment.type != "none" else None
    return Session(
        cfg=cfg, backend=backend, network=network, loss=Loss(backend, cfg.loss, cfg.t_max),
        optimizer=Optimizer(backend, cfg.optimizer, cfg.schedule, network.layers), rng=rng,
        train=upload_split(backend, times[trained], counts[trained], labels[trained], cfg.precision),
        validation=validation,
        test=encode_split(backend, data, "test", cfg.input, t.test_samples, cfg.precision),
        run=run, rows=[], train_images=images,
    )


def checkpoint(session: Session, weights: list[np.ndarray], test_accuracy: float, full: bool) -> Checkpoint:
    """The network's state (`weights`: host copies) as a Checkpoint; `full` adds optimiser and RNG state."""
    network_attrs, layer_attrs = describe_layers(session.cfg)
    return Checkpoint(
        network_attrs=network_attrs, layer_attrs=layer_attrs,
        layer_names=list(session.network.names),
        weights=weights,
        config_toml=to_toml(session.cfg), epoch=session.epoch, test_accuracy=test_accuracy,
        seed=session.cfg.training.seed, version=__version__,
        optimizer_state=session.optimizer.state() if full else None,
        rng_state=session.rng.bit_generator.state if full else None,
        # last.h5 carries every epoch's metrics row: it is the one atomic record of an epoch, and metrics.csv
        # (written after it) is rebuilt from it on resume, whichever write a crash interrupted.
        extra={"best_accuracy": session.best_accuracy, "best_epoch": session.best_epoch,
               **({"metrics_rows": json.dumps(session.rows, default=float)} if full else {})},
    )


def restore(session: Session) -> None:
    """Continue from the run's last.h5: weights, optimiser, RNG, epoch, best so far, metrics rows."""
    ckpt = load_checkpoint(session.run.last_path)
    # A `--set` that changes a layer's shape, or weights edited past what the precision holds, must be a one-line
    # error before any work, not set_weights' ValueError or a failure at the end of the next epoch.
    take_weights(session.network, session.cfg, ckpt.layer_names, ckpt.weights, str(session.run.last_path))
    try:
        _restore_state(session, ckpt)
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        # a last.h5 that reads as HDF5 but whose resume state was damaged or edited (what json, int(), numpy's
        # generator state and the optimiser's upload raise for values of the wrong kind or shape, and JSON nested
        # past Python's limit)
        raise SnntrainError(f"{session.run.last_path}: its resume state (optimiser, random generator, records) is "
                            f"damaged: {type(exc).__name__}: {exc}; restore it from a copy or train afresh") from None
    session.run.write_metrics(session.rows)  # repair a metrics.csv that a crash left behind last.h5


def _restore_state(session: Session, ckpt: Checkpoint) -> None:
    """`restore`'s part from last.h5's resume state; the exceptions of a damaged one pass through."""
    if ckpt.epoch < 0 or (ckpt.optimizer_state is not None and int(ckpt.optimizer_state["step"]) < 0):
        raise ValueError("a negative epoch or optimizer step")
    session.optimizer.load_state(ckpt.optimizer_state or {})
    session.rng.bit_generator.state = ckpt.rng_state
    session.epoch = ckpt.epoch
    session.best_accuracy = float(ckpt.extra["best_accuracy"])
    session.best_epoch = int(ckpt.extra["best_epoch"])
    if "metrics_rows" in ckpt.extra:
        rows = json.loads(str(ckpt.extra["metrics_rows"]))
        epochs = [row.get("epoch") if isinstance(row, dict) else None for row in rows] if isinstance(rows, list) \
            else [None]
        # one record per epoch in order, the last the checkpoint's own (a run resumed from an older version may
        # lack an earlier epoch whose records a crash cut off)
        if not all(type(e) is int for e in epochs) or epochs != sorted(set(epochs)) or epochs[-1:] != [ckpt.epoch]:
            raise ValueError(f"metrics_rows is not one record per epoch, in order, up to epoch {ckpt.epoch}")
        if not 0 <= session.best_epoch <= ckpt.epoch:
            raise ValueError(f"best epoch {session.best_epoch} is not one of epochs 0..{ckpt.epoch}")
        session.rows = rows
    else:  # a run from before the rows were kept in last.h5
        session.rows = [row for row in session.run.read_metrics() if int(row["epoch"]) <= ckpt.epoch]


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Let a file write finish before Ctrl-C takes effect (the write itself is atomic either way). Outside the
    main thread (a Ray Tune trial, a notebook's worker thread) there is no Ctrl-C to defer, and Python allows no
    signal handler there; a process that ignores Ctrl-C (started by `nohup ... &`) keeps ignoring it."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield
        return
    received: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


def metrics_row(session: Session, epoch: int, train: EpochStats, validation: EpochStats | None, test: EpochStats,
                weights: list[np.ndarray]) -> dict:
    """Every monitor of one epoch, as one metrics.csv row (`weights`: host copies, one per layer); validation
    columns only for runs that hold out a validation set."""
    row: dict = {"epoch": epoch, "lr": session.optimizer.lr, "train_loss": train.loss, "train_accuracy": train.accuracy}
    if validation is not None:
        row.update(val_loss=validation.loss, val_accuracy=validation.accuracy)
    row.update(test_loss=test.loss, test_accuracy=test.accuracy,
               train_silent_labels=train.silent_labels / max(train.samples, 1),
               test_silent_labels=test.silent_labels / max(test.samples, 1))
    for index, (name, layer_weights) in enumerate(zip(session.network.names, weights)):
        row[f"mean_spikes_{name}"] = train.mean_spikes(index)
        row[f"silent_neurons_{name}"] = train.silent_neurons(index)
        row[f"weight_norm_{name}"] = float(np.linalg.norm(layer_weights.astype(np.float64)))  # no float32 overflow
    row["epoch_seconds"] = train.seconds
    row["test_seconds"] = test.seconds
    return row


def selection_name(session: Session) -> str:
    """What best.h5 is chosen on, in words."""
    return "val" if session.validation is not None else "train"


def check_finite(session: Session, epoch: int, stats: EpochStats, weights: list[np.ndarray]) -> None:
    """Stop with a clear message when the loss or any layer's weights stopped being finite."""
    best = (f"best weights so far (epoch {session.best_epoch}, {session.best_accuracy:.2%}) are intact in "
            f"{session.run.best_path}" if session.best_epoch else "no best weights were saved yet")
    for name, layer_weights in zip(session.network.names, weights):  # first: it names the layer
        if not np.all(np.isfinite(layer_weights)):
            raise SnntrainError(f"epoch {epoch}: weights of layer {name} became non-finite; {best}")
    if not np.isfinite(stats.loss):
        raise SnntrainError(f"epoch {epoch}: the training loss became {stats.loss}; {best}")
    problem = weight_scale_problem(session.cfg, weights)
    if problem:  # what no later use of these weights would accept
        raise SnntrainError(f"epoch {epoch}: {problem}; {best}")


def silent_warning(cfg: ModelConfig, names: Sequence[str], epoch: int, train: EpochStats) -> str:
    """A warning when a layer, or output neurons, never spiked in a training epoch ("" if none). A silent output
    neuron gets no error, so no gradient, and its class can never be predicted. A silent layer before the output
    passes no spike on and no error back: the first one is named, since synaptic scaling of the output cannot help
    there."""
    for index, (name, spiked) in enumerate(zip(names[:-1], train.ever_spiked[:-1])):
        if not spiked.any():
            theta = f"lower layers[{index}].theta or " if cfg.layers[index].type != "pool" else ""
            return (f"warning: epoch {epoch}: layer {name} never spiked on the training set: no spike reaches the "
                    f"layers after it and no error the layers before; {theta}raise the initial weights up to it")
    dead = np.flatnonzero(~train.ever_spiked[-1])
    if not len(dead):
        return ""
    factor = cfg.loss.silent_label_scaling
    hint = (f"raise loss.silent_label_scaling (now {factor:g})" if factor > 0 else
            "switch on synaptic scaling with --set loss.silent_label_scaling=0.1")
    return (f"warning: epoch {epoch}: output neuron{'s' if len(dead) > 1 else ''} {', '.join(map(str, dead))} "
            f"never spiked on the training set and cannot learn; {hint}, or try another seed or init")


def time_left(seconds_per_epoch: float, epochs_left: int) -> str:
    """The epoch line's estimate of the time to the last epoch ("" after it), from this process's mean wall time
    per epoch (training, evaluation and checkpoints)."""
    if epochs_left <= 0:
        return ""
    minutes = round(seconds_per_epoch * epochs_left / 60)
    if minutes < 1:
        return "; under a minute left"
    hours, minutes = divmod(minutes, 60)
    return f"; about {hours} h {minutes:02d} min left" if hours else f"; about {minutes} min left"


def raster(session: Session) -> None:
    """Spike raster of the first test sample, every layer."""
    net, be = session.network, session.backend
    sample = np.zeros(1, np.int64)
    run_epoch(be, net, session.loss, session.test, sample, 1, session.cfg.input.classes)
    trains = [(name, be.to_host(out.times)[0], be.to_host(out.counts)[0]) for name, out in zip(net.names, net.outputs)]
    plot_raster(trains, session.run.plots_dir / "raster.png", "test sample 0")


def train_epochs(session: Session, echo: Callable[[str], None], callback: Callback) -> None:
    """Train from `session.epoch` to the configured number of epochs, checkpointing after each."""
    cfg, be = session.cfg, session.backend
    first, started = session.epoch + 1, time.monotonic()

    def runner(split: EncodedSplit, batch_size: int) -> EpochRunner:
        return EpochRunner(be, session.network, session.loss, split, batch_size, cfg.input.classes)

    # one runner per split for every epoch: its device state and captured steps serve each pass
    train_pass = runner(session.train, cfg.training.batch_size)
    validation_pass = None if session.validation is None else runner(session.validation, cfg.training.test_batch_size)
    test_pass = runner(session.test, cfg.training.test_batch_size)
    for epoch in range(first, cfg.training.epochs + 1):
        session.optimizer.lr = session.optimizer.learning_rate(epoch - 1)
        order = session.rng.permutation(session.train.size)
        if session.train_images is not None:  # drawn after the order, from the same generator: resumes repeat it
            augment_split(be, session.train, session.train_images, order, cfg.augment, cfg.input.t_window,
                          cfg.training.batch_size, session.rng)
        callback.on_epoch_begin(epoch, session.train.size)
        train = train_pass.run(order, session.optimizer, lambda stats, epoch=epoch: callback.on_batch_end(epoch, stats))
        weights = [layer.weights for layer in session.network.layers]  # one host copy per epoch, used thrice
        check_finite(session, epoch, train, weights)
        validation = None if validation_pass is None else validation_pass.run(np.arange(session.validation.size))
        test = test_pass.run(np.arange(session.test.size))
        session.rows.append(metrics_row(session, epoch, train, validation, test, weights))
        # model selection never looks at the test set: validation accuracy, or training accuracy without one
        score = (validation or train).accuracy
        improved = score > session.best_accuracy
        if improved:
            session.best_accuracy, session.best_epoch = score, epoch
        per_epoch = (time.monotonic() - started) / (epoch - first + 1)
        held = "" if validation is None else f"val loss {validation.loss:.4f} acc {validation.accuracy:.2%} | "
        line = (f"epoch {epoch}/{cfg.training.epochs}: train loss {train.loss:.4f} acc {train.accuracy:.2%} | {held}"
                f"test loss {test.loss:.4f} acc {test.accuracy:.2%} | best {selection_name(session)} "
                f"{session.best_accuracy:.2%} (epoch {session.best_epoch}) | {train.samples / train.seconds:.0f} "
                f"samples/s, {train.seconds:.1f} s{time_left(per_epoch, cfg.training.epochs - epoch)}")
        with deferred_interrupt():
            # the log line first: a crash before the records are written repeats it on resume, never loses it
            session.run.log(line)
            session.epoch = epoch
            if improved:  # waits beside best.h5 until last.h5 records its epoch (RunDir.commit_best)
                save_checkpoint(session.run.best_next_path, checkpoint(session, weights, test.accuracy, full=False))
            save_checkpoint(session.run.last_path, checkpoint(session, weights, test.accuracy, full=True))
            if improved:
                session.run.commit_best()
            session.run.write_metrics(session.rows)
        callback.on_epoch_end(epoch, session.rows[-1])
        echo(line)
        warning = silent_warning(cfg, session.network.names, epoch, train)
        if warning:
            session.run.log(warning)
            echo(warning)
    with deferred_interrupt():
        plot_curves(session.rows, session.run.plots_dir)
        plot_spike_counts(session.rows, session.run.plots_dir)
        raster(session)


def train(model: Path | ModelConfig | None, overrides: tuple[str, ...], backend: Backend, data_dir: Path,
          runs_root: Path, resume: Path | None, echo: Callable[[str], None],
          callbacks: Sequence[Callback] = (), run_name: str | None = None) -> RunDir:
    """Train a new run of `model` (a model file with `overrides`, or a resolved model), or continue the run
    directory `resume`; returns the run directory (a new one is `runs_root/<model>-<time>`, or
    `runs_root/<run_name>`).

    `echo` receives each line of the run's log as it is written; `callbacks` are told of every batch and epoch.
    """
    with ExitStack() as lock:
        if resume is not None:
            run = RunDir.open(resume)
            lock.enter_context(run.hold())
            run.remove_stale_temps()
            cfg = load_model(run.config_path, overrides)
            check_same_data(cfg, run.config_path, overrides)
            session = prepare(cfg, backend, data_dir, run)
        elif model is not None:
            cfg = model if isinstance(model, ModelConfig) else load_model(model, overrides)
            session = prepare(cfg, backend, data_dir, None)
            session.run = run = RunDir.create(runs_root, cfg.name, run_name)
            lock.enter_context(run.hold())
            run.write_config(to_toml(cfg))
        else:
            raise SnntrainError("give --model FILE.toml for a new run, or --resume runs/DIR to continue one")
        return _train_held(session, resume is not None, overrides, backend, echo, callbacks)


#: Settings that fix a run's samples: the dataset, how many of each split, the validation split, the seed (whose
#: generator last.h5 restores, so that a new value would only be recorded, not used).
DATA_KEYS = ("input.dataset", "training.train_samples", "training.test_samples", "training.validation",
             "training.seed")


def check_same_data(cfg: ModelConfig, config_path: Path, overrides: Sequence[str]) -> None:
    """UsageError when the `overrides` of a resume (giving `cfg`) change a setting of DATA_KEYS from the run's model
    file `config_path`: its records and best.h5 were chosen on those samples, which a resume must not change under
    them. The run's model is taken with the other overrides, which may be what makes it valid here (a smaller
    buffer for this machine, say)."""
    if not overrides:
        return
    writes = list(zip(overrides, written_paths(config_path, overrides)))  # (override, the key path it writes)
    touching = [o for o, path in writes if any(overlapping(path, key) for key in DATA_KEYS)]
    if not touching:
        return
    fixed = ("a run's samples (dataset, sample counts, validation split, seed) are fixed at its start, and its "
             "records and best.h5 were chosen on them: train a new run with it")
    try:
        started = load_model(config_path, [o for o in overrides if o not in touching])
    except SnntrainError:  # the run's model is valid only with a data override, which changes its samples
        raise UsageError(f"--set {touching[0]} on --resume: {fixed}") from None
    for key in DATA_KEYS:
        table, name = key.split(".")
        now, before = getattr(getattr(cfg, table), name), getattr(getattr(started, table), name)
        if now != before:
            given = [o for o, path in writes if overlapping(path, key)][-1]
            raise UsageError(f"--set {given} on --resume changes {key} from {format_value(before)} to "
                             f"{format_value(now)}; {fixed}")


def _has_records(run: RunDir) -> bool:
    """Whether `run` recorded an epoch: best.h5, or a metrics.csv with rows (or one too damaged to read)."""
    if run.best_path.exists():
        return True
    try:
        return bool(run.read_metrics())
    except SnntrainError:
        return True


def _train_held(session: Session, resumed: bool, overrides: tuple[str, ...], backend: Backend,
                echo: Callable[[str], None], callbacks: Sequence[Callback]) -> RunDir:
    """`train` once the run directory is held: restore, record the environment, train the remaining epochs."""
    run, cfg = session.run, session.cfg
    assert run is not None
    if resumed and not run.last_path.exists() and _has_records(run):
        raise SnntrainError(f"{run.last_path} is missing, but the run has recorded epochs (metrics.csv, best.h5): "
                            "resuming would train from epoch 1 over them; put last.h5 back from a copy, or train a "
                            "new run")
    if resumed and run.last_path.exists():
        restore(session)
        if cfg.training.epochs < session.epoch:  # config.toml would say fewer epochs than the records hold
            raise UsageError(f"training.epochs = {cfg.training.epochs} on --resume: the run has trained "
                             f"{session.epoch} epochs; give {session.epoch} or more")
        echo(f"resuming {run.path} after epoch {session.epoch}" if session.epoch < cfg.training.epochs else
             f"{run.path} has trained all its {cfg.training.epochs} epochs; to train on, resume it with "
             f"--set training.epochs=N (N > {cfg.training.epochs})")
    if resumed:
        run.settle_best(session.best_epoch)
    run.record_environment(backend.describe(), session.epoch)
    if resumed and overrides:
        # Keep config.toml the model being trained: a later plain `--resume` (what Ctrl-C suggests) needs them.
        run.write_config(to_toml(cfg))
    held = f", {session.validation.size} validation" if session.validation is not None else ""
    aug = cfg.augment
    deformed = (f"; training images deformed anew every epoch (elastic, sigma {aug.sigma:g} px, {aug.points} x "
                f"{aug.points} points, one draw per {aug.per})" if session.train_images is not None else "")
    echo(f"run directory: {run.path} (device {backend.name}, {session.train.size} training{held} and "
         f"{session.test.size} test samples{deformed})")
    callback = CallbackList(callbacks)
    try:
        train_epochs(session, echo, callback)
    except KeyboardInterrupt:
        done = f"last complete checkpoint: epoch {session.epoch}" if session.epoch else "no epoch completed"
        stop: SnntrainError = Interrupted(f"interrupted; {done}; resume with: snntrain train --resume {run.path}")
        _log_stop(run, stop)
        raise stop from None
    except SnntrainError as exc:  # a diverged loss, a full disk: log.txt says why the run stopped, as stderr did
        _log_stop(run, exc)
        raise
    finally:
        callback.on_train_end()
    chosen = next((row for row in session.rows if int(row["epoch"]) == session.best_epoch), {})
    echo(f"done: best.h5 is epoch {session.best_epoch} (highest {selection_name(session)} accuracy, "
         f"{session.best_accuracy:.2%}), test accuracy {float(chosen.get('test_accuracy', 'nan')):.2%}; "
         f"weights in {run.best_path}")
    return run


def _log_stop(run: RunDir, exc: SnntrainError) -> None:
    """The line that says why training stopped, appended to log.txt where it can be (a log that cannot be written
    must not hide the reason, which the caller raises)."""
    try:
        run.log(f"error: {exc}")
    except SnntrainError:
        pass


def run_finished(path: Path) -> bool:
    """Whether `path` is a run directory whose records cover every configured epoch."""
    if not (Path(path) / "config.toml").exists():
        return False
    run = RunDir.open(Path(path))
    try:
        rows = run.read_metrics()
    except SnntrainError:
        return False  # a damaged metrics.csv: the resume that follows rewrites it from last.h5
    return bool(rows) and last_epoch(rows) >= load_model(run.config_path).training.epochs


def train_named(path: Path, model: Path, overrides: tuple[str, ...], backend: Backend, data_dir: Path,
                echo: Callable[[str], None], callbacks: Sequence[Callback] = ()) -> str:
    """Bring the run directory `path` (a name a caller chose, so that it finds it again) to its last epoch: keep it
    when finished, resume it from its last.h5 when started, else train `model` with `overrides` into it. Returns
    "kept", "resumed" or "trained"."""
    path = Path(path)
    if run_finished(path):
        return "kept"
    if (path / "config.toml").exists():
        train(None, (), backend, data_dir, path.parent, path, echo, callbacks)
        return "resumed"
    if path.exists():  # a start that stopped before writing its config leaves only empty folders
        RunDir(path).remove_stale_temps()  # and the temporary file of a config.toml it was writing
        if any(p.is_file() and p.name != LOCK_NAME for p in path.rglob("*")):
            raise SnntrainError(f"{path} holds files but no config.toml: not a run started here; move it away")
        shutil.rmtree(path)
    make_dirs(path.parent)
    train(model, overrides, backend, data_dir, path.parent, None, echo, callbacks, run_name=path.name)
    return "trained"
