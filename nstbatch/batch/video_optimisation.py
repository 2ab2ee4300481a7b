"""Stylising a video by optimisation: each frame starts from the previous stylised frame carried along the
optical flow and is held to it by a temporal loss where the flow can be trusted (Ruder et al. 2016).

Frames live in the work folder ``video_work.py`` keeps, so an interrupted run picks up where it stopped.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import UsageError
from ..media.flow import FLOW_METHODS, previous_in_place
from ..media.frames import FrameSource
from ..media.images import array_to_tensor, tensor_to_array
from ..runtime.transfer import StyleTransfer
from .progress import QuietReporter
from .painted_regions import for_frame
from .runner import painting_failure
from .video_work import VideoRun, frame_path, numbered, pass_dir, store_frame, stored_frame


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
    for index, name, frame in numbered(source.read(settings.size)):
        if name is None:
            run.failure = f"frame {index + 1}: {frame}"
            break
        path = frame_path(work_dir, index)
        stylised = stored_frame(path)
        if stylised is not None and stylised.shape == frame.shape:
            run.resumed += 1
        else:
            iterations = settings.iterations if history else settings.first_iterations
            stylised = _paint_and_store(
                lambda callback: stylize_frame(for_frame(engine, index), frame, history, settings, callback), frame, path,
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
        stylised = stored_frame(path)
        if stylised is not None and stylised.shape == photos[index].shape:
            run.resumed += 1
        else:
            own = stored_frame(frame_path(work_dir, index, number - 1))
            if own is None:
                run.failure = f"pass {number}: {frame_path(work_dir, index, number - 1)} is missing or unreadable"
                return
            label = f"pass {number}, frame {index + 1}"
            stylised = _paint_and_store(
                lambda callback: _refine(for_frame(engine, index), photos[index], own, neighbour, settings, callback),
                photos[index],
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
    failure = store_frame(array_to_tensor(stylised), path)
    if failure:
        run.failure = f"{where}: {failure}"
        return None
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
