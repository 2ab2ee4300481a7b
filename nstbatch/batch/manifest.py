"""The manifest: one JSON row per input a run handled, and what made each result.

Each row records ``made_with``: everything that decides the picture (the paintings' content hashes,
the options that change it, the model's hash, the nstbatch version), but not where or how fast it ran.
A later run into the same folder compares its own ``made_with`` with the rows of the results it would
skip, so a folder of Starry Night pictures is never passed off as the Kandinsky ones just asked for.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UsageError

MANIFEST_NAME = "nstbatch-manifest.jsonl"


def append_row(path: Path, row: dict) -> None:
    # One write per row with a trailing newline, so an interrupted run leaves whole rows only.
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")


def read_rows(output_dir: Path) -> list[dict]:
    """Every whole row of the folder's manifests, oldest first within each; a torn last line is left out."""
    rows = []
    for manifest in sorted(Path(output_dir).glob("nstbatch-manifest*.jsonl")):
        for line in manifest.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def as_stored(record: dict) -> dict:
    """``record`` as it reads back from JSON (tuples become lists), so a stored record compares equal."""
    return json.loads(json.dumps(record, sort_keys=True))


def differing(previous: dict, current: dict) -> set[str]:
    """The settings whose values differ between two records (a setting only one has counts)."""
    return {k for k in set(previous) | set(current) if previous.get(k) != current.get(k)}


def check_made_with(outputs: list[Path], made_with: dict, output_dir: Path) -> None:
    """Refuse, before any work, to skip results that the manifest says were made with other settings.

    ``outputs`` are the results this run would skip because they exist. A result with no row (made
    before manifests recorded it, or the row lost to a crash right after the file was written) is
    taken as it is.
    """
    made_with = as_stored(made_with)
    latest = {}
    for row in read_rows(output_dir):
        if row.get("status") == "done" and "made_with" in row:
            latest[row.get("output")] = row["made_with"]
    stale, changed = [], set()
    for output in outputs:
        previous = latest.get(str(output))
        if previous is not None and previous != made_with:
            stale.append(output)
            changed |= differing(previous, made_with)
    if stale:
        raise UsageError(
            f"{output_dir}: {len(stale)} of the results this run would skip were made with other settings "
            f"({', '.join(sorted(changed))} differ; e.g. {stale[0]}); pass --overwrite to redo them, "
            f"or choose another --output")
