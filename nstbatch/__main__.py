"""``python -m nstbatch``: the same command as ``nstbatch``."""

from .cli import main

main()
