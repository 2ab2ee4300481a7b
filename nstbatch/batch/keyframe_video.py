"""`nstbatch video --keyframes N`: N frames painted by optimisation, a network trained on them for this
clip alone (``training/keyframes.py``), then every frame through that network (``video.paint_video``).

Everything lives in the video's work folder, so an interrupted run resumes where it stopped: each
painted keyframe in ``keyframes/`` as soon as it is done, the network's checkpoint in ``network/``
(every 100 steps, and when interrupted), the frames as ``video --model`` keeps them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..errors import ImageError
from ..network.feedforward import FeedForward
from ..network.torch_painter import TorchPainter
from ..runtime.transfer import StyleTransfer
from ..training.keyframes import STYLE_NAME, KeyframeSettings, KeyframeTrainer, keyframe_indices
from ..media.frames import FrameSource
from ..media.images import array_to_tensor, load_image, tensor_to_array
from .progress import QuietReporter
from .runner import painting_failure
from .video_work import VideoRun, paint_video, store_frame, stored_frame

KEYFRAMES_DIR = "keyframes"
NETWORK_DIR = "network"


def keyframe_path(work_dir: Path, index: int) -> Path:
    return Path(work_dir) / KEYFRAMES_DIR / f"frame_{index + 1:06d}.png"


def _read_keyframes(source: FrameSource, size: int, indices: list[int]) -> dict[int, np.ndarray]:
    """The frames at ``indices`` (fewer where the container held fewer frames than it announced)."""
    wanted, found = set(indices), {}
    for index, (_, frame) in enumerate(source.read(size)):
        if index in wanted:
            found[index] = frame
        if index >= indices[-1]:
            break
    return found


def keyframe_video(source: FrameSource, engine: StyleTransfer, size: int, work_dir: Path, keyframes: int,
                   iterations: int, settings: KeyframeSettings, reporter=None, batch_size: int = 4,
                   temporal_blend: float = 0.0) -> VideoRun:
    """Paint ``keyframes`` frames with ``engine`` (``iterations`` each, from the photo), train the clip's
    network on them, and paint every frame with it into ``work_dir``. Returns the frames' run; a
    keyframe that cannot be read or painted stops it with ``failure`` said, the work so far kept."""
    reporter = reporter or QuietReporter()
    run = VideoRun(folder=Path(work_dir))
    indices = keyframe_indices(source.count, keyframes)
    try:
        frames = _read_keyframes(source, size, indices)
    except ImageError as exc:
        run.failure = f"reading the keyframes: {exc}"
        return run
    if not frames:
        run.failure = f"{source.path}: no frames could be read"
        return run
    reporter.start_batch(len(frames), "keyframes")
    painted = {}
    for index, frame in frames.items():
        path = keyframe_path(work_dir, index)
        stored = stored_frame(path)
        if stored is not None:
            painted[index] = stored
            reporter.end_item()
            continue
        reporter.start_item(f"keyframe {index + 1}", iterations)
        started = time.perf_counter()
        try:
            result = engine(array_to_tensor(frame), iterations=iterations,
                            callback=lambda step: reporter.iteration(step.iteration, step.losses["total"]))
        except Exception as exc:  # noqa: BLE001 - out of memory, divergence: stop, keep the keyframes done
            run.failure = f"keyframe {index + 1}: {painting_failure(exc, frame)}"
            return run
        failure = store_frame(result.image, path)
        if failure:
            run.failure = f"keyframe {index + 1}: {failure}"
            return run
        painted[index] = tensor_to_array(load_image(path))  # as stored, so a resumed run trains on the same
        run.seconds += time.perf_counter() - started
        reporter.end_item()
    started = time.perf_counter()
    network = _train(frames, painted, settings, Path(work_dir) / NETWORK_DIR, engine.device, reporter)
    run.seconds += time.perf_counter() - started  # the keyframes and the training count in the pace a frame
    painter = FeedForward(TorchPainter(network, engine.device), [STYLE_NAME])
    frames_run = paint_video(source, painter, size, work_dir, reporter, batch_size, temporal_blend)
    frames_run.seconds += run.seconds
    return frames_run


def _train(frames: dict, painted: dict, settings: KeyframeSettings, folder: Path, device: torch.device, reporter):
    photos = torch.cat([array_to_tensor(frames[i]) for i in sorted(frames)])
    paintings = torch.cat([array_to_tensor(painted[i]) for i in sorted(frames)])
    trainer = KeyframeTrainer(photos, paintings, settings, folder, device)
    reporter.start_item("training the clip's network", settings.steps)
    network = trainer.run(lambda step, losses: reporter.iteration(step, losses["total"]))
    reporter.end_item(0)
    return network
