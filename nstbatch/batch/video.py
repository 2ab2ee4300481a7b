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
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path
from ..errors import ImageError, UsageError
from ..runtime.transfer import StyleTransfer
from ..media.flow import FLOW_METHODS, previous_in_place
from ..media.frames import FrameSource, write_video
from ..media.images import array_to_tensor, load_image, save_image, tensor_to_array
from ..records import as_stored, differing
from .manifest import same_source, source_print, stat_print
from .progress import QuietReporter
from .runner import painting_failure

SETTINGS_NAME = "nstbatch-video.json"


@dataclass
class VideoSettings:
    size: int  # longest side of the frames
    first_iterations: int  # the first frame is stylised from the photo and needs more
    iterations: int  # each later frame starts from its predecessor, most of the way there
    flow: str = "dis"
    temporal_frames: tuple[int, ...] = (1,)  # the earlier frames each frame is held to: 1 is t-1, 2 is t-2, ...
    passes: int = 1  # sweeps over the clip: the first forward, then backward and forward in turn
    consistent: bool = True  # False: every frame on its own (the flickering baseline benchmarks compare with)
    record: dict = field(default_factory=dict)  # everything that decides the frames, checked on resume

    def check(self) -> None:
        if self.flow not in FLOW_METHODS:
            raise UsageError(f"--flow must be one of {', '.join(FLOW_METHODS)}, not '{self.flow}'")
        if self.first_iterations < 1 or self.iterations < 1:
            raise UsageError("--iterations and --first-iterations must be at least 1")
        if not self.temporal_frames or min(self.temporal_frames) < 1:
            raise UsageError(f"--temporal-frames must be whole numbers of frames back, at least 1, not "
                             f"{','.join(map(str, self.temporal_frames)) or 'nothing'}")
        self.temporal_frames = tuple(sorted(set(self.temporal_frames)))
        if self.passes < 1:
            raise UsageError(f"--passes must be at least 1, not {self.passes}")


@dataclass
class VideoRun:
    frames: int = 0  # stylised frames in the work folder, in order from the first
    done: int = 0  # of which stylised by this run
    resumed: int = 0  # of which found finished
    seconds: float = 0.0  # spent stylising this run
    failure: str | None = None  # why the run stopped early
    folder: Path | None = None  # where the finished frames are: the last pass's folder

    def seconds_per_frame(self) -> float:
        return self.seconds / self.done if self.done else 0.0


def pass_dir(work_dir: Path, sweep: int) -> Path:
    """Where the frames of pass ``sweep`` (from 1) are kept: the first in the work folder itself, later
    ones in their own subfolders, so a pass never overwrites the frames it is built from."""
    return Path(work_dir) if sweep == 1 else Path(work_dir) / f"pass{sweep}"


def frame_path(work_dir: Path, index: int, sweep: int = 1) -> Path:
    return pass_dir(work_dir, sweep) / f"frame_{index + 1:06d}.png"


