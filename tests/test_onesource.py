"""The one-source compiler's bookkeeping: the compile order is computed from the calls, not kept by hand."""
from __future__ import annotations

import pytest

from snntrain.kernels import ENTRY_POINTS, FUNCTIONS, lif
from snntrain.kernels.onesource import compile_order


def _callees(fn, names):
    return {name for name in fn.__code__.co_names if name in names and name != fn.__name__}


def test_every_function_comes_after_what_it_calls():
    names = {fn.__name__ for fn in FUNCTIONS}
    seen: set[str] = set()
    for fn in FUNCTIONS:
        assert _callees(fn, names) <= seen, fn.__name__
        seen.add(fn.__name__)
    assert set(ENTRY_POINTS) <= set(FUNCTIONS) and len(names) == len(FUNCTIONS)
    assert lif.emit_spikes in FUNCTIONS and lif.first_crossing in FUNCTIONS  # helpers found without a list


def test_order_does_not_depend_on_the_order_given():
    assert compile_order(reversed(FUNCTIONS)) == compile_order(FUNCTIONS)


def ping(i):
    return pong(i)


def pong(i):
    return ping(i)


def test_recursion_and_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="recursive math functions: .*ping -> pong -> ping|pong -> ping -> pong"):
        compile_order([ping, pong])
    other_ping = type(pong)(pong.__code__, {}, "ping")  # another function that is also named ping
    with pytest.raises(ValueError, match="two math functions named ping"):
        compile_order([ping, other_ping])
