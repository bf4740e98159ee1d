"""`snntrain download`."""
