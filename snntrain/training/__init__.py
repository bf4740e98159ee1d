"""Training and evaluation: the loop that ties config, data, network and runs together."""
