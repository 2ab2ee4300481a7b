"""`nstbatch status`: what a folder of results holds, merged over every shard that wrote to it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import EXIT_FAILED, EXIT_OK, NstError
from .app import app
from .options import fail


@app.command(short_help="Done, failed and to do in an output folder; exit 0 when all is done.")
def status(
    output: Annotated[Path, typer.Argument(help="The --output folder of `nstbatch run` (with or without --shard).")],
):
    """Done, failed and still to do, per shard and in all; exit 0 only when everything is done."""
    from ..batch.shards import folder_status

    try:
        tallies, problems = folder_status(output)
    except NstError as exc:
        fail(exc)
    for problem in problems:
        typer.echo(f"warning: {problem}", err=True)
    for tally in tallies:
        typer.echo(tally.line())
    everything = tallies[-1]
    for failure in everything.failures:
        typer.echo(f"failed: {failure}")
    raise typer.Exit(EXIT_OK if everything.done == everything.total else EXIT_FAILED)
