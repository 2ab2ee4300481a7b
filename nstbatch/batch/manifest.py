"""The manifest: one JSON row per input a run handled, and the proof that a result is done.

A result counts as done only when a row proves it: the row names the result by its path relative to
the output folder (so any spelling of ``--output`` finds it), says it was made from this input (the
input's size, modification time and content hash when it was painted) with these settings
(``made_with``: the paintings' content hashes, the options that change the picture, the model's
hash, the nstbatch version; not where or how fast it ran), and records the result file as written
(its size and modification time). A result file without such a row is redone, never trusted; a
result a row says was made with other settings is refused before any work, so a folder of Starry
Night pictures is never passed off as the Kandinsky ones just asked for.

Rows are appended whole or not at all, and reading never crashes: a torn or misshapen line is left
out with one warning naming the file and the line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NstError, UsageError
from ..files import open_own, read_own
from ..records import as_stored, differing, file_sha256

MANIFEST_NAME = "nstbatch-manifest.jsonl"
STATUSES = ("done", "skipped", "failed")


class ManifestError(NstError):
    """The output folder cannot take a manifest row (no space, read-only): the run must stop."""


def stat_print(path) -> dict:
    """What a file's metadata says of it: enough to see that it is untouched since."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def source_print(path) -> dict:
    """An input as it is now: its real path, size, modification time and content hash."""
    return {"path": os.path.realpath(path), **stat_print(path), "sha256": file_sha256(path)}


def result_key(output: Path, output_dir: Path) -> str:
    """A result's name in the manifest: its path relative to the output folder, however that is spelled."""
    return Path(os.path.relpath(Path(output).absolute(), Path(output_dir).absolute())).as_posix()


def append_row(path: Path, row: dict) -> None:
    """Append one row, whole or not at all: written in one call, flushed to disk, and on any failure the
    file is cut back to where it was (ManifestError then says why). A torn line a killed run left at
    the end is closed first, so it cannot swallow this row."""
    line = (json.dumps(row, sort_keys=True) + "\n").encode("utf-8")
    try:
        fd = open_own(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    except OSError as exc:
        raise ManifestError(f"{path}: cannot write the manifest ({exc.strerror})") from None
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(28, "No space left on device")  # a short write: the disk filled up
            os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise ManifestError(f"{path}: cannot write the manifest ({exc.strerror}); the run stops here, "
                                f"with every result so far recorded") from None
    finally:
        os.close(fd)


def _shape_problem(row) -> str | None:
    """Why a parsed line is not a row this version can use, or None."""
    if not isinstance(row, dict):
        return "not a JSON object"
    for name in ("input", "output"):
        if not isinstance(row.get(name), str):
            return f"'{name}' is not a path"
    if row.get("status") not in STATUSES:
        return f"'status' is not one of {', '.join(STATUSES)}"
    for name in ("made_with", "source", "written"):
        if row.get(name) is not None and not isinstance(row[name], dict):
            return f"'{name}' is not an object"
    if row.get("result") is not None and not isinstance(row["result"], str):
        return "'result' is not a path"
    for name, fields in (("source", SOURCE_FIELDS), ("written", WRITTEN_FIELDS)):
        for key, kind in fields.items():
            value = (row.get(name) or {}).get(key)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                return f"'{name}.{key}' is not {'a whole number' if kind is int else 'text'}"
    return None


# The fields of a row's fingerprints, and their types: a row with another type in one is left out whole.
WRITTEN_FIELDS = {"size": int, "mtime_ns": int}
SOURCE_FIELDS = {"path": str, "sha256": str, **WRITTEN_FIELDS}


def read_manifests(output_dir: Path) -> tuple[list[dict], list[str]]:
    """Every usable row of the folder's manifests, oldest first within each, and a line for each line
    left out (torn by a crash, edited by hand, of another shape)."""
    rows, problems = [], []
    for manifest in sorted(Path(output_dir).glob("nstbatch-manifest*.jsonl")):
        try:
            text = read_own(manifest)
        except OSError as exc:
            problems.append(f"{manifest}: cannot be read ({exc.strerror}); its rows are left out")
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                problems.append(f"{manifest}, line {number}: not a whole JSON row (torn by a crash?); left out")
                continue
            problem = _shape_problem(row)
            if problem:
                problems.append(f"{manifest}, line {number}: {problem}; left out")
                continue
            rows.append(row)
    return rows, problems


def _ints(fingerprint) -> bool:
    return isinstance(fingerprint, dict) and all(isinstance(fingerprint.get(k), int) for k in ("size", "mtime_ns"))


@dataclass
class Ledger:
    """The rows that describe each result file, by result key."""

    rows: dict[str, list[dict]] = field(default_factory=dict)  # result key -> rows with a proof, oldest first
    latest: dict[str, dict] = field(default_factory=dict)  # result key -> its last row, whatever it says
    problems: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, output_dir: Path) -> "Ledger":
        rows, problems = read_manifests(output_dir)
        ledger = cls(problems=problems)
        for row in rows:
            if isinstance(row.get("result"), str):
                ledger.latest[row["result"]] = row
            if (row["status"] in ("done", "skipped") and isinstance(row.get("result"), str) and _ints(row.get("written"))
                    and _ints(row.get("source")) and isinstance(row["source"].get("sha256"), str)):
                ledger.rows.setdefault(row["result"], []).append(row)
        return ledger

    def describing(self, key: str, output: Path) -> dict | None:
        """The latest row that recorded ``output`` as the file is now (None: no row describes it)."""
        try:
            now = stat_print(output)
        except OSError:
            return None
        for row in reversed(self.rows.get(key, [])):
            if {k: row["written"][k] for k in ("size", "mtime_ns")} == now:
                return row
        return None


