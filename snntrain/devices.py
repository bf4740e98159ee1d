"""The devices a command may run on, named once for the command line and the backends (numba-free, import-free:
the command line's help must not load the engine, nor the backends the configuration)."""

#: "auto" is CUDA when a real GPU is present, else the CPU.
DEVICES = ("auto", "cpu", "cuda")
