"""Running a batch: each input stylised, written atomically, recorded in the manifest, and summed up.

A bad input costs its own result and nothing else: the batch goes on, the failure is one line
naming the file and the reason, and the exit code says something failed. Two things stop the whole
batch, each with one line, the summary and the gallery written: a signal (SIGINT, SIGTERM), and an
output folder that can no longer take a manifest row (a full disk). What was recorded stays true.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import EXIT_FAILED, EXIT_OK, ImageError, NstError
from ..runtime.stylize import Step
from .discover import Job
from .gallery import thumbnails
from ..media.images import load_image, save_image, source_exif
from .manifest import MANIFEST_NAME, ManifestError, append_row, source_print, stat_print
from .progress import QuietReporter
from .signals import Interrupted, critical


@dataclass
class Settings:
    size: int | None  # longest side of each result; None keeps each photo's own
    max_pixels: int | None
    max_size: int | None = None  # with size None: photos larger than this are shrunk to it
    init: object = None  # None (the options' init), or a 1x3xHxW tensor from --init FILE
    save_every: int = 0  # write a snapshot every K iterations; 0 for none
    batch_size: int = 1  # photos of one working size optimised together
    record: dict = field(default_factory=dict)  # the options as the user gave them, for the manifest
    made_with: dict = field(default_factory=dict)  # what decides the pictures (manifest.check_made_with)
    manifest_name: str = MANIFEST_NAME  # each shard has its own, so no two processes append to one file
    gallery: object = None  # a gallery.Gallery to show each result in, or None


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the batch stopped before its end: a signal, or a folder it cannot write
    interrupted: Interrupted | None = None

    @property
    def exit_code(self) -> int:
        if self.interrupted is not None:
            return self.interrupted.exit_code
        return EXIT_FAILED if self.failed or self.stopped else EXIT_OK

    def line(self) -> str:
        counts = f"{self.done} done, {self.skipped} skipped (already there), {self.failed} failed"
        if self.stopped:
            return f"{counts}; stopped: {self.stopped}; run the same command again to go on"
        return counts


def snapshot_path(output: Path, iteration: int) -> Path:
    return output.with_name(f"{output.stem}.iter{iteration:04d}{output.suffix}")


READ_AHEAD = 4  # photos decoded ahead of the engine: enough to hide a decode behind a network pass
WRITES_PENDING = 4  # groups painted and still being written, before painting waits for the disk


def run_batch(jobs: list[Job], engine, settings: Settings, output_dir: Path, reporter=None) -> Summary:
    """Stylise every job; with ``settings.batch_size`` > 1, photos of the same working size go
    through the engine together, up to that many at a time.

    ``engine`` is the optimiser (``transfer.StyleTransfer``) or a network (``feedforward.FeedForward``):
    ``engine(photo) -> Result``, ``engine.stylise_batch(photos) -> [Result]``, ``engine.item_steps``
    (iterations a photo takes, for its progress bar; 0 for none).

    Decoding and writing run on two threads beside the engine: a network paints a photo in tens of
    milliseconds, as long as Pillow takes to decode and encode it, so doing them in turn would
    leave the cores half idle. Results are still recorded in the order the engine finished them,
    and a result is recorded only once its file is on disk."""
    reporter = reporter or QuietReporter()
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest = output_dir / settings.manifest_name
    summary = Summary()
    reporter.start_batch(len(jobs))
    writes: deque = deque()  # (job, seconds, losses, future of its file) in the order painted

    def finish(job: Job, seconds: float, losses=None, pictures=None) -> None:
        with critical():  # a signal waits until the row is written whole
            append_row(manifest, {
                "input": str(job.source),
                "output": str(job.output),
                "result": job.key,
                "status": job.status,
                "error": job.error,
                "losses": losses,
                "seconds": round(seconds, 3),
                "options": settings.record,
                "made_with": settings.made_with,
                "source": job.source_print if job.status != "failed" else None,
                "written": job.written_print if job.status != "failed" else None,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            })
        if job.status == "failed":
            summary.failed += 1
            summary.failures.append(f"{job.source}: {job.error}")
            reporter.message(f"error: {job.source}: {job.error}")
        elif job.status == "skipped":
            summary.skipped += 1
        else:
            summary.done += 1
        if settings.gallery is not None:
            settings.gallery.add(job, losses, seconds, pictures)

    def record_written(keep: int) -> None:
        """Record finished writes in order, waiting until at most ``keep`` remain in flight."""
        while writes and (len(writes) > keep or writes[0][3].done()):
            job, seconds, losses, written = writes.popleft()
            pictures = None
            try:
                job.written_print, pictures = written.result()
                job.status = "done"
            except OSError as exc:  # a full disk, a read-only or vanished folder, a name too long: this file fails
                job.status, job.error, losses = "failed", f"cannot write {job.output}: {exc.strerror or exc}", None
            except ValueError as exc:
                job.status, job.error, losses = "failed", f"cannot write {job.output}: {exc}", None
            except Exception as exc:  # noqa: BLE001 - a bug in writing: this file fails, the batch goes on
                job.status, job.error, losses = "failed", painting_failure(exc, None), None
            finish(job, seconds, losses, pictures)

    def stylise(group: list[tuple[Job, torch.Tensor]], writer: ThreadPoolExecutor) -> None:
        names = group[0][0].relative + (f" + {len(group) - 1} more" if len(group) > 1 else "")
        if engine.item_steps:
            reporter.start_item(names, engine.item_steps)
        started = time.perf_counter()
        try:
            results = _stylise_group(group, engine, settings, reporter)
        except Exception as exc:  # noqa: BLE001 - whatever it was, these files fail and the batch goes on
            results = None
            for job, content in group:
                job.status, job.error = "failed", painting_failure(exc, content)
        seconds = (time.perf_counter() - started) / len(group)
        reporter.end_item(len(group))
        if results is None:
            for job, _ in group:
                finish(job, seconds)
            return
        for (job, content), result in zip(group, results):
            losses = {k: round(v, 6) for k, v in result.losses.items()}
            writing = writer.submit(_write_result, result.image, job, content if settings.gallery else None)
            writes.append((job, seconds, losses, writing))
        record_written(keep=WRITES_PENDING)

    waiting: dict[tuple, list] = {}  # working size -> photos loaded and not yet stylised
    with ThreadPoolExecutor(1, "nstbatch-read") as reader, ThreadPoolExecutor(1, "nstbatch-write") as writer:
        try:
            for job, content, seconds in _read_ahead(jobs, settings, reader):
                if content is not None and min(content.shape[-2:]) < engine.min_side[0]:
                    job.status, job.error, content = "failed", too_thin(job.source, content, engine.min_side), None
                if content is None:
                    reporter.end_item()
                    finish(job, seconds)
                    continue
                group = waiting.setdefault(tuple(content.shape), [])
                group.append((job, content))
                if len(group) == settings.batch_size:
                    stylise(waiting.pop(tuple(content.shape)), writer)
            for group in waiting.values():
                stylise(group, writer)
            record_written(keep=0)
        except Interrupted as stop:
            # The picture being painted is abandoned; those already painted are written and recorded.
            summary.interrupted, summary.stopped = stop, f"{stop} (the picture being painted was abandoned)"
            _record_the_rest(record_written)
        except ManifestError as exc:
            summary.stopped = str(exc)
        finally:
            for _, _, _, written in writes:
                written.cancel()
    if settings.gallery is not None:
        settings.gallery.write()
    return summary


def _record_the_rest(record_written) -> None:
    """After a signal: record the results whose files are being written, unless the folder fails too."""
    try:
        record_written(keep=0)
    except ManifestError:
        pass


def too_thin(source: Path, content: torch.Tensor, min_side: tuple[int, str]) -> str:
    """Why a picture too thin to paint fails: its size, the working size, and what to change."""
    try:
        with Image.open(source) as img:
            own = f"{img.width}x{img.height}"
    except OSError:
        own = "?"
    height, width = content.shape[-2:]
    return (f"is {own}, {width}x{height} at the working size: a side under the {min_side[0]} px {min_side[1]}; "
            f"crop it, or give a larger --size")


def painting_failure(exc: Exception, content) -> str:
    """One line for a failure while painting ``content`` (a tensor or an array; None when writing): what
    happened in the user's terms, no library jargon."""
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
        if content is None:
            return "ran out of memory: give a smaller --size, or --batch-size 1"
        height, width = content.shape[:2] if isinstance(content, np.ndarray) else content.shape[-2:]
        return f"ran out of memory at {width}x{height}: give a smaller --size, or --batch-size 1"
    if isinstance(exc, (FloatingPointError, NstError)):  # ours: the message already says what to do
        return str(exc)
    if isinstance(exc, OSError):  # writing a snapshot (--save-every): a full disk, a read-only folder
        return f"cannot write {exc.filename or 'a file'}: {exc.strerror or exc}"
    return f"internal error in nstbatch, please report it with this line: {type(exc).__name__}: {exc}"


