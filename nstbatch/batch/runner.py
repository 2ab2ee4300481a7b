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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ..errors import EXIT_FAILED, EXIT_OK, ImageError, NstError
from ..runtime.results import Step
from .discover import Job
from .gallery import thumbnails
from ..media.images import opened, read_picture, save_image, source_exif
from .manifest import MANIFEST_NAME, ManifestError, append_row, source_print, stat_print
from .progress import QuietReporter
from .signals import Interrupted, critical


@dataclass
class Settings:
    size: int | None  # longest side of each result; None keeps each photo's own
    max_pixels: int | None
    max_size: int | None = None  # with size None: photos larger than this are shrunk to it
    init: object = None  # None (the options' init), or a 1x3xHxW picture from --init FILE
    save_every: int = 0  # write a snapshot every K iterations; 0 for none
    batch_size: int = 1  # photos of one working size optimised together
    record: dict = field(default_factory=dict)  # the options as the user gave them, for the manifest
    made_with: dict = field(default_factory=dict)  # what decides the pictures (manifest.check_made_with)
    manifest_name: str = MANIFEST_NAME  # each shard has its own, so no two processes append to one file
    gallery: object = None  # a gallery.Gallery to show each result in, or None
    regions: object = None  # a regions.PaintedRegions: each photo's masks are read with it; None: no regions


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


# The steps of a batch, as plain functions an executor calls: ``load_photo`` (on any worker),
# ``paint_group`` (where the engine is), ``write_result`` (where the output folder is) and, on the
# driver alone, ``Recorder.finish``. ``drive`` runs a batch through an ``Executor``: ``Threads`` on this
# machine, ``ray_executor.OnRay`` on a Ray cluster.


class Recorder:
    """The driver's side of a batch: each finished job's manifest row (written whole: a signal waits for
    it), its count in the summary, its line when it failed, and its place in the gallery."""

    def __init__(self, output_dir: Path, settings: Settings, reporter):
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        self.manifest = Path(output_dir) / settings.manifest_name
        self.settings = settings
        self.reporter = reporter
        self.summary = Summary()

    def finish(self, job: Job, seconds: float, losses=None, pictures=None) -> None:
        """Record ``job`` as it ended (done, skipped or failed); ManifestError when the folder takes no more.
        A skipped job whose proving row is its latest adds no row, so the manifest grows with the results,
        not with the runs; one whose last row said otherwise (it failed since) is recorded again."""
        if not (job.status == "skipped" and job.proof_is_latest):
            with critical():
                append_row(self.manifest, manifest_row(job, seconds, losses, self.settings))
        if job.warning and job.status == "done":
            self.reporter.message(f"warning: {job.source}: {job.warning}")
        if job.status == "failed":
            self.summary.failed += 1
            self.summary.failures.append(f"{job.source}: {job.error}")
            self.reporter.message(f"error: {job.source}: {job.error}")
        elif job.status == "skipped":
            self.summary.skipped += 1
        else:
            self.summary.done += 1
        if self.settings.gallery is not None:
            self.settings.gallery.add(job, losses, seconds, pictures)

    def close(self) -> Summary:
        if self.settings.gallery is not None:
            self.settings.gallery.write()
        return self.summary


def manifest_row(job: Job, seconds: float, losses, settings: Settings) -> dict:
    masks = {} if job.mask_sha256 is None else {"masks": job.mask_sha256}
    return {**masks,
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
    }


def load_photo(job: Job, settings: Settings, min_side: tuple[int, str]) -> tuple[np.ndarray | None, float]:
    """The job's photo at its working size (1 x 3 x H x W, a numpy array: both engines take one) and the
    seconds that took; None (the job marked failed, or it
    was not to do) when there is nothing to paint. The input's fingerprint is taken first: the file as
    it was painted."""
    started = time.perf_counter()
    if job.status != "todo":
        return None, 0.0
    try:
        job.source_print = source_print(job.source)
        content = read_picture(job.source, settings.size, settings.max_pixels, settings.max_size)
    except ImageError as exc:
        job.status, job.error, content = "failed", exc.reason, None
    except OSError as exc:
        job.status, job.error, content = "failed", f"cannot be read ({exc.strerror or exc})", None
    if content is not None and min(content.shape[-2:]) < min_side[0]:
        job.status, job.error, content = "failed", too_thin(job.source, content, min_side), None
    if content is not None and settings.regions is not None:
        content = _with_masks(job, content, settings.regions)
    return content, time.perf_counter() - started


def _with_masks(job: Job, content: np.ndarray, painted) -> np.ndarray | None:
    """Read the photo's region masks onto the job; the photo, or None when the job failed for them."""
    size = tuple(content.shape[-2:])
    try:
        job.masks, job.mask_sha256 = painted.masks(job.relative, size)
    except (ImageError, OSError) as exc:
        reason = f"{exc.path}: {exc.reason}" if isinstance(exc, ImageError) else f"a mask cannot be read ({exc})"
        if painted.missing != "unmasked":
            job.status, job.error = "failed", f"mask {reason}; painted nothing (--missing-mask unmasked paints it "\
                                              f"without regions)"
            return None
        job.masks, job.mask_sha256, job.warning = painted.fallback(size), [], f"painted without regions: mask {reason}"
    return content


