"""Stylising a video: each frame starts from the previous stylised frame carried along the optical
flow and is held to it by a temporal loss where the flow can be trusted (Ruder et al. 2016).

Finished frames are written atomically to a work folder, with the settings that made them, so an
interrupted run picks up where it stopped. A run and its resumption give the same frames: each frame
is built from the previous one as stored (8-bit PNG), never from a float copy only one of them had.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path
from ..errors import ImageError, UsageError
from ..runtime.transfer import StyleTransfer
from .flow import FLOW_METHODS, previous_in_place
from .frames import FrameSource, write_video
from .images import array_to_tensor, load_image, save_image, tensor_to_array
from .progress import QuietReporter

SETTINGS_NAME = "nstbatch-video.json"


@dataclass
class VideoSettings:
    size: int  # longest side of the frames
    first_iterations: int  # the first frame is stylised from the photo and needs more
    iterations: int  # each later frame starts from its predecessor, most of the way there
    flow: str = "dis"
    consistent: bool = True  # False: every frame on its own (the flickering baseline benchmarks compare with)
    record: dict = field(default_factory=dict)  # everything that decides the frames, checked on resume

    def check(self) -> None:
        if self.flow not in FLOW_METHODS:
            raise UsageError(f"--flow must be one of {', '.join(FLOW_METHODS)}, not '{self.flow}'")
        if self.first_iterations < 1 or self.iterations < 1:
            raise UsageError("--iterations and --first-iterations must be at least 1")


@dataclass
class VideoRun:
    frames: int = 0  # stylised frames in the work folder, in order from the first
    done: int = 0  # of which stylised by this run
    resumed: int = 0  # of which found finished
    seconds: float = 0.0  # spent stylising this run
    failure: str | None = None  # why the run stopped early

    def seconds_per_frame(self) -> float:
        return self.seconds / self.done if self.done else 0.0


def frame_path(work_dir: Path, index: int) -> Path:
    return Path(work_dir) / f"frame_{index + 1:06d}.png"


def prepare_work_dir(work_dir: Path, record: dict, overwrite: bool) -> None:
    """Make the work folder ready: refuse frames made with other settings, unless told to start again."""
    work_dir = Path(work_dir)
    record = json.loads(json.dumps(record, sort_keys=True))  # as it reads back: tuples become lists
    settings_file = work_dir / SETTINGS_NAME
    if settings_file.exists() and not overwrite:
        try:
            previous = json.loads(settings_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if previous != record:
            changed = sorted(k for k in set(record) | set(previous or {}) if (previous or {}).get(k) != record.get(k))
            raise UsageError(f"{work_dir}: holds frames made with other settings ({', '.join(changed)} differ); "
                             f"pass --overwrite to start again, or choose another --frames-dir")
    if overwrite:
        for old in work_dir.glob("frame_*.png"):
            old.unlink()
    work_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(settings_file) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")


def _stored(path: Path) -> np.ndarray | None:
    """A finished frame as H x W x 3 uint8, or None if it is missing or unreadable (then it is redone)."""
    if not path.exists():
        return None
    try:
        return tensor_to_array(load_image(path, max_pixels=None))
    except ImageError:
        return None


def _numbered(frames):
    """(index, name, frame) for each frame read; a frame that cannot be read ends it as (index, None, ImageError)."""
    index = 0
    while True:
        try:
            name, frame = next(frames)
        except StopIteration:
            return
        except ImageError as exc:
            yield index, None, exc
            return
        yield index, name, frame
        index += 1


def stylise_frame(engine: StyleTransfer, frame: np.ndarray, previous: tuple[np.ndarray, np.ndarray] | None,
                  settings: VideoSettings, callback=None) -> np.ndarray:
    """One frame, as H x W x 3 uint8. ``previous`` is (content frame t-1, stylised frame t-1) or None."""
    content = array_to_tensor(frame)
    if previous is None:
        return tensor_to_array(engine(content, callback=callback, iterations=settings.first_iterations).image)
    if not settings.consistent:
        return tensor_to_array(engine(content, callback=callback, iterations=settings.iterations).image)
    previous_frame, previous_stylised = previous
    warped, trust = previous_in_place(previous_stylised.astype(np.float32), frame, previous_frame, settings.flow)
    warped = array_to_tensor(warped)
    seen, weight = (torch.from_numpy(m)[None, None] for m in trust)
    # Where frame t-1 did not show the pixel (uncovered background), start from the photo instead.
    start = seen * warped + (1 - seen) * content
    result = engine(content, init=start, callback=callback, iterations=settings.iterations, previous=(warped, weight))
    return tensor_to_array(result.image)


def stylise_video(source: FrameSource, engine: StyleTransfer, settings: VideoSettings, work_dir: Path,
                  reporter=None) -> VideoRun:
    """Stylise every frame of ``source`` into ``work_dir``, skipping frames already there.

    A frame that cannot be read or stylised ends the run; what was finished stays, and the returned
    ``VideoRun`` says why it stopped.
    """
    settings.check()
    reporter = reporter or QuietReporter()
    run = VideoRun()
    previous = None
    reporter.start_batch(source.count, "frames")
    for index, name, frame in _numbered(source.read(settings.size)):
        if name is None:
            run.failure = f"frame {index + 1}: {frame}"
            break
        path = frame_path(work_dir, index)
        stylised = _stored(path)
        if stylised is not None and stylised.shape == frame.shape:
            run.resumed += 1
        else:
            iterations = settings.first_iterations if previous is None else settings.iterations
            reporter.start_item(f"frame {index + 1}", iterations)
            started = time.perf_counter()
            try:
                stylised = stylise_frame(engine, frame, previous, settings,
                                         lambda step: reporter.iteration(step.iteration, step.losses["total"]))
            except (RuntimeError, FloatingPointError) as exc:
                # Out of memory or a diverging objective: stop with what is kept, saying which frame.
                run.failure = f"frame {index + 1} ({name}): {type(exc).__name__}: {exc}"
                break
            save_image(array_to_tensor(stylised), path)
            run.seconds += time.perf_counter() - started
            run.done += 1
        reporter.end_item()
        run.frames += 1
        previous = (frame, stylised)
    return run


def paint_video(source: FrameSource, engine, size: int, work_dir: Path, reporter=None, batch_size: int = 4) -> VideoRun:
    """Every frame of ``source`` through a network engine (``feedforward.FeedForward``), ``batch_size``
    frames a pass, into ``work_dir``; frames already there are kept, so an interrupted run resumes.

    A frame that cannot be read or painted ends the run after the frames before it are stored.
    """
    reporter = reporter or QuietReporter()
    run = VideoRun()
    reporter.start_batch(source.count, "frames")
    pending: list[tuple[int, str, np.ndarray]] = []

    def flush() -> bool:
        if not pending:
            return True
        started = time.perf_counter()
        try:
            results = engine.stylise_batch(torch.cat([array_to_tensor(frame) for _, _, frame in pending]))
        except RuntimeError as exc:  # out of memory, a session that fails: stop with what is stored
            run.failure = f"frames {pending[0][0] + 1}-{pending[-1][0] + 1} ({pending[0][1]}...): {type(exc).__name__}: {exc}"
            return False
        for (index, _, _), result in zip(pending, results):
            save_image(result.image, frame_path(work_dir, index))
        run.seconds += time.perf_counter() - started
        run.done += len(pending)
        run.frames += len(pending)
        reporter.end_item(len(pending))
        pending.clear()
        return True

    for index, name, frame in _numbered(source.read(size)):
        if name is None:
            if flush():
                run.failure = f"frame {index + 1}: {frame}"
            break
        stored = _stored(frame_path(work_dir, index))
        if stored is not None and stored.shape == frame.shape and not pending:
            run.resumed += 1
            run.frames += 1
            reporter.end_item()
        else:
            pending.append((index, name, frame))
            if len(pending) == batch_size and not flush():
                break
    if not run.failure:
        flush()
    return run


def assemble(work_dir: Path, frames: int, output: Path, fps: float) -> int:
    """Encode the work folder's first ``frames`` frames as ``output`` (mp4, no audio), atomically."""
    def stored_frames():
        for index in range(frames):
            frame = _stored(frame_path(work_dir, index))
            if frame is None:
                raise ImageError(frame_path(work_dir, index), "is missing or unreadable; run again to redo it")
            yield frame

    return write_video(stored_frames(), output, fps)


def remove_work_dir(work_dir: Path) -> None:
    shutil.rmtree(work_dir, ignore_errors=True)

