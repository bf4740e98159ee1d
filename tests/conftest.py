"""Test-session setup shared by every test module."""
import os

# CUDA kernels run on numba's simulator unless the caller asks for a real GPU (NUMBA_ENABLE_CUDASIM=0).
# Must be set before numba is first imported.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
