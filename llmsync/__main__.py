"""``python -m llmsync``: the same as the ``llmsync`` console script."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
