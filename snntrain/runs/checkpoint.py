"""Checkpoints: a network's weights and the model that explains them, in one HDF5 file.

Layout (format version 1):
    /                   attrs: format, format_version, version, epoch, test_accuracy, seed,
                        rng_state (JSON text; last.h5 only)
    /config             string dataset: the resolved model TOML
    /                   attrs describing the network (format version 1 files written since 2026-11): dataset,
                        input_encoding, input_shape, neuron_order, time_unit, t_max, precision, t_window ...
    /layers/<name>      group, attr `index` (layer order); dataset `weights` in the spec layout (may be empty);
                        attrs describing the layer: type, weight_layout, output_shape, tau_s, theta, ...
    /optimizer/<key>    one dataset per optimiser state entry; keys with "/" become nested groups (last.h5 only)
    /extra              attrs: free-form scalars (best_accuracy, best_epoch, ...)
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from snntrain import __version__
from snntrain.errors import SnntrainError
from snntrain.atomic import atomic_write_bytes, os_reason, special_file

FORMAT = "snntrain-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """Everything saved after an epoch; `optimizer_state` and `rng_state` only in last.h5 (for `--resume`)."""

    layer_names: list[str]
    weights: list[np.ndarray]
    config_toml: str
    epoch: int
    test_accuracy: float
    seed: int
    version: str = __version__
    optimizer_state: dict[str, np.ndarray] | None = None
    rng_state: dict | None = None
    extra: dict[str, float | int | str] = field(default_factory=dict)
    # what the weights mean, as plain attributes: of the network, and of each layer (see the module docstring)
    network_attrs: dict[str, Any] = field(default_factory=dict)
    layer_attrs: list[dict[str, Any]] = field(default_factory=list)


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    """Write `ckpt` to `path` atomically: a crash mid-write leaves the previous file as it was."""
    if len(ckpt.layer_names) != len(ckpt.weights):
        raise ValueError(f"{len(ckpt.layer_names)} layer names but {len(ckpt.weights)} weight arrays")
    # HDF5 is built in memory and written in one plain write: h5py flushes lazily, and a full disk during its
    # flush ends in errors raised from destructors and a segfault; a plain write fails with one OSError.
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, version=ckpt.version,
                       epoch=int(ckpt.epoch), test_accuracy=float(ckpt.test_accuracy), seed=int(ckpt.seed))
        f.attrs.update(ckpt.network_attrs)
        f.create_dataset("config", data=ckpt.config_toml, dtype=h5py.string_dtype("utf-8"))
        layers = f.create_group("layers")
        for index, (name, weights) in enumerate(zip(ckpt.layer_names, ckpt.weights)):
            group = layers.create_group(name)
            group.attrs.update(ckpt.layer_attrs[index] if ckpt.layer_attrs else {})
            group.attrs["index"] = index
            _write_array(group, "weights", weights)
        if ckpt.optimizer_state is not None:
            optimizer = f.create_group("optimizer")
            for key, value in ckpt.optimizer_state.items():
                _write_array(optimizer, key, value)
        if ckpt.rng_state is not None:
            f.attrs["rng_state"] = json.dumps(ckpt.rng_state)
        f.create_group("extra").attrs.update(ckpt.extra)
    atomic_write_bytes(path, buffer.getvalue())


def _write_array(group: h5py.Group, name: str, value: Any) -> None:
    """Dataset `name` of `group`; arrays with elements carry HDF5's Fletcher-32 checksum, so that a flipped bit in
    the weights or the optimiser's moments is an error when read, not a wrong number (scalars and empty arrays
    cannot be chunked, which the checksum needs)."""
    array = np.asarray(value)
    group.create_dataset(name, data=array, fletcher32=bool(array.ndim and array.size))


def _scalar(value: Any) -> Any:
    """An HDF5 attribute as a plain Python value (h5py hands back numpy scalars)."""
    return value.item() if isinstance(value, np.generic) else value


def _read_datasets(group: h5py.Group) -> dict[str, np.ndarray]:
    """Every dataset under `group`, keyed by its path relative to it ("m/0"); 0-d ones as 0-d arrays."""
    out: dict[str, np.ndarray] = {}

    def visit(name: str, obj: h5py.Group | h5py.Dataset) -> None:
        if isinstance(obj, h5py.Dataset):
            out[name] = np.asarray(obj[()])

    group.visititems(visit)
    return out


def _read(f: h5py.File, path: Path) -> Checkpoint:
    if f.attrs.get("format") != FORMAT:
        raise SnntrainError(f"{path} is an HDF5 file but not an snntrain checkpoint")
    layers = sorted(f["layers"].items(), key=lambda item: int(item[1].attrs["index"]))
    weights = [group["weights"][()] for _, group in layers]
    for (name, _), array in zip(layers, weights):
        if array.dtype.kind != "f":  # what snntrain writes; integers would truncate, without a word, in any model
            raise ValueError(f"layer {name} has weights of dtype {array.dtype}, where a checkpoint holds floats")
    rng_state = f.attrs.get("rng_state")
    return Checkpoint(
        layer_names=[name for name, _ in layers],
        weights=weights,
        config_toml=f["config"].asstr()[()],
        epoch=int(f.attrs["epoch"]),
        test_accuracy=float(f.attrs["test_accuracy"]),
        seed=int(f.attrs["seed"]),
        version=str(f.attrs["version"]),
        optimizer_state=_read_datasets(f["optimizer"]) if "optimizer" in f else None,
        rng_state=json.loads(rng_state) if rng_state is not None else None,
        extra={key: _scalar(value) for key, value in f["extra"].attrs.items()},
    )


def is_checkpoint(path: Path) -> bool:
    """Whether `path` is a file that snntrain wrote as a checkpoint (its format attribute says so)."""
    if not Path(path).is_file():  # a FIFO would block the read for ever
        return False
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT
    except (OSError, RuntimeError, ValueError):  # not there, not HDF5, or damaged: no checkpoint to keep
        return False


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint; SnntrainError naming the file when it is missing, truncated or not a checkpoint."""
    path = Path(path)
    if not path.exists():
        raise SnntrainError(f"checkpoint {path} does not exist")
    if special_file(path):
        raise SnntrainError(f"checkpoint {path} is {'a directory' if path.is_dir() else 'not a regular file'}")
    try:
        with h5py.File(path, "r") as f:
            return _read(f, path)
    except OSError as exc:
        # h5py sets errno for system errors (a directory, no permission); a cut-off or foreign file has none, and
        # data whose checksum (`_write_array`) does not match fails in the filter.
        reason = (os_reason(exc) if exc.errno else "its data does not match its checksum (damaged)"
                  if "filter returned failure" in str(exc) else "not a complete HDF5 file (truncated or corrupt?)")
        raise SnntrainError(f"cannot read checkpoint {path}: {reason}") from None
    except (KeyError, ValueError, TypeError, AttributeError, RuntimeError, MemoryError) as exc:
        # json.JSONDecodeError is a ValueError; a missing group or attribute is a KeyError; a dataset where a group
        # belongs (or the reverse) lacks the other's methods; HDF5's damaged internal structures are RuntimeErrors
        # (as is RecursionError, of JSON nested past Python's limit); a weights dataset declared larger than
        # memory: from an edited or damaged file.
        raise SnntrainError(f"{path} is not a valid snntrain checkpoint ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else 'no details'})") from None
