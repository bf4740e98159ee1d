"""`snntrain bench`."""
