"""`snntrain convergence`."""
