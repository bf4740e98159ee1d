"""`snntrain train`."""
