"""A video's work folder and records, and its frames painted by a trained network (``paint_video``).

Finished frames are written atomically to a work folder, with the settings that made them, so an
interrupted run picks up where it stopped. A run and its resumption give the same frames: each frame
is built from the previous one as stored (8-bit PNG), never from a float copy only one of them had.
Frames by optimisation are ``video_optimisation.py``'s; this module loads no torch, so a worker with
an exported network needs none.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import ImageError, UsageError
from ..media.flow import previous_in_place
from ..media.encode import DEFAULT_CRF, write_video
from ..media.frames import FrameSource
from ..media.images import array_to_picture, read_picture, save_image, tensor_to_array
from ..records import as_stored, differing
from .manifest import same_source, source_print, stat_print
from .progress import QuietReporter
from .regions import ClipMasks, for_frame
from .runner import painting_failure

SETTINGS_NAME = "nstbatch-video.json"


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


def stored_frame(path: Path) -> np.ndarray | None:
    """A finished frame as H x W x 3 uint8, or None if it is missing or unreadable (then it is redone)."""
    if not path.exists():
        return None
    try:
        return tensor_to_array(read_picture(path, max_pixels=None))
    except ImageError:
        return None


def numbered(frames):
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
            if isinstance(engine, ClipMasks):  # each frame with its own masks
                results = [for_frame(engine, index)(array_to_picture(frame)) for index, _, frame in pending]
            else:
                results = engine.stylize_batch(np.concatenate([array_to_picture(frame) for _, _, frame in pending]))
        except Exception as exc:  # noqa: BLE001 - out of memory, a session that fails: stop with what is stored
            run.failure = (f"frames {pending[0][0] + 1}-{pending[-1][0] + 1} ({pending[0][1]}...): "
                           f"{painting_failure(exc, pending[0][2])}")
            return False
        for (index, _, frame), result in zip(pending, results):
            painted = tensor_to_array(result.image)
            if temporal_blend > 0 and previous is not None:
                painted = blend_with_previous(painted, frame, previous, temporal_blend)
            save_image(array_to_picture(painted), frame_path(work_dir, index))
            previous = (frame, painted)
        run.seconds += time.perf_counter() - started
        run.done += len(pending)
        run.frames += len(pending)
        reporter.end_item(len(pending))
        pending.clear()
        return True

    for index, name, frame in numbered(source.read(size)):
        if name is None:
            if flush():
                run.failure = f"frame {index + 1}: {frame}"
            break
        stored = stored_frame(frame_path(work_dir, index))
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


def assemble(work_dir: Path, frames: int, output: Path, fps: float, audio_from: Path | None = None,
             codec: str = "h264", crf: int = DEFAULT_CRF, times: list[float] | None = None) -> tuple[int, bool]:
    """Encode the first ``frames`` frames in ``work_dir`` (a ``VideoRun.folder``) as ``output``, atomically,
    at their source times (None: evenly at ``fps``), with ``audio_from``'s sound trimmed to them (None:
    none); (frames written, whether sound went in)."""
    def stored_frames():
        for index in range(frames):
            frame = stored_frame(frame_path(work_dir, index))
            if frame is None:
                raise ImageError(frame_path(work_dir, index), "is missing or unreadable; run again to redo it")
            yield frame

    return write_video(stored_frames(), output, fps, audio_from, codec, crf, times)


def remove_work_dir(work_dir: Path) -> None:
    shutil.rmtree(work_dir, ignore_errors=True)

