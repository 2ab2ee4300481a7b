"""Running a batch: each input stylised, written atomically, recorded in the manifest, and summed up.

A bad input costs its own result and nothing else: the batch goes on, the failure is one line
naming the file and the reason, and the exit code says something failed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import EXIT_FAILED, EXIT_OK, ImageError
from ..runtime.stylize import Step
from .discover import Job
from .images import load_image, save_image
from .progress import QuietReporter

MANIFEST_NAME = "nstbatch-manifest.jsonl"


@dataclass
class Settings:
    size: int | None  # longest side of each result; None keeps each photo's own
    max_pixels: int | None
    max_size: int | None = None  # with size None: photos larger than this are shrunk to it
    init: object = None  # None (the options' init), or a 1x3xHxW tensor from --init FILE
    save_every: int = 0  # write a snapshot every K iterations; 0 for none
    batch_size: int = 1  # photos of one working size optimised together
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


def run_batch(jobs: list[Job], engine, settings: Settings, output_dir: Path, reporter=None) -> Summary:
    """Stylise every job; with ``settings.batch_size`` > 1, photos of the same working size go
    through the engine together, up to that many at a time.

    ``engine`` is the optimiser (``transfer.StyleTransfer``) or a network (``feedforward.FeedForward``):
    ``engine(photo) -> Result``, ``engine.stylise_batch(photos) -> [Result]``, ``engine.item_steps``
    (iterations a photo takes, for its progress bar; 0 for none)."""
    reporter = reporter or QuietReporter()
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest = output_dir / MANIFEST_NAME
    summary = Summary()
    reporter.start_batch(len(jobs))

    def finish(job: Job, seconds: float, losses=None) -> None:
        if job.status == "failed":
            summary.failed += 1
            summary.failures.append(f"{job.source}: {job.error}")
            reporter.message(f"error: {job.source}: {job.error}")
        elif job.status == "skipped":
            summary.skipped += 1
        else:
            summary.done += 1
        _append_manifest(manifest, {
            "input": str(job.source),
            "output": str(job.output),
            "status": job.status,
            "error": job.error,
            "losses": losses,
            "seconds": round(seconds, 3),
            "options": settings.record,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })

    def stylise(group: list[tuple[Job, torch.Tensor]]) -> None:
        names = group[0][0].relative + (f" + {len(group) - 1} more" if len(group) > 1 else "")
        if engine.item_steps:
            reporter.start_item(names, engine.item_steps)
        started = time.perf_counter()
        try:
            outcomes = _stylise_group(group, engine, settings, reporter)
        except (RuntimeError, FloatingPointError, OSError, ValueError) as exc:
            # Out of memory, a full disk, a diverging objective: these files fail, the batch goes on.
            outcomes = [None] * len(group)
            for job, _ in group:
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
        seconds = (time.perf_counter() - started) / len(group)
        reporter.end_item(len(group))
        for (job, _), losses in zip(group, outcomes):
            finish(job, seconds, losses)

    waiting: dict[tuple, list] = {}  # working size -> photos loaded and not yet stylised
    for job in jobs:
        started = time.perf_counter()
        if job.status == "todo":
            try:
                content = load_image(job.source, settings.size, settings.max_pixels, settings.max_size)
            except ImageError as exc:
                job.status, job.error = "failed", exc.reason
        if job.status != "todo":
            reporter.end_item()
            finish(job, time.perf_counter() - started)
            continue
        group = waiting.setdefault(tuple(content.shape), [])
        group.append((job, content))
        if len(group) == settings.batch_size:
            stylise(waiting.pop(tuple(content.shape)))
    for group in waiting.values():
        stylise(group)
    return summary


def _stylise_group(group: list[tuple[Job, torch.Tensor]], engine, settings: Settings, reporter) -> list[dict]:
    def on_step(step: Step) -> None:
        reporter.iteration(step.iteration, step.losses["total"])
        if settings.save_every and step.iteration % settings.save_every == 0:
            for (job, _), image in zip(group, step.image):
                save_image(image.unsqueeze(0), snapshot_path(job.output, step.iteration))

    if len(group) == 1:
        results = [engine(group[0][1], init=settings.init, callback=on_step)]
    else:
        results = engine.stylise_batch(torch.cat([content for _, content in group]), init=settings.init, callback=on_step)
    outcomes = []
    for (job, _), result in zip(group, results):
        save_image(result.image, job.output)
        job.status = "done"
        outcomes.append({k: round(v, 6) for k, v in result.losses.items()})
    return outcomes
