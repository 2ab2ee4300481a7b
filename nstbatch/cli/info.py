"""`nstbatch info`: versions, devices, providers that really load, where files live."""

from __future__ import annotations

import typer

from .app import app


@app.command()
def info():
    """Versions, devices, which onnxruntime providers really load, where weights and caches live."""
    from ..runtime.info import collect

    for section, rows in collect().items():
        typer.echo(f"{section}:")
        for key, value in rows.items():
            typer.echo(f"  {key:<22} {value}")


