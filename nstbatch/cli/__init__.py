"""The ``nstbatch`` command: one module per command, the shared options in options.py, wiring only."""

# Each module registers its command on the app; the order here is the order of `nstbatch --help`.
from . import run, video, train, single, export, info, status  # noqa: F401, I001
from .app import app

__all__ = ["app"]