def paint_group(group: list[tuple[Job, np.ndarray]], engine, settings: Settings, reporter) -> tuple[list | None, float]:
    """Paint photos of one working size together: their results (None, each job marked failed with its
    reason, when painting failed) and the seconds it took a photo."""
    names = group[0][0].relative + (f" + {len(group) - 1} more" if len(group) > 1 else "")
    if engine.item_steps:
        reporter.start_item(names, engine.item_steps)
    started = time.perf_counter()
    try:
        results = _stylize_group(group, engine, settings, reporter)
    except Exception as exc:  # noqa: BLE001 - whatever it was, these files fail and the batch goes on
        results = None
        for job, content in group:
            job.status, job.error = "failed", painting_failure(exc, content)
    reporter.end_item(len(group))
    return results, (time.perf_counter() - started) / len(group)


def write_result(image, job: Job, photo: np.ndarray | None):
    """Write a result atomically: the file as written, for its manifest row, and with the photo given,
    the gallery's thumbnails."""
    save_image(image, job.output, exif=source_exif(job.source))
    return stat_print(job.output), thumbnails(photo, image) if photo is not None else None


def written(job: Job, write, losses):
    """The job after ``write()`` (a finished write_result, or what raises its error): done with the
    file's record, or failed with one line; its losses and thumbnails for the recorder."""
    try:
        job.written_print, pictures = write()
        job.status = "done"
        return losses, pictures
    except OSError as exc:  # a full disk, a read-only or vanished folder, a name too long: this file fails
        job.status, job.error = "failed", f"cannot write {job.output}: {exc.strerror or exc}"
    except ValueError as exc:
        job.status, job.error = "failed", f"cannot write {job.output}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a bug in writing: this file fails, the batch goes on
        job.status, job.error = "failed", painting_failure(exc, None)
    return None, None


class Stopped(Exception):
    """An executor that cannot go on (its cluster lost): why, for the summary. It has recorded every job
    it did not finish as failed first."""


class Executor(Protocol):
    """Where a batch's steps run. ``run`` paints every job and hands each, as it ends, to ``record`` (the
    driver's ``Recorder.finish``: job, seconds, losses, thumbnails), advancing the reporter's bar; on a
    signal it records what is already painted and lets ``Interrupted`` through; when it cannot go on, it
    records the rest as failed and raises ``Stopped``. ``abandoned`` says what a signal leaves unfinished,
    for the summary line. ``drive`` is the one loop over any executor."""

    abandoned: str

    def run(self, jobs: list[Job], settings: Settings, record: Callable, reporter) -> None: ...


def drive(executor: Executor, jobs: list[Job], settings: Settings, output_dir: Path, reporter=None) -> Summary:
    """The driver: every job through ``executor``, each recorded as it ends (manifest row, summary, gallery);
    a signal or a folder that takes no more rows stops the batch with that said in the summary."""
    reporter = reporter or QuietReporter()
    recorder = Recorder(output_dir, settings, reporter)
    reporter.start_batch(len(jobs))
    try:
        executor.run(jobs, settings, recorder.finish, reporter)
    except Interrupted as stop:
        recorder.summary.interrupted = stop
        recorder.summary.stopped = f"{stop} ({executor.abandoned})"
    except (ManifestError, Stopped) as exc:
        recorder.summary.stopped = str(exc)
    return recorder.close()


def run_batch(jobs: list[Job], engine, settings: Settings, output_dir: Path, reporter=None) -> Summary:
    """``jobs`` painted by ``engine`` on this machine (``Threads``)."""
    return drive(Threads(engine), jobs, settings, output_dir, reporter)


