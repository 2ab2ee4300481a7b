"""`nstbatch info`: versions, devices, providers that really load, where files live; or what a model holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import NstError
from .app import app
from .options import fail


@app.command(short_help="Versions, devices, providers that load, where files live; or what a model holds.")
def info(
    model: Annotated[Optional[Path], typer.Option("--model", "-m", metavar="NAME|FILE", help="Describe this styliser (a name, .onnx or checkpoint) instead.")] = None,
):
    """Versions, devices, which onnxruntime providers really load, where weights and caches live."""
    from .report import collect, describe_model

    try:
        sections = describe_model(model) if model is not None else collect()
    except NstError as exc:
        fail(exc)
    for section, rows in sections.items():
        typer.echo(f"{section}:")
        for key, value in rows.items():
            typer.echo(f"  {key:<22} {value}")
