"""The CPU compile cache: later processes load the compiled kernels, and no cache state changes a number."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import snntrain.kernels
from snntrain.backends import compile_cache

# A fresh process: a dense layer forward and backward in float64; prints the results' bytes hashed, and how many
# launchers numba loaded from the cache and how many it compiled.
PROBE = """
import hashlib, numpy as np
from snntrain.backends import get_backend
from snntrain.network.dense import DenseLayer, LifParams
from snntrain.network.spikes import SpikeTrains
be = get_backend("cpu")
rng = np.random.default_rng(0)
t = np.sort(rng.uniform(0, 0.1, (3, 6, 2)), axis=2)
layer = DenseLayer(be, rng.uniform(-1, 4, (5, 6)), LifParams(0.05, 0.2, 0.2, 4), 0.3, np.float64)
out = layer.forward(SpikeTrains(t, np.full((3, 6), 2, np.int32)))
err_in = layer.backward(np.where(np.isfinite(out.times), 1.0, 0.0))
digest = hashlib.sha256(out.times.tobytes() + err_in.tobytes() + layer.gradient.tobytes()).hexdigest()
launchers = [l for l in be._launchers.values() if hasattr(l, "launch")]
hits = sum(sum(l.launch.stats.cache_hits.values()) for l in launchers)
misses = sum(sum(l.launch.stats.cache_misses.values()) for l in launchers)
print(digest, hits, misses, int(out.counts.sum()))
"""


def probe(cache: Path | str) -> tuple[str, int, int]:
    env = dict(os.environ, SNNTRAIN_CACHE_DIR=str(cache))
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    digest, hits, misses, spikes = done.stdout.split()
    assert int(spikes) > 0
    return digest, int(hits), int(misses)


def test_second_process_loads_and_a_corrupt_cache_recompiles_with_the_same_numbers(tmp_path):
    reference, _, _ = probe("off")  # no cache at all
    first = probe(tmp_path)
    assert first[0] == reference and first[1] == 0 and first[2] > 0  # compiled and stored
    second = probe(tmp_path)
    assert second[0] == reference and second[1] > 0 and second[2] == 0  # loaded, nothing compiled
    entries = list(tmp_path.glob("launchers-*/__pycache__/*.nb*"))
    assert entries
    for path in entries:  # truncate or scramble every stored entry
        path.write_bytes(b"" if path.suffix == ".nbi" else os.urandom(64))
    third = probe(tmp_path)
    assert third[0] == reference and third[2] > 0


def test_unwritable_or_switched_off_cache_means_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(compile_cache.CACHE_ENV, "off")
    assert compile_cache.cache_root() is None
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(blocker / "cache"))
    assert compile_cache.cache_root() is None
    monkeypatch.setenv(compile_cache.CACHE_ENV, str(tmp_path / "cache"))
    assert compile_cache.cache_root() == tmp_path / "cache"


def test_key_changes_with_any_kernel_source_and_with_numba(tmp_path, monkeypatch):
    """numba checks only the launcher's own file; the folder key must change when any math it calls changes."""
    copy = tmp_path / "kernels"
    shutil.copytree(Path(snntrain.kernels.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(snntrain.kernels, "__file__", str(copy / "__init__.py"))
    key = compile_cache.cache_key()
    assert key == compile_cache.cache_key()
    lif = copy / "lif.py"
    lif.write_text(lif.read_text() + "\n# a changed comment is a changed source\n")
    changed = compile_cache.cache_key()
    assert changed != key
    monkeypatch.setattr(compile_cache.numba, "__version__", "0.0.0")
    assert compile_cache.cache_key() != changed
