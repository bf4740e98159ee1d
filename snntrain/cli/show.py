"""`snntrain show`."""
