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


def write_plan(output_dir: Path, shard: Shard, jobs, found: int) -> None:
    """Record which inputs this shard was given (of ``found`` in the whole folder), so ``nstbatch status``
    can say what is still to do, even for shards that have not started."""
    plan = {"shard": [shard.index, shard.count], "found": found, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "inputs": [{"input": str(job.source), "output": str(job.output), "result": job.key} for job in jobs]}
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


def folder_status(output_dir: Path) -> tuple[list[Tally], list[str]]:
    """Per plan found in ``output_dir`` (one per shard, or one for an unsharded run), and last over all
    their inputs: what is done (a row proves its result: the file as that row wrote it, from the input
    as it is now; ``manifest.Ledger``), what failed (its latest row says so), and what is still to do.
    Also a line for each manifest line that was left out."""
    output_dir = Path(output_dir)
    plans = sorted(output_dir.glob("nstbatch-plan*.json"))
    if not plans:
        raise UsageError(f"{output_dir}: no nstbatch plan here; is it the --output of an `nstbatch run`?")
    ledger = Ledger.read(output_dir)

    def tally(name: str, entries: dict) -> Tally:
        counted = Tally(name)
        for key, source in entries.items():
            row = ledger.describing(key, output_dir / key)
            latest = ledger.latest.get(key, {})
            if row is not None and same_source(row["source"], Path(row["source"].get("path") or source)):
                counted.done += 1
            elif latest.get("status") == "failed":
                counted.failed += 1
                counted.failures.append(f"{source}: {latest.get('error')}")
            else:
                counted.todo += 1
        return counted

    tallies, everything, found = {}, {}, 0  # tallies by (N, I), so shards print in order
    for path in plans:
        try:
            plan = json.loads(path.read_text(encoding="utf-8"))
            index, count = plan["shard"]
            entries = {entry.get("result") or result_key(Path(entry["output"]), output_dir): entry["input"]
                       for entry in plan["inputs"]}
            found = max(found, int(plan.get("found", len(entries))))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise UsageError(f"{path}: damaged plan file; run the same command again to rewrite it") from None
        tallies[count, index] = tally("whole run" if count == 1 else f"shard {index}/{count}", entries)
        everything.update(entries)
    for count in {count for count, _ in tallies if count > 1}:
        for index in range(count):
            tallies.setdefault((count, index), Tally(f"shard {index}/{count}", note="not started"))
    # Over every input any plan holds, each once (a folder first run whole and then in shards included),
    # and the inputs of shards that have not started yet, counted from the folder's total.
    whole = tally("all", everything)
    whole.todo += max(0, found - len(everything))
    return ([*(tallies[key] for key in sorted(tallies)), whole] if len(tallies) > 1 else [whole]), ledger.problems