def _write_result(image: torch.Tensor, job: Job, photo: torch.Tensor | None):
    """Write a result (on the writer thread): the file as written, for its manifest row, and with the
    photo given, the gallery's thumbnails."""
    save_image(image, job.output, exif=source_exif(job.source))
    return stat_print(job.output), thumbnails(photo, image) if photo is not None else None


def _read_ahead(jobs: list[Job], settings: Settings, reader: ThreadPoolExecutor):
    """Each job with its photo (None when it is skipped or unreadable) and the seconds that took,
    in order, decoded up to ``READ_AHEAD`` jobs ahead on ``reader``."""

    def load(job: Job):
        started = time.perf_counter()
        if job.status != "todo":
            return None, 0.0
        try:
            job.source_print = source_print(job.source)  # before decoding: the file as it was painted
            content = load_image(job.source, settings.size, settings.max_pixels, settings.max_size)
        except ImageError as exc:
            job.status, job.error, content = "failed", exc.reason, None
        except OSError as exc:
            job.status, job.error, content = "failed", f"cannot be read ({exc.strerror or exc})", None
        return content, time.perf_counter() - started

    ahead: deque = deque()
    for job in jobs:
        ahead.append((job, reader.submit(load, job)))
        if len(ahead) > READ_AHEAD:
            first, loading = ahead.popleft()
            yield first, *loading.result()
    while ahead:
        first, loading = ahead.popleft()
        yield first, *loading.result()


def _stylise_group(group: list[tuple[Job, torch.Tensor]], engine, settings: Settings, reporter) -> list:
    def on_step(step: Step) -> None:
        reporter.iteration(step.iteration, step.losses["total"], step.scale)
        if settings.save_every and step.iteration % settings.save_every == 0:
            for (job, _), image in zip(group, step.image):
                save_image(image.unsqueeze(0), snapshot_path(job.output, step.iteration))

    if len(group) == 1:
        return [engine(group[0][1], init=settings.init, callback=on_step)]
    return engine.stylise_batch(torch.cat([content for _, content in group]), init=settings.init, callback=on_step)
