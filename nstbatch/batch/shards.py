"""Splitting one folder's batch over independent processes, and the state of a folder they share.

``--shard I/N`` takes every N-th input from the I-th on, in the walk's order (the same in every
process), so N processes started with no coordination at all (a Slurm job array, a Kubernetes
indexed Job, N terminals) cover the folder exactly once on a shared filesystem. No two processes
ever write one file: each shard has its own manifest and its own plan (the inputs it was given,
written before any work), and ``folder_status`` merges them.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import atomic_path
from ..errors import UsageError
from ..files import read_own
from ..records import file_sha256
from .manifest import MANIFEST_NAME, Ledger, result_key, same_source

PLAN_NAME = "nstbatch-plan.json"


@dataclass(frozen=True)
class Shard:
    index: int  # I, from 0
    count: int  # N

    @property
    def suffix(self) -> str:
        return "" if self.count == 1 else f".shard-{self.index}-of-{self.count}"

    @property
    def manifest_name(self) -> str:
        return MANIFEST_NAME.replace(".jsonl", f"{self.suffix}.jsonl")

    @property
    def plan_name(self) -> str:
        return PLAN_NAME.replace(".json", f"{self.suffix}.json")

    def take(self, items: list) -> list:
        return items[self.index::self.count]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Shard(0, 1)


def parse_shard(text: str | None) -> Shard:
    """``I/N`` with 0 <= I < N, as ``--shard`` takes it; None is the whole batch."""
    if text is None:
        return WHOLE
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise UsageError(f"--shard must be I/N with 0 <= I < N (e.g. $SLURM_ARRAY_TASK_ID/4), not '{text}'")
    return Shard(int(match[1]), int(match[2]))


def write_plan(output_dir: Path, shard: Shard, jobs, found: int, mask_files=None) -> None:
    """Record which inputs this shard was given (of ``found`` in the whole folder), so ``nstbatch status``
    can say what is still to do, even for shards that have not started. ``mask_files(job)``, with masks
    found per photo: the job's mask files (None: missing), which status hashes as part of the proof."""
    def entry(job) -> dict:
        masks = {} if mask_files is None else {"masks": mask_files(job)}
        return {"input": str(job.source), "output": str(job.output), "result": job.key, **masks}

    plan = {"shard": [shard.index, shard.count], "found": found, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "inputs": [entry(job) for job in jobs]}
    with atomic_path(Path(output_dir) / shard.plan_name) as tmp:
        tmp.write_text(json.dumps(plan, indent=1), encoding="utf-8")


@dataclass
class Tally:
    name: str  # "shard 0/4", "whole run", or "all"
    done: int = 0
    failed: int = 0
    todo: int = 0
    failures: list[str] = field(default_factory=list)  # "input: reason"
    note: str = ""  # instead of the counts, for a shard with no plan yet

    @property
    def total(self) -> int:
        return self.done + self.failed + self.todo

    def line(self) -> str:
        if self.note:
            return f"{self.name}: {self.note}"
        return f"{self.name}: {self.done} done, {self.failed} failed, {self.todo} to do (of {self.total})"


MAX_SHARDS = 100_000  # more shards than this in a plan is a damaged plan, not a cluster


def read_plan(path: Path, output_dir: Path) -> tuple[int, int, int, dict[str, dict]]:
    """A plan file as (shard index, shard count, inputs found, {result key: entry}); a ValueError saying
    which field is misshapen (status then leaves the plan out with one line)."""
    plan = json.loads(read_own(path))
    if not isinstance(plan, dict):
        raise ValueError("not a JSON object")
    shard = plan.get("shard")
    if not (isinstance(shard, list) and len(shard) == 2 and all(type(n) is int for n in shard)
            and 0 <= shard[0] < shard[1] <= MAX_SHARDS):
        raise ValueError(f"'shard' is not [I, N] with 0 <= I < N <= {MAX_SHARDS:,}")
    inputs = plan.get("inputs")
    if not isinstance(inputs, list):
        raise ValueError("'inputs' is not a list")
    entries = {}
    for number, entry in enumerate(inputs, 1):
        if not (isinstance(entry, dict) and isinstance(entry.get("input"), str)
                and isinstance(entry.get("result", entry.get("output")), str)):
            raise ValueError(f"input {number} has no 'input' and 'result' paths")
        masks = entry.get("masks")
        if masks is not None and not (isinstance(masks, list) and all(isinstance(m, str) for m in masks)):
            raise ValueError(f"input {number}: 'masks' is not a list of paths")
        entries[entry.get("result") or result_key(Path(entry["output"]), output_dir)] = entry
    found = plan.get("found", len(entries))
    if type(found) is not int or found < 0:
        raise ValueError("'found' is not a count")
    return shard[0], shard[1], found, entries


