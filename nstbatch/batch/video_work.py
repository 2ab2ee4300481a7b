"""A video's work folder and records, and its frames painted by a trained network (``paint_video``).

Finished frames are written atomically to a work folder, with the settings that made them, so an
interrupted run picks up where it stopped. A run and its resumption give the same frames: each frame
is built from the previous one as stored (8-bit PNG), never from a float copy only one of them had.
Frames by optimisation are ``video_optimisation.py``'s; this module loads no torch, so a worker with
an exported network needs none.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import TEMP_PREFIX, atomic_path
from ..errors import ImageError, UsageError
from ..files import read_own
from ..media.flow import previous_in_place
from ..media.encode import DEFAULT_CRF, write_video
from ..media.frames import FrameSource
from ..media.images import array_to_picture, read_picture, save_image, tensor_to_array
from ..records import as_stored, differing, file_sha256
from .manifest import SOURCE_FIELDS, stat_print
from .progress import QuietReporter
from .painted_regions import ClipMasks, for_frame
from .runner import painting_failure

SETTINGS_NAME = "nstbatch-video.json"
FRAME_NAME = re.compile(r"frame_(\d{6})\.png")  # what nstbatch names a painted frame: the only files it removes
WORK_SUBFOLDERS = re.compile(r"pass\d+|keyframes|network")  # what it makes inside a work folder
ALL_FRAMES = sys.maxsize  # a clip proven unchanged: every frame painted from it stands


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


def input_print(path: Path, recorded: dict | None = None) -> dict:
    """The input as it is now: ``{"clip": fingerprint}`` for a video file, ``{"frames": [fingerprint, ...]}``
    (each with the frame's name) for a folder of frames. A fingerprint is the file's size, time and
    content hash; a hash in ``recorded`` is reused for a file whose size and time are the same, so a
    re-run reads only what changed."""
    from ..media.frames import frame_files

    known = {}
    if isinstance(recorded, dict):
        for entry in [recorded.get("clip"), *(recorded.get("frames") or [])]:
            if _well_formed(entry):
                known[entry["path"]] = entry
    path = Path(path)
    files = frame_files(path) if path.is_dir() else [path]
    prints = []
    for file in files:
        real = os.path.realpath(file)
        now = {"path": real, **stat_print(file)}
        old = known.get(real)
        same = old is not None and (old["size"], old["mtime_ns"]) == (now["size"], now["mtime_ns"])
        prints.append({**now, "name": file.name, "sha256": old["sha256"] if same else file_sha256(file)})
    return {"frames": prints} if path.is_dir() else {"clip": prints[0]}


def _well_formed(entry) -> bool:
    return isinstance(entry, dict) and all(isinstance(entry.get(k), t) and not isinstance(entry.get(k), bool)
                                           for k, t in SOURCE_FIELDS.items())


def proven_frames(recorded, now: dict) -> int:
    """How many leading frames of the input ``now`` (``input_print``) are those ``recorded`` says painted
    frames were made from, by content: every frame (ALL_FRAMES) or none for a clip, the frames up to
    the first that differs for a folder. A misshapen record proves nothing."""
    if not isinstance(recorded, dict):
        return 0
    if "clip" in now:
        clip = recorded.get("clip")
        return ALL_FRAMES if _well_formed(clip) and clip["sha256"] == now["clip"]["sha256"] else 0
    frames = recorded.get("frames")
    if not isinstance(frames, list):
        return 0
    proven = 0
    for old, new in zip(frames, now["frames"]):
        if not (_well_formed(old) and old.get("name") == new["name"] and old["sha256"] == new["sha256"]):
            break
        proven += 1
    return proven


def prepare_work_dir(work_dir: Path, record: dict, overwrite: bool, source: Path) -> int:
    """Make the work folder ready and say which of its frames still stand: those painted from the input
    as it is now (``source``, by content, frame by frame) with these settings. Frames painted from a
    clip since replaced, or from frames since changed (and every frame after them, each built on the
    one before), are removed and painted again; how many were removed is returned. Frames made with other
    settings are refused, unless told to start again (then only nstbatch's own files are removed).
    A folder holding anything but a work folder's files is refused: it is not nstbatch's to write in."""
    work_dir = Path(work_dir)
    record = as_stored(record)
    settings_file = work_dir / SETTINGS_NAME
    remove_leftover(work_dir)
    if work_dir.is_symlink():
        raise UsageError(f"{work_dir}: the work folder is a link; nstbatch does not follow links for its own "
                         f"files: remove it, or choose another --frames-dir")
    stored = _read_work_record(settings_file)
    if stored is None and work_dir.is_dir() and any(work_dir.iterdir()):
        raise UsageError(f"{work_dir}: not an nstbatch work folder (no {SETTINGS_NAME}), and not empty; nstbatch "
                         f"writes frames only into a new or empty folder: choose another --frames-dir")
    previous = stored.get("settings") if stored else None
    if stored is not None and previous != record and not overwrite:
        changed = differing(previous if isinstance(previous, dict) else {}, record)
        raise UsageError(f"{work_dir}: holds frames made with other settings ({', '.join(changed)} differ); "
                         f"pass --overwrite to start again, or choose another --frames-dir")
    recorded = stored.get("input") if stored else None
    now = input_print(source, recorded)
    standing = 0 if overwrite else proven_frames(recorded, now)
    removed = _remove_frames(work_dir, standing, standing < _frames_in(recorded, now)) if stored is not None else 0
    work_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(settings_file) as tmp:
        tmp.write_text(json.dumps({"settings": record, "input": now}, indent=1, sort_keys=True), encoding="utf-8")
    return removed


def _read_work_record(path: Path) -> dict | None:
    """A work folder's record ({"settings", "input"}); {} for one that cannot be read or is of another
    shape (an older version's: nothing in it is proven), None where there is none."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        stored = json.loads(read_own(path))
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) and "settings" in stored else {}


def _frames_in(recorded, now: dict) -> int:
    """How many frames the input had, then or now, whichever is more (ALL_FRAMES for a clip)."""
    if "clip" in now:
        return ALL_FRAMES
    before = recorded.get("frames") if isinstance(recorded, dict) else None
    return max(len(now["frames"]), len(before) if isinstance(before, list) else 0)


def _remove_frames(work_dir: Path, standing: int, changed: bool) -> int:
    """Remove nstbatch's own frames from frame ``standing`` on (counted from 0); where the input
    ``changed``, also what was built from all its frames (later passes, keyframes and their network).
    How many frames went."""
    removed = 0
    if not work_dir.is_dir():
        return 0
    for path in work_dir.iterdir():
        found = FRAME_NAME.fullmatch(path.name)
        if found and int(found[1]) > standing and path.is_file() and not path.is_symlink():
            path.unlink()
            removed += 1
    if changed:
        for folder in work_dir.iterdir():
            if WORK_SUBFOLDERS.fullmatch(folder.name) and folder.is_dir() and not folder.is_symlink():
                removed += sum(1 for path in folder.iterdir() if FRAME_NAME.fullmatch(path.name))
                shutil.rmtree(folder)
    return removed


def made_with_path(output: Path) -> Path:
    """Beside a finished video, the settings that made it: ``clip.mp4`` -> ``clip.mp4.nstbatch.json``."""
    return output.with_name(output.name + ".nstbatch.json")


def already_made(output: Path, made_with: dict, overwrite: bool, source: Path) -> bool:
    """Whether ``output`` is done: its record beside it describes the file as it is now, made from
    ``source`` as it is now (a clip, or every frame of a folder, by content) with these settings. A usage
    error naming what differs if that record says other settings; False (make it again) when nothing
    proves it, as after a crash between writing the video and its record."""
    if overwrite or not output.exists():
        return False
    try:
        record = json.loads(read_own(made_with_path(output)))
        previous, recorded_input = record["made_with"], record["input"]
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
    now = input_print(source, recorded_input)
    return proven_frames(recorded_input, now) >= len(now.get("frames", [None]))


def record_made_with(output: Path, made_with: dict, source: Path) -> None:
    """Beside the finished video: its settings, the input it was made from (``input_print``), and the
    video as written."""
    record = {"made_with": made_with, "written": stat_print(output), "input": input_print(source)}
    with atomic_path(made_with_path(output)) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")


def store_frame(picture, path: Path) -> str | None:
    """Write a finished frame (1 x 3 x H x W) atomically; None, or why it could not be (a full disk, a
    folder gone read-only), for the run's failure line: what is stored stays."""
    try:
        save_image(picture, path)
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    return None


def stored_frame(path: Path) -> np.ndarray | None:
    """A finished frame as H x W x 3 uint8, or None if it is missing or unreadable (then it is redone)."""
    if not path.exists():
        return None
    try:
        return tensor_to_array(read_picture(path))
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
            results = _painted(engine, pending)
        except Exception as exc:  # noqa: BLE001 - out of memory, a session that fails: stop with what is stored
            run.failure = (f"frames {pending[0][0] + 1}-{pending[-1][0] + 1} ({pending[0][1]}...): "
                           f"{painting_failure(exc, pending[0][2])}")
            return False
        previous = _store(run, pending, results, work_dir, temporal_blend, previous, reporter)
        if previous is None:
            return False
        run.seconds += time.perf_counter() - started
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


def _store(run: VideoRun, frames: list, results: list, work_dir: Path, temporal_blend: float, previous, reporter):
    """Each of ``frames`` painted (``results``), blended with the frame before as stored, written and counted
    in ``run``; the last (photo, painted frame), or None when one could not be written (``run.failure``)."""
    for (index, _, frame), result in zip(frames, results):
        painted = tensor_to_array(result.image)
        if temporal_blend > 0 and previous is not None:
            painted = blend_with_previous(painted, frame, previous, temporal_blend)
        failure = store_frame(array_to_picture(painted), frame_path(work_dir, index))
        if failure:
            run.failure = f"frame {index + 1}: {failure}"
            return None
        previous = (frame, painted)
        run.done += 1
        run.frames += 1
        reporter.end_item()
    return previous


def _painted(engine, frames: list[tuple[int, str, np.ndarray]]) -> list:
    """The network's results for ``frames`` ((index, name, frame) each): in one pass, or one a frame with
    its own masks when painting by region."""
    if isinstance(engine, ClipMasks):
        return [for_frame(engine, index)(array_to_picture(frame)) for index, _, frame in frames]
    return engine.stylize_batch(np.concatenate([array_to_picture(frame) for _, _, frame in frames]))


def blend_with_previous(painted: np.ndarray, frame: np.ndarray, previous, weight: float) -> np.ndarray:
    """``painted`` (frame t's network output, uint8) with ``weight`` of the previous output carried along
    the flow mixed in where the flow is trusted; ``previous`` is (photo t-1, output t-1)."""
    warped, trust = previous_in_place(previous[1].astype(np.float32), frame, previous[0])
    share = (weight * trust.weight)[..., None]
    return np.clip(np.round((1 - share) * painted + share * warped), 0, 255).astype(np.uint8)


def assemble(work_dir: Path, frames: int, output: Path, fps: float, audio_from: Path | None = None,
             codec: str = "h264", crf: int = DEFAULT_CRF, times: list[float] | None = None,
             colour: tuple | None = None) -> tuple[int, bool]:
    """Encode the first ``frames`` frames in ``work_dir`` (a ``VideoRun.folder``) as ``output``, atomically,
    at their source times (None: evenly at ``fps``), with ``audio_from``'s sound trimmed to them (None:
    none), described with the source's ``colour``; (frames written, whether sound went in)."""
    def stored_frames():
        for index in range(frames):
            frame = stored_frame(frame_path(work_dir, index))
            if frame is None:
                raise ImageError(frame_path(work_dir, index), "is missing or unreadable; run again to redo it")
            yield frame

    return write_video(stored_frames(), output, fps, audio_from, codec, crf, times, colour)


def _leftover(work_dir: Path) -> Path:
    return Path(work_dir).with_name(f"{TEMP_PREFIX}{Path(work_dir).name}.removing")


def remove_work_dir(work_dir: Path) -> None:
    """Remove a finished video's work folder: renamed aside first (one step), so a kill while removing
    leaves no half work folder whose frames a later run could take for its own."""
    work_dir = Path(work_dir)
    if work_dir.is_symlink() or not work_dir.is_dir():
        return
    aside = _leftover(work_dir)
    shutil.rmtree(aside, ignore_errors=True)
    os.rename(work_dir, aside)
    shutil.rmtree(aside, ignore_errors=True)


def remove_leftover(work_dir: Path) -> None:
    """What a run killed while removing ``work_dir`` left aside."""
    aside = _leftover(work_dir)
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)

