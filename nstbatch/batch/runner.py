"""Running a batch: each input stylised, written atomically, recorded in the manifest, and summed up.

A bad input costs its own result and nothing else: the batch goes on, the failure is one line
naming the file and the reason, and the exit code says something failed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EXIT_FAILED, EXIT_OK, ImageError
from ..runtime.stylize import Step
from ..runtime.transfer import StyleTransfer
from .discover import Job
from .images import load_image, save_image
from .progress import QuietReporter

MANIFEST_NAME = "nstbatch-manifest.jsonl"


@dataclass
class Settings:
    size: int  # longest side of each result
    max_pixels: int | None
    init: object = None  # None (the options' init), or a 1x3xHxW tensor from --init FILE
    save_every: int = 0  # write a snapshot every K iterations; 0 for none
    record: dict = field(default_factory=dict)  # the options as the user gave them, for the manifest


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed else EXIT_OK

    def line(self) -> str:
        return f"{self.done} done, {self.skipped} skipped (already there), {self.failed} failed"


def snapshot_path(output: Path, iteration: int) -> Path:
    return output.with_name(f"{output.stem}.iter{iteration:04d}{output.suffix}")


def _append_manifest(path: Path, row: dict) -> None:
    # One write per row with a trailing newline, so an interrupted run leaves whole rows only.
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")


def run_batch(jobs: list[Job], engine: StyleTransfer, settings: Settings, output_dir: Path, reporter=None) -> Summary:
    reporter = reporter or QuietReporter()
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest = output_dir / MANIFEST_NAME
    summary = Summary()
    reporter.start_batch(len(jobs))
    for job in jobs:
        started = time.perf_counter()
        losses = None
        if job.status == "todo":
            reporter.start_item(job.relative, engine.options.iterations)
            try:
                losses = _stylise_one(job, engine, settings, reporter)
                job.status = "done"
            except ImageError as exc:
                job.status, job.error = "failed", exc.reason
            except (RuntimeError, FloatingPointError, OSError, ValueError) as exc:
                # Out of memory, a full disk, a diverging objective: this file fails, the batch goes on.
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
        if job.status == "failed":
            summary.failed += 1
            summary.failures.append(f"{job.source}: {job.error}")
            reporter.message(f"error: {job.source}: {job.error}")
        elif job.status == "skipped":
            summary.skipped += 1
        else:
            summary.done += 1
        reporter.end_item()
        _append_manifest(manifest, {
            "input": str(job.source),
            "output": str(job.output),
            "status": job.status,
            "error": job.error,
            "losses": losses,
            "seconds": round(time.perf_counter() - started, 3),
            "options": settings.record,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
    return summary


def _stylise_one(job: Job, engine: StyleTransfer, settings: Settings, reporter) -> dict:
    content = load_image(job.source, settings.size, settings.max_pixels)

    def on_step(step: Step) -> None:
        reporter.iteration(step.iteration, step.losses["total"])
        if settings.save_every and step.iteration % settings.save_every == 0:
            save_image(step.image, snapshot_path(job.output, step.iteration))

    result = engine(content, init=settings.init, callback=on_step)
    save_image(result.image, job.output)
    return {k: round(v, 6) for k, v in result.losses.items()}