class Threads:
    """The local executor: photos of the same working size go through the engine together (up to
    ``settings.batch_size``), with decoding and writing on two threads beside it.

    ``engine`` is the optimiser (``transfer.StyleTransfer``) or a network (``feedforward.FeedForward``):
    ``engine(photo) -> Result``, ``engine.stylize_batch(photos) -> [Result]``, ``engine.item_steps``
    (iterations a photo takes, for its progress bar; 0 for none), ``engine.min_side``, and
    ``engine.batch_refusal()`` (why it cannot take several photos at once, or None; the command asks it
    before any work).

    A network paints a photo in tens of milliseconds, as long as Pillow takes to decode and encode it,
    so doing them in turn would leave the cores half idle. Results are still recorded in the order the
    engine finished them, and a result is recorded only once its file is on disk."""

    abandoned = "the picture being painted was abandoned"

    def __init__(self, engine):
        self.engine = engine

    def run(self, jobs: list[Job], settings: Settings, record: Callable, reporter) -> None:
        engine = self.engine
        writes: deque = deque()  # (job, seconds, losses, future of its file) in the order painted

        def record_written(keep: int) -> None:
            """Record finished writes in order, waiting until at most ``keep`` remain in flight."""
            while writes and (len(writes) > keep or writes[0][3].done()):
                job, seconds, losses, writing = writes.popleft()
                record(job, seconds, *written(job, writing.result, losses))

        def paint(group: list[tuple[Job, np.ndarray]], writer: ThreadPoolExecutor) -> None:
            results, seconds = paint_group(group, engine, settings, reporter)
            if results is None:
                for job, _ in group:
                    record(job, seconds)
                return
            for (job, content), result in zip(group, results):
                losses = {k: round(v, 6) for k, v in result.losses.items()}
                writing = writer.submit(write_result, result.image, job, content if settings.gallery else None)
                writes.append((job, seconds, losses, writing))
            record_written(keep=WRITES_PENDING)

        waiting: dict[tuple, list] = {}  # working size -> photos loaded and not yet stylised
        reader, writer = ThreadPoolExecutor(1, "nstbatch-read"), ThreadPoolExecutor(1, "nstbatch-write")
        with _stopping(reader), writer:
            try:
                for job, (content, seconds) in _read_ahead(jobs, settings, engine.min_side, reader):
                    if content is None:
                        reporter.end_item()
                        record(job, seconds)
                        continue
                    group = waiting.setdefault(tuple(content.shape), [])
                    group.append((job, content))
                    if len(group) == settings.batch_size:
                        paint(waiting.pop(tuple(content.shape)), writer)
                for group in waiting.values():
                    paint(group, writer)
                record_written(keep=0)
            except Interrupted:
                # The picture being painted is abandoned; those already painted are written and recorded.
                _record_the_rest(record_written)
                raise
            finally:
                for _, _, _, writing in writes:
                    writing.cancel()


@contextmanager
def _stopping(reader: ThreadPoolExecutor):
    """The reader, shut down on the way out without waiting for the photos it was still to decode: after
    a signal those are not wanted, and the run stops at once."""
    try:
        yield reader
    finally:
        reader.shutdown(wait=False, cancel_futures=True)


def _record_the_rest(record_written) -> None:
    """After a signal: record the results whose files are being written, unless the folder fails too."""
    try:
        record_written(keep=0)
    except ManifestError:
        pass


def too_thin(source: Path, content: np.ndarray, min_side: tuple[int, str]) -> str:
    """Why a picture too thin to paint fails: its size, the working size, and what to change."""
    try:
        with opened(source) as img:
            own = f"{img.width}x{img.height}"
    except (OSError, ImageError):
        own = "?"
    height, width = content.shape[-2:]
    return (f"is {own}, {width}x{height} at the working size: a side under the {min_side[0]} px {min_side[1]}; "
            f"crop it, or give a larger --size")


def painting_failure(exc: Exception, content) -> str:
    """One line for a failure while painting ``content`` (N x 3 x H x W, or a video's H x W x 3 frame; None
    when writing): what happened in the user's terms, no library jargon."""
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():  # torch's, or any
        if content is None:
            return "ran out of memory: give a smaller --size, or --batch-size 1"
        height, width = content.shape[:2] if content.ndim == 3 else content.shape[-2:]
        return f"ran out of memory at {width}x{height}: give a smaller --size, or --batch-size 1"
    if isinstance(exc, (FloatingPointError, NstError)):  # ours: the message already says what to do
        return str(exc)
    if isinstance(exc, OSError):  # writing a snapshot (--save-every): a full disk, a read-only folder
        return f"cannot write {exc.filename or 'a file'}: {exc.strerror or exc}"
    return f"internal error in nstbatch, please report it with this line: {type(exc).__name__}: {exc}"


def _read_ahead(jobs: list[Job], settings: Settings, min_side, reader: ThreadPoolExecutor):
    """Each job with ``load_photo``'s answer, in order, decoded up to ``READ_AHEAD`` jobs ahead on ``reader``."""
    ahead: deque = deque()
    for job in jobs:
        ahead.append((job, reader.submit(load_photo, job, settings, min_side)))
        if len(ahead) > READ_AHEAD:
            first, loading = ahead.popleft()
            yield first, loading.result()
    while ahead:
        first, loading = ahead.popleft()
        yield first, loading.result()


def _stylize_group(group: list[tuple[Job, np.ndarray]], engine, settings: Settings, reporter) -> list:
    def on_step(step: Step) -> None:
        reporter.iteration(step.iteration, step.losses["total"], step.scale)
        if settings.save_every and step.iteration % settings.save_every == 0:
            for (job, _), image in zip(group, step.image):
                save_image(image[None], snapshot_path(job.output, step.iteration))

    if len(group) == 1:
        job, content = group[0]
        masks = {} if job.masks is None else {"masks": job.masks}
        job.masks = None  # read once, used once: the job goes on to its row without them
        return [engine(content, init=settings.init, callback=on_step, **masks)]
    return engine.stylize_batch(np.concatenate([content for _, content in group]), init=settings.init, callback=on_step)
