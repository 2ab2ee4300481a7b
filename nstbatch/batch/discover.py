"""Which inputs to stylise and where each result goes.

``PATH/a/b.jpg`` becomes ``OUTPUT/a/b.png``: the input tree is mirrored, so files of the same name
in different folders never collide. A result that already exists is marked skipped here, and kept
so only if the manifest proves it (``manifest.prove_existing``), so a re-run resumes.

Folder links inside the inputs are followed, each real folder once (so a link loop ends), and the
output folder is never walked: results are never read back as inputs nor written over them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..files import inside
from ..media.images import walk_images

FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp", "tif16": ".tif"}


@dataclass
class Job:
    source: Path
    output: Path
    relative: str  # the source relative to the inputs root, for messages and the manifest
    status: str = "todo"  # todo | skipped | failed | done
    error: str | None = None
    key: str = ""  # the result's path relative to the output folder: its name in the manifest
    source_print: dict | None = None  # the input as it was painted (or proven unchanged since): manifest.source_print
    written_print: dict | None = None  # the result file as written: manifest.stat_print
    masks: object = None  # its region masks at the working size (regions.PaintedRegions.masks), once read
    mask_sha256: list | None = None  # the hashes of the mask files it was painted with, for its row
    warning: str | None = None  # painted, but not quite as asked (a mask missing, --missing-mask unmasked)
    proof_is_latest: bool = False  # skipped, and the row that proves it is its latest: a re-run adds no row


def output_suffix(fmt: str) -> str:
    try:
        return FORMATS[fmt.lower()]
    except KeyError:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'") from None


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
        if inputs.resolve() == output_dir.resolve():
            raise UsageError(f"{output_dir}: --output is the --inputs folder, so results would be read back as "
                             f"photos and could replace them; choose another folder for --output")
        sources, root = walk_images(inputs, output_dir.resolve()), inputs
    real_sources = {source.resolve(): source for source in sources}
    jobs, claimed = [], {}
    for source in sources:
        relative = source.relative_to(root)
        result = relative.with_suffix(suffix)
        output = output_dir / result
        replaced = real_sources.get(output.resolve())
        if replaced is not None:
            raise UsageError(f"{output}: the result of {source} would replace the input {replaced}; "
                             f"choose another --output")
        job = Job(source, output, relative.as_posix(), key=result.as_posix())
        if not inside(output.parent, output_dir):  # a link planted inside --output, leading out of it
            job.status = "failed"
            job.error = (f"{output.parent} is a link leading out of the output folder; nstbatch writes results only "
                         f"inside it: remove the link")
        elif job.output in claimed:
            job.status = "failed"
            job.error = f"would overwrite the result of {claimed[job.output]} ({job.output}); rename one of them"
        else:
            claimed[job.output] = job.relative
            if job.output.exists() and not overwrite:
                job.status = "skipped"
        jobs.append(job)
    return jobs
