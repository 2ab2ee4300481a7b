"""nstbatch's version: a module of its own, so reading it loads nothing else."""

__version__ = "0.1.0"
