"""The ``nstbatch`` command: one module per command, the shared options in options.py, wiring only."""

import copy
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
        _app_for(sys.argv[1:2])()
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in FULL_INSTALL_ONLY:
            raise
        print(f"error: this needs {exc.name}, which is not installed here; exported networks run without it "
              f"(run or video --model NAME or NET.onnx), everything else needs the full install: the wheel with "
              f"its dependencies, or pip install . in a clone",
              file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _app_for(first_argument: list[str]):
    """The app with only the command ``first_argument`` names, or the whole app (help, groups, a name it
    does not know, for the suggestion). Typer turns every command's signature into options on each call:
    for all of them that takes about as long as a network takes to paint a small photo."""
    chosen = [command for command in app.registered_commands
              if first_argument == [command.name or command.callback.__name__.lower().replace("_", "-")]]
    if not chosen:
        return app
    lean = copy.copy(app)
    lean.registered_commands, lean.registered_groups = chosen, []
    return lean