def prepare_work_dir(work_dir: Path, record: dict, overwrite: bool) -> None:
    """Make the work folder ready: refuse frames made with other settings, unless told to start again."""
    work_dir = Path(work_dir)
    record = as_stored(record)
    settings_file = work_dir / SETTINGS_NAME
    if settings_file.exists() and not overwrite:
        try:
            previous = json.loads(settings_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if previous != record:
            changed = differing(previous or {}, record)
            raise UsageError(f"{work_dir}: holds frames made with other settings ({', '.join(changed)} differ); "
                             f"pass --overwrite to start again, or choose another --frames-dir")
    if overwrite:
        for old in work_dir.glob("**/frame_*.png"):
            old.unlink()
    work_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(settings_file) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")


def made_with_path(output: Path) -> Path:
    """Beside a finished video, the settings that made it: ``clip.mp4`` -> ``clip.mp4.nstbatch.json``."""
    return output.with_name(output.name + ".nstbatch.json")


def already_made(output: Path, made_with: dict, overwrite: bool, source: Path) -> bool:
    """Whether ``output`` is done: its record beside it describes the file as it is now, made from this
    ``source`` (a clip; a folder of frames is not fingerprinted) with these settings. A usage error
    naming what differs if that record says other settings; False (make it again) when nothing proves it,
    as after a crash between writing the video and its record."""
    if overwrite or not output.exists():
        return False
    try:
        record = json.loads(made_with_path(output).read_text(encoding="utf-8"))
        previous, recorded_source = record["made_with"], record["source"]
        proven = record["written"] == stat_print(output)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not proven or not isinstance(previous, dict):
        return False
    made_with = as_stored(made_with)
    if previous != made_with:
        changed = differing(previous, made_with)
        raise UsageError(f"{output}: already made with other settings ({', '.join(changed)} differ); pass --overwrite "
                         f"to make it again, or choose another --output")
    return recorded_source is None or same_source(recorded_source, source) is not None


def record_made_with(output: Path, made_with: dict, source: Path) -> None:
    """Beside the finished video: its settings, the clip it was made from, and the video as written."""
    record = {"made_with": made_with, "written": stat_print(output),
              "source": source_print(source) if Path(source).is_file() else None}
    with atomic_path(made_with_path(output)) as tmp:
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


def carried_over(frame: np.ndarray, history, settings: VideoSettings):
    """What the earlier stylised frames say about frame t: (start, seen, target, weight).

    ``history`` holds (content frame, stylised frame) pairs, most recent first: ``history[k - 1]`` is
    frame t-k. Each frame in ``settings.temporal_frames`` is warped into place along the flow between
    the photos; a pixel is taken from the nearest of them that saw it (Ruder et al.'s long-term
    consistency: a region hidden in frame t-1 keeps its look from t-2 or t-4), and from the photo
    where none did. Returns the start (H x W x 3 float, grey levels; zero where unseen), ``seen``
    (H x W, 1 where some frame saw the pixel), the temporal target and its weight (H x W x 3, H x W).
    """
    height, width = frame.shape[:2]
    start = np.zeros((height, width, 3), np.float32)
    claimed = np.zeros((height, width), np.float32)  # 1 where a nearer frame already saw the pixel
    weighted_target = np.zeros((height, width, 3), np.float32)
    weight = np.zeros((height, width), np.float32)
    for back in settings.temporal_frames:
        if back > len(history):
            break
        past_frame, past_stylized = history[back - 1]
        warped, trust = previous_in_place(past_stylized.astype(np.float32), frame, past_frame, settings.flow)
        fresh = trust.seen * (1 - claimed)
        start += fresh[..., None] * warped
        # One temporal term towards the weighted mean of the targets has the same gradient as one
        # term per frame, so the optimiser needs no change for several frames back.
        share = trust.weight * (1 - claimed)
        weighted_target += share[..., None] * warped
        weight += share
        claimed += fresh
    target = weighted_target / np.maximum(weight, 1e-6)[..., None]
    return start, claimed, target, weight


def stylize_frame(engine: StyleTransfer, frame: np.ndarray, history, settings: VideoSettings,
                  callback=None) -> np.ndarray:
    """One frame, as H x W x 3 uint8. ``history`` is the earlier (content frame, stylised frame)
    pairs, most recent first (see ``carried_over``); empty for the first frame."""
    content = array_to_tensor(frame)
    if not history:
        return tensor_to_array(engine(content, callback=callback, iterations=settings.first_iterations).image)
    if not settings.consistent:
        return tensor_to_array(engine(content, callback=callback, iterations=settings.iterations).image)
    start, seen, target, weight = carried_over(frame, history, settings)
    seen = torch.from_numpy(seen)[None, None]
    # Where no earlier frame showed the pixel (uncovered background), start from the photo instead.
    start = array_to_tensor(start) + (1 - seen) * content
    previous = (array_to_tensor(target), torch.from_numpy(weight)[None, None])
    result = engine(content, init=start, callback=callback, iterations=settings.iterations, previous=previous)
    return tensor_to_array(result.image)


def stylize_video(source: FrameSource, engine: StyleTransfer, settings: VideoSettings, work_dir: Path,
                  reporter=None) -> VideoRun:
    """Stylise every frame of ``source`` into ``work_dir``, skipping frames already there; with
    ``settings.passes`` > 1, then sweep back and forth over the clip (``sweep``).

    A frame that cannot be read or stylised ends the run; what was finished stays, and the returned
    ``VideoRun`` says why it stopped.
    """
    settings.check()
    reporter = reporter or QuietReporter()
    run = VideoRun(folder=Path(work_dir))
    history = deque(maxlen=max(settings.temporal_frames))  # (photo, stylised) of the frames before, newest first
    photos = []  # every frame, kept for the later passes
    reporter.start_batch(source.count * settings.passes, "frames")
    for index, name, frame in _numbered(source.read(settings.size)):
        if name is None:
            run.failure = f"frame {index + 1}: {frame}"
            break
        path = frame_path(work_dir, index)
        stylised = _stored(path)
        if stylised is not None and stylised.shape == frame.shape:
            run.resumed += 1
        else:
            iterations = settings.iterations if history else settings.first_iterations
            stylised = _paint_and_store(
                lambda callback: stylize_frame(engine, frame, history, settings, callback), frame, path,
                f"frame {index + 1}", f"frame {index + 1} ({name})", iterations, run, reporter)
            if stylised is None:
                break
        reporter.end_item()
        run.frames += 1
        history.appendleft((frame, stylised))
        if settings.passes > 1:
            photos.append(frame)
    for number in range(2, settings.passes + 1):
        if run.failure:
            break
        sweep(photos, engine, settings, work_dir, number, run, reporter)
    return run


def sweep(photos: list[np.ndarray], engine: StyleTransfer, settings: VideoSettings, work_dir: Path, number: int,
          run: VideoRun, reporter) -> None:
    """Pass ``number`` (2, 3, ...) of Ruder et al.'s multi-pass algorithm: backward over the clip on even
    passes, forward on odd ones. Each frame starts from its own result of the pass before, blended
    half and half with the neighbour just redone in this pass, carried along the flow where that
    neighbour saw it, and is held to that neighbour by the temporal term for ``settings.iterations``
    more evaluations. So the first frame is no longer the one frame painted with no neighbour to
    agree with. Frames already stored for this pass are kept, so an interrupted pass resumes.
    """
    order = range(len(photos) - 1, -1, -1) if number % 2 == 0 else range(len(photos))
    neighbour = None  # (photo, stylised) of the frame redone just before, in this pass
    for index in order:
        path = frame_path(work_dir, index, number)
        stylised = _stored(path)
        if stylised is not None and stylised.shape == photos[index].shape:
            run.resumed += 1
        else:
            own = _stored(frame_path(work_dir, index, number - 1))
            if own is None:
                run.failure = f"pass {number}: {frame_path(work_dir, index, number - 1)} is missing or unreadable"
                return
            label = f"pass {number}, frame {index + 1}"
            stylised = _paint_and_store(
                lambda callback: _refine(engine, photos[index], own, neighbour, settings, callback), photos[index],
                path, label, label, settings.iterations, run, reporter)
            if stylised is None:
                return
        reporter.end_item()
        neighbour = (photos[index], stylised)
    run.folder = pass_dir(work_dir, number)


def _paint_and_store(paint, photo: np.ndarray, path: Path, label: str, where: str, iterations: int, run: VideoRun,
                     reporter) -> np.ndarray | None:
    """One frame painted by ``paint(callback)`` under a progress bar named ``label``, stored at ``path``
    and counted in ``run``; None, with ``run.failure`` saying ``where``, if painting failed."""
    reporter.start_item(label, iterations)
    started = time.perf_counter()
    try:
        stylised = paint(lambda step: reporter.iteration(step.iteration, step.losses["total"]))
    except Exception as exc:  # noqa: BLE001 - out of memory, divergence, a bug: stop, keep what is done
        run.failure = f"{where}: {painting_failure(exc, photo)}"
        return None
    save_image(array_to_tensor(stylised), path)
    run.seconds += time.perf_counter() - started
    run.done += 1
    return stylised


PASS_BLEND = 0.5  # Ruder et al.'s delta: how much of the neighbour's warped look a later pass takes in


def _refine(engine: StyleTransfer, frame: np.ndarray, own: np.ndarray, neighbour, settings: VideoSettings,
            callback=None) -> np.ndarray:
    content = array_to_tensor(frame)
    own_start = array_to_tensor(own)
    if neighbour is None:  # the first frame of the pass: only its own result to go on
        return tensor_to_array(engine(content, init=own_start, callback=callback, iterations=settings.iterations).image)
    warped, trust = previous_in_place(neighbour[1].astype(np.float32), frame, neighbour[0], settings.flow)
    warped = array_to_tensor(warped)
    seen, weight = (torch.from_numpy(m)[None, None] for m in trust)
    start = seen * (PASS_BLEND * warped + (1 - PASS_BLEND) * own_start) + (1 - seen) * own_start
    result = engine(content, init=start, callback=callback, iterations=settings.iterations, previous=(warped, weight))
    return tensor_to_array(result.image)


def paint_video(source: FrameSource, engine, size: int, work_dir: Path, reporter=None, batch_size: int = 4,
                temporal_blend: float = 0.0) -> VideoRun:
    """Every frame of ``source`` through a network engine (``feedforward.FeedForward``), ``batch_size``
    frames a pass, into ``work_dir``; frames already there are kept, so an interrupted run resumes.

    With ``temporal_blend`` W > 0, each painted frame is blended with the previous one carried along
    the flow: W of the warped previous frame where the flow trusts it (by the reliability weight),
    the rest the network's own output. Each frame is blended with its predecessor as stored, so a
    resumed run gives the same frames.

    A frame that cannot be read or painted ends the run after the frames before it are stored.
    """
    if not 0.0 <= temporal_blend <= 1.0:
        raise UsageError(f"--temporal-blend must be between 0 and 1, not {temporal_blend}")
    reporter = reporter or QuietReporter()
    run = VideoRun(folder=Path(work_dir))
    reporter.start_batch(source.count, "frames")
    pending: list[tuple[int, str, np.ndarray]] = []
    previous = None  # (photo, painted frame as stored) of the frame before, for the blend

    def flush() -> bool:
        nonlocal previous
        if not pending:
            return True
        started = time.perf_counter()
        try:
            results = engine.stylize_batch(torch.cat([array_to_tensor(frame) for _, _, frame in pending]))
        except Exception as exc:  # noqa: BLE001 - out of memory, a session that fails: stop with what is stored
            run.failure = (f"frames {pending[0][0] + 1}-{pending[-1][0] + 1} ({pending[0][1]}...): "
                           f"{painting_failure(exc, pending[0][2])}")
            return False
        for (index, _, frame), result in zip(pending, results):
            painted = tensor_to_array(result.image)
            if temporal_blend > 0 and previous is not None:
                painted = blend_with_previous(painted, frame, previous, temporal_blend)
            save_image(array_to_tensor(painted), frame_path(work_dir, index))
            previous = (frame, painted)
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
            previous = (frame, stored)
        else:
            pending.append((index, name, frame))
            if len(pending) == batch_size and not flush():
                break
    if not run.failure:
        flush()
    return run


def blend_with_previous(painted: np.ndarray, frame: np.ndarray, previous, weight: float) -> np.ndarray:
    """``painted`` (frame t's network output, uint8) with ``weight`` of the previous output carried along
    the flow mixed in where the flow is trusted; ``previous`` is (photo t-1, output t-1)."""
    warped, trust = previous_in_place(previous[1].astype(np.float32), frame, previous[0])
    share = (weight * trust.weight)[..., None]
    return np.clip(np.round((1 - share) * painted + share * warped), 0, 255).astype(np.uint8)


def assemble(work_dir: Path, frames: int, output: Path, fps: float) -> int:
    """Encode the first ``frames`` frames in ``work_dir`` (a ``VideoRun.folder``) as ``output`` (mp4, no
    audio), atomically."""
    def stored_frames():
        for index in range(frames):
            frame = _stored(frame_path(work_dir, index))
            if frame is None:
                raise ImageError(frame_path(work_dir, index), "is missing or unreadable; run again to redo it")
            yield frame

    return write_video(stored_frames(), output, fps)


def remove_work_dir(work_dir: Path) -> None:
    shutil.rmtree(work_dir, ignore_errors=True)

