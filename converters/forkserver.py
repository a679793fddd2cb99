"""``python -m converters.forkserver GROUP [TARGET]``: a warm parent (see ``_forkserver``)."""

import sys

from converters._forkserver import serve

__all__ = ["serve"]

if __name__ == "__main__":
    raise SystemExit(serve(*sys.argv[1:3]))
