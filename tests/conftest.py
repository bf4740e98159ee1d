"""Test-session setup shared by every test module."""
import os

# CUDA kernels run on numba's simulator unless the caller asks for a real GPU (NUMBA_ENABLE_CUDASIM=0).
# Must be set before numba is first imported.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
# Every replayed step (snntrain.backends.graphs) is checked against its own Python, launch by launch.
os.environ.setdefault("SNNTRAIN_VERIFY_GRAPHS", "1")
