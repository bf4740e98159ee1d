"""Kernel calls by name (`backend.kernels.NAME(total, arg=...)`): keyword-only, generated from the math, and the
precision of precision kernels read from, and checked against, their arguments."""
from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest

from snntrain.backends import get_backend
from snntrain.backends.calls import ENTRIES, PRECISION_KERNELS
from snntrain.backends.profile import launch_hook

ROOT = Path(__file__).resolve().parents[1]


def exp_args(dtype=np.float32, **change):
    t = np.array([0.05, 0.5, np.inf], dtype)
    args = dict(t=t, tau_s=np.dtype(dtype).type(0.1), e1=np.empty(3, dtype), e2=np.empty(3, dtype),
                fr=np.empty(3, np.int32))
    args.update(change)
    return args


def test_every_entry_point_has_a_keyword_only_call_with_the_math_functions_parameters():
    kernels = get_backend("cpu").kernels
    for name, fn in ENTRIES.items():
        params = list(inspect.signature(getattr(kernels, name)).parameters.values())
        assert params[0].name == "total" and params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert [p.name for p in params[1:]] == list(inspect.signature(fn).parameters)[1:]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:]), name


def test_missing_unknown_and_positional_arguments_are_errors_before_anything_runs():
    kernels = get_backend("cpu").kernels
    args = exp_args()
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'fr'"):
        kernels.exp_factors(3, **{k: v for k, v in args.items() if k != "fr"})
    with pytest.raises(TypeError, match="unexpected keyword argument 'frames'"):
        kernels.exp_factors(3, **args, frames=args["fr"])
    with pytest.raises(TypeError, match="positional argument"):
        kernels.exp_factors(3, *args.values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_precision_is_read_from_the_arguments(dtype):
    be = get_backend("cpu")
    be._launchers.pop(("exp_factors", np.dtype(dtype).name), None)
    args = exp_args(dtype)
    be.kernels.exp_factors(3, **args)
    assert ("exp_factors", np.dtype(dtype).name) in be._launchers  # compiled for, and run in, that precision
    np.testing.assert_allclose(args["e1"][:2], np.exp(args["t"][:2].astype(np.float64) / 0.1), rtol=1e-6)
    assert args["e1"][2] == 0.0 and list(args["fr"]) == [0, 0, 0]


def test_mixed_precisions_and_python_floats_are_refused():
    kernels = get_backend("cpu").kernels
    with pytest.raises(TypeError, match="exp_factors: tau_s is float64 but t is float32"):
        kernels.exp_factors(3, **exp_args(tau_s=np.float64(0.1)))
    with pytest.raises(TypeError, match="exp_factors: e2 is float64 but t is float32"):
        kernels.exp_factors(3, **exp_args(e2=np.empty(3)))
    with pytest.raises(TypeError, match="exp_factors: tau_s is a Python float"):
        kernels.exp_factors(3, **exp_args(tau_s=0.1))
    assert "exp_factors" in PRECISION_KERNELS


def test_kernels_that_do_not_depend_on_the_precision_take_any_arguments():
    counts, totals = np.ones((2, 3), np.int32), np.zeros(3, np.int64)
    get_backend("cpu").kernels.add_spike_counts(3, counts=counts, totals=totals)
    assert list(totals) == [2, 2, 2]


def test_calls_go_through_launch_so_a_hook_sees_them():
    be = get_backend("cpu")
    seen = []

    def around(launch, name, total, *args):
        seen.append((name, total, len(args)))
        launch(name, total, *args)

    with launch_hook(be, around):
        be.kernels.exp_factors(3, **exp_args())
    assert seen == [("exp_factors", 3, 5)]


def test_layers_and_training_call_kernels_by_name():
    """Only the backends (and the benchmark's timing hook) use the positional `launch(name, ...)`."""
    allowed = {ROOT / "snntrain" / "training" / "bench.py"}
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "snntrain").rglob("*.py")
                 if "backends" not in path.parts and path not in allowed
                 and re.search(r"\.launch\(\s*[\"'a-z_]", path.read_text(encoding="utf-8"))]
    assert offenders == []


SPIN_PROBE = """
import json
import os
from pathlib import Path
import numba

def gomp():
    return "libgomp" in Path("/proc/self/maps").read_text()

from snntrain.backends import set_threads
before = gomp(), os.environ.get("GOMP_SPINCOUNT")
set_threads(1)  # as a Ray worker does first: it loads libgomp
print(json.dumps([*before, numba.threading_layer(), gomp()]))
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/self/maps (Linux)")
@pytest.mark.parametrize("given, want", [({}, "1000"), ({"GOMP_SPINCOUNT": "7"}, "7"),
                                         ({"OMP_WAIT_POLICY": "active"}, None)])
def test_openmp_threads_spin_briefly_unless_the_user_says(given, want):
    """(Before: libgomp's 300,000 rounds; `make train` beside another training took 57-133 s instead of 15 s.) The
    setting is in place before libgomp loads, also where set_threads loads it first (a Ray worker; the review caught
    the first version setting it too late there), and a count or wait policy the user gave is kept."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", SPIN_PROBE], capture_output=True, text=True, env={**env, **given},
                         check=True)
    loaded_before, setting, layer, loaded_after = json.loads(out.stdout)
    assert not loaded_before and setting == want
    assert loaded_after == (layer == "omp")  # where numba runs on libgomp, it loaded after the setting
