"""The root typer app and its sub-apps; the commands live one per module beside it."""

from __future__ import annotations

from typing import Annotated

import typer

from ..version import __version__

app = typer.Typer(
    help="Neural style transfer (Gatys et al.) for folders of photos and videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

def _version(value: bool):
    if value:
        typer.echo(f"nstbatch {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, metavar="",
                                          help="Print the version and exit.")] = False,
):
    """Stylise photos with the look of a painting: `nstbatch run --inputs photos/ --style painting.jpg`."""



export_app = typer.Typer(help="Export VGG-19 or a trained network to ONNX.", no_args_is_help=True)
app.add_typer(export_app, name="export")

models_app = typer.Typer(help="The trained networks --model NAME reaches; add your own.")
app.add_typer(models_app, name="models")
