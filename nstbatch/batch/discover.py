"""Which inputs to stylise and where each result goes.

``PATH/a/b.jpg`` becomes ``OUTPUT/a/b.png``: the input tree is mirrored, so files of the same name
in different folders never collide, and a result that already exists is skipped so a re-run resumes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .images import IMAGE_SUFFIXES

FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp", "tif16": ".tif"}


@dataclass
class Job:
    source: Path
    output: Path
    relative: str  # the source relative to the inputs root, for messages and the manifest
    status: str = "todo"  # todo | skipped | failed | done
    error: str | None = None


def output_suffix(fmt: str) -> str:
    try:
        return FORMATS[fmt.lower()]
    except KeyError:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'") from None


def walk_images(root: Path, exclude: Path | None = None) -> list[Path]:
    """Image files under ``root``, sorted, leaving out hidden entries and the output folder itself."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != exclude)
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(here / name)
    return found


def discover(inputs: Path, output_dir: Path, fmt: str = "png", overwrite: bool = False) -> list[Job]:
    """One Job per input image, already marked skipped (output exists) or failed (output collision)."""
    inputs, output_dir = Path(inputs), Path(output_dir)
    suffix = output_suffix(fmt)
    if not inputs.exists():
        raise UsageError(f"{inputs}: no such file or folder for --inputs")
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"{output_dir}: --output must be a folder, and this is a file")
    if inputs.is_file():
        # A single file named explicitly is taken whatever its suffix: it is checked when read.
        sources, root = [inputs], inputs.parent
    else:
        sources, root = walk_images(inputs, output_dir.resolve()), inputs
    jobs, claimed = [], {}
    for source in sources:
        relative = source.relative_to(root)
        job = Job(source, output_dir / relative.with_suffix(suffix), relative.as_posix())
        if job.output in claimed:
            job.status = "failed"
            job.error = f"would overwrite the result of {claimed[job.output]} ({job.output}); rename one of them"
        else:
            claimed[job.output] = job.relative
            if job.output.exists() and not overwrite:
                job.status = "skipped"
        jobs.append(job)
    return jobs
