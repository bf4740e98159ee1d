"""Allow `python -m snntrain`."""
from snntrain.cli import main

main()
