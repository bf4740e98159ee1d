"""snntrain: train spiking neural networks with exact event-based gradients (BATS)."""

__version__ = "0.1.0"
