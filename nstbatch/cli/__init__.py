"""The ``nstbatch`` command: one module per command, the shared options in options.py, wiring only."""

import sys

# Each module registers its command on the app; the order here is the order of `nstbatch --help`.
from . import run, video, train, reconstruct_texture, export, models, info, status  # noqa: F401, I001
from .app import app
from ..errors import EXIT_USAGE

__all__ = ["app", "main"]

FULL_INSTALL_ONLY = ("torch", "torchvision", "triton", "onnx")  # what a network worker may lack


def main() -> None:
    """The installed ``nstbatch`` command: the app, with one line instead of a traceback where a command
    needs torch (or onnx, to export) and the install has none: a network worker's."""
    try:
        app()
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in FULL_INSTALL_ONLY:
            raise
        print(f"error: this needs {exc.name}, which is not installed here; exported networks run without it "
              f"(run or video --model NAME or NET.onnx), everything else needs the full install: the wheel with "
              f"its dependencies, or pip install . in a clone",
              file=sys.stderr)
        sys.exit(EXIT_USAGE)