def _masks_now(entry: dict) -> list[str] | None:
    """The hashes of an input's mask files as they are now (None: one is unreadable); none listed (a
    mask missing when the plan was written) is no masks, as a photo painted without regions records."""
    if entry["masks"] is None:
        return []
    try:
        return [file_sha256(path) for path in entry["masks"]]
    except (OSError, TypeError):
        return None


def folder_status(output_dir: Path) -> tuple[list[Tally], list[str]]:
    """Per plan found in ``output_dir`` (one per shard, or one for an unsharded run), and last over all
    their inputs: what is done (a row proves its result: the file as that row wrote it, from the input
    as it is now, with the masks it was painted with; ``manifest.Ledger``), what failed (its latest row
    says so, even where an older row proved a result), and what is still to do. Also a line for each
    manifest line or plan that was left out."""
    output_dir = Path(output_dir)
    plans = sorted(output_dir.glob("nstbatch-plan*.json"))
    if not plans:
        raise UsageError(f"{output_dir}: no nstbatch plan here; is it the --output of an `nstbatch run`?")
    ledger = Ledger.read(output_dir)
    problems = list(ledger.problems)

    def tally(name: str, entries: dict) -> Tally:
        counted = Tally(name)
        for key, entry in entries.items():
            row = ledger.describing(key, output_dir / key)
            latest = ledger.latest.get(key, {})
            proven = (row is not None and latest.get("status") != "failed"
                      and same_source(row["source"], Path(row["source"].get("path") or entry["input"])) is not None
                      and ("masks" not in entry or _masks_now(entry) == row.get("masks")))
            if proven:
                counted.done += 1
            elif latest.get("status") == "failed":
                counted.failed += 1
                counted.failures.append(f"{entry['input']}: {latest.get('error')}")
            else:
                counted.todo += 1
        return counted

    tallies, everything, found = {}, {}, 0  # tallies by (N, I), so shards print in order
    for path in plans:
        try:
            index, count, plan_found, entries = read_plan(path, output_dir)
        except OSError as exc:
            problems.append(f"{path}: cannot be read ({exc.strerror or exc}); left out")
            continue
        except ValueError as exc:
            problems.append(f"{path}: damaged plan file ({str(exc)[:200]}); left out: run the same command again "
                            f"to rewrite it")
            continue
        found = max(found, plan_found)
        tallies[count, index] = tally("whole run" if count == 1 else f"shard {index}/{count}", entries)
        everything.update(entries)
    if not tallies:
        raise UsageError(f"{output_dir}: no usable nstbatch plan here ({len(plans)} damaged); run the same command "
                         f"again to rewrite it")
    for count in {count for count, _ in tallies if count > 1}:
        started = {index for c, index in tallies if c == count}
        if count - len(started) > 20:  # one line for many, not a line (and a tally) each
            tallies[count, -1] = Tally(f"shards of {count}", note=f"{count - len(started):,} not started")
            continue
        for index in range(count):
            tallies.setdefault((count, index), Tally(f"shard {index}/{count}", note="not started"))
    # Over every input any plan holds, each once (a folder first run whole and then in shards included),
    # and the inputs of shards that have not started yet, counted from the folder's total.
    whole = tally("all", everything)
    whole.todo += max(0, found - len(everything))
    return ([*(tallies[key] for key in sorted(tallies)), whole] if len(tallies) > 1 else [whole]), problems
