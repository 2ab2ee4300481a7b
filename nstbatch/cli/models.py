"""`nstbatch models`: the trained networks a name reaches (those the package carries, then yours), and
`nstbatch models add FILE` to make one of yours reachable by name."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import NstError, UsageError
from .app import models_app
from .options import fail


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context):
    """The models `--model NAME` reaches: name, paintings (the names --style-blend and --region take), what
    each can do, its size and where it lives; bundled ones first, then yours."""
    if ctx.invoked_subcommand is not None:
        return
    from ..network.model_file import named_models, user_models

    for model in named_models():
        typer.echo(_lines(model))
    typer.echo(f"yours go in {user_models()} (or $NSTBATCH_MODELS): `nstbatch models add FILE` puts one there")


def _lines(model) -> str:
    """One model as `models` lists it; a file that cannot be read is said, not a traceback."""
    from ..network.model_file import describe, int8_copy

    try:
        described, copy = describe(model.path), int8_copy(model.path)
    except NstError as exc:
        return f"{model.name} ({model.where}): cannot be read: {exc}"
    if described.universal:
        can = ["any painting (--style), a blend, regions, a strength"]
    else:
        can = [f"a blend of its {len(described.style_names)} paintings" if len(described.style_names) > 1
               else "its painting"]
    if described.style_map:
        can.append("regions in one pass")
    if described.training.get("temporal_weight"):
        can.append("steady on video")
    if copy:
        can.append("an int8 copy for CPUs")
    size = model.path.stat().st_size / 2**20
    return "\n".join([f"{model.name} ({model.where}, {size:.1f} MiB)",
                      f"  paintings  {', '.join(described.style_names) or 'any, given with --style'}",
                      f"  paints     {'; '.join(can)}",
                      f"  file       {model.path} ({described.description})"])


@models_app.command("add")
def add(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="An .onnx from `nstbatch export model`, or a checkpoint.")],
    name: Annotated[Optional[str], typer.Option(metavar="NAME", help="The name --model will take.", show_default="the file's stem, or its folder's for model.*")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", metavar="", help="Replace a model of yours of that name.")] = False,
):
    """Copy a trained network into your models folder, so `--model NAME` finds it from any folder."""
    from ..atomic import atomic_path
    from ..network.model_file import describe, int8_copy, int8_path, named_models, user_models

    try:
        described = describe(file)  # refuses what is not a styliser, naming the file
        name = name or (file.parent.name if file.stem == "model" else file.stem)
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise UsageError(f"--name {name!r}: a name is one word without a path, e.g. --name my_painting")
        taken = next((model for model in named_models() if model.name == name), None)
        if taken is not None and (taken.where == "bundled" or not overwrite):
            fix = "choose another --name" if taken.where == "bundled" else "--overwrite replaces it, or choose another --name"
            raise UsageError(f"{name}: there is a model of that name already ({taken.where}: {taken.path}); {fix}")
        folder = user_models()
        target = folder / f"{name}{described.path.suffix.lower()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                shutil.copyfile(described.path, tmp)
            copy, target_copy = int8_copy(described.path), int8_path(target)
            if copy:  # its int8 copy goes with it, still a copy of the same file
                with atomic_path(target_copy) as tmp:
                    shutil.copyfile(copy, tmp)
            elif target_copy.is_file():
                target_copy.unlink()  # the copy of a model of yours this one replaces
            if taken is not None and taken.path != target:
                taken.path.unlink()  # the one replaced, under another suffix or in a folder of its own
        except OSError as exc:
            raise UsageError(f"{folder}: cannot add the model there ({exc.strerror or exc}); set $NSTBATCH_MODELS to a "
                             f"folder you can write") from None
    except NstError as exc:
        fail(exc)
    with_copy = " (with its int8 copy, which it paints with on a CPU)" if copy else ""
    typer.echo(f"added {name} ({', '.join(described.style_names)}) as {target}{with_copy}: --model {name} paints "
               f"with it")
