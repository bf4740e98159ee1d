"""Registers every command module on the `main` group."""
from snntrain.cli import main

# Each module adds its own commands with @main.command().