def same_source(recorded: dict, source: Path) -> dict | None:
    """The input's fingerprint now if it is the one ``recorded`` (by size and time, else by content), or None."""
    try:
        now = stat_print(source)
    except OSError:
        return None
    if now == {k: recorded[k] for k in ("size", "mtime_ns")}:
        return {**recorded, "path": os.path.realpath(source)}
    if now["size"] != recorded["size"]:
        return None
    try:
        digest = file_sha256(source)  # touched or copied alike: the content decides
    except OSError:
        return None
    return {"path": os.path.realpath(source), **now, "sha256": digest} if digest == recorded["sha256"] else None


def prove_existing(jobs, made_with: dict, output_dir: Path, ledger: Ledger, masks_of=None) -> int:
    """Decide, for each job whose result file exists (status "skipped" from discovery), whether a row
    proves it: kept as skipped, with the proof on the job for its own row; else put back to "todo".
    ``masks_of(job)``, for masks found per photo: the hashes of the job's masks now (None: missing), which
    must be the row's.

    Raises UsageError, before any work, when rows say results were made with other settings.
    Returns how many existing results are redone because nothing proves them."""
    made_with = as_stored(made_with)
    stale, changed, redone = [], set(), 0
    for job in jobs:
        if job.status != "skipped":
            continue
        row = ledger.describing(job.key, job.output)
        if row is not None and row.get("made_with") != made_with:
            stale.append(job.output)
            changed.update(differing(row.get("made_with") or {}, made_with))
            continue
        source = same_source(row["source"], job.source) if row is not None else None
        if source is not None and masks_of is not None:
            masks = masks_of(job)
            source = source if masks is not None and masks == row.get("masks") else None
            job.mask_sha256 = masks
        if source is None:
            job.status, redone = "todo", redone + 1
        else:
            job.source_print, job.written_print = source, row["written"]
            job.proof_is_latest = ledger.latest.get(job.key) is row
    if stale:
        raise UsageError(
            f"{output_dir}: {len(stale)} of the results this run would skip were made with other settings "
            f"({', '.join(sorted(changed))} differ; e.g. {stale[0]}); pass --overwrite to redo them, "
            f"or choose another --output")
    return redone
