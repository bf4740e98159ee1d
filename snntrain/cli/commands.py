"""Registers every command module on the `main` group (each adds its commands with @main.command())."""
from snntrain.cli import bench, convergence, download, nir, reproduce, show, sweep, train  # noqa: F401
