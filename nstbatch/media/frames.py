"""Video frames in: a video file or a folder of numbered frames, read as RGB uint8 arrays at the working
size. Writing the result is ``encode.py``'s.

Everything that can be checked before work starts is checked in ``open_frames`` (the file opens and
yields a frame; a folder has frames, all readable as images and all of one size), so bad input is a
usage error with nothing written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from PIL import UnidentifiedImageError

from ..errors import ImageError, UsageError
from ..files import NotRegularFile, check_regular
from .images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, opened, read_picture, tensor_to_array

DEFAULT_FOLDER_FPS = 25.0


def frame_order(path: Path) -> tuple:
    """Sort key that puts frame_2 before frame_10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name))


def working_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(width, height) with the long side ``long_side``, both even: mp4 encoders drop an odd column."""
    scale = long_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


@dataclass
class FrameSource:
    path: Path
    count: int  # frames that will be read (the container's own count for a video file, capped)
    fps: float
    width: int  # of the source
    height: int
    files: list[Path] | None = None  # a folder's frames, in order; None for a video file
    times: list[float] | None = None  # a video file's frames' times in seconds from the first, as read
    turns: int = 0  # quarter turns counterclockwise that make a video file's stored frames upright
    # A video file's colour description as FFmpeg numbers it (primaries, transfer, matrix, range); None
    # where it has none (a folder of frames, an untagged file). Frames are decoded to RGB through it.
    colour: tuple[int, int, int, int] | None = None

    def read(self, long_side: int) -> Iterator[tuple[str, np.ndarray]]:
        """(name, H x W x 3 RGB uint8 frame at the working size) for each frame, in order; a video file's
        frame times are kept in ``times`` as they are read (variable frame rates too).

        A frame that cannot be decoded raises ImageError naming it.
        """
        size = working_size(self.width, self.height, long_side)
        if self.files is not None:
            for file in self.files[: self.count]:
                frame = read_picture(file)  # Pillow: a truncated frame raises here
                yield file.name, _resize(tensor_to_array(frame), size)
            return
        import av

        self.times = []
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            try:
                for index, frame in enumerate(container.decode(stream)):
                    if index >= self.count:
                        return
                    self.times.append(float(frame.time) if frame.time is not None else index / self.fps)
                    upright = np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), self.turns))
                    yield f"frame {index}", _resize(upright, size)
            except av.FFmpegError as exc:
                raise ImageError(self.path, f"frame {len(self.times) + 1} cannot be decoded ({exc})") from None

    def frame_times(self, frames: int) -> list[float] | None:
        """The first ``frames`` frames' times from the first frame's, where the clip gave them (None: a
        folder, or times not read this run: the writer then spaces frames evenly at ``fps``)."""
        if not self.times or len(self.times) < frames:
            return None
        start = self.times[0]
        return [t - start for t in self.times[:frames]]


def _resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    # INTER_AREA when shrinking: it averages, so fine detail does not alias into flicker.
    shrinking = size[0] < frame.shape[1]
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def open_frames(path, max_frames: int | None = None, fps: float | None = None) -> FrameSource:
    """Check a video file or frame folder and describe it; raise UsageError saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: does not exist")
    if not path.is_dir():
        try:
            check_regular(path)
        except NotRegularFile as exc:
            raise ImageError(path, f"{exc.strerror}; give a video file or a folder of frames") from None
    source = _open_folder(path, fps) if path.is_dir() else _open_video(path, fps)
    if max_frames is not None:
        source.count = min(source.count, max_frames)
    return source


def frame_files(path: Path) -> list[Path]:
    """The image files of a folder of frames (or of masks, one a frame), in frame order."""
    return sorted((f for f in Path(path).iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES), key=frame_order)


def _open_folder(path: Path, fps: float | None) -> FrameSource:
    files = frame_files(path)
    if not files:
        raise UsageError(f"{path}: no frames found (looked for {' '.join(IMAGE_SUFFIXES)})")
    sizes = {}
    too_large = f"a frame of more than {DEFAULT_MAX_PIXELS:,} pixels; shrink the frames first"
    for file in files:
        try:
            with opened(file) as img:  # reads the header only; a decompression bomb is an ImageError here
                if img.width * img.height > DEFAULT_MAX_PIXELS:
                    raise UsageError(f"{file}: {too_large}")
                sizes.setdefault(img.size, file)
        except ImageError:
            raise UsageError(f"{file}: {too_large}") from None
        except (UnidentifiedImageError, OSError) as exc:
            raise UsageError(f"{file}: not a frame Pillow can read ({exc})") from None
    if len(sizes) > 1:
        (first, a), (second, b) = list(sizes.items())[:2]
        raise UsageError(f"{path}: frames differ in size ({a.name} is {first[0]}x{first[1]}, "
                         f"{b.name} is {second[0]}x{second[1]}); resize them to one size first")
    (width, height), = sizes
    return FrameSource(path, len(files), fps or DEFAULT_FOLDER_FPS, width, height, files)


def _open_video(path: Path, fps: float | None) -> FrameSource:
    """A video file decoded by PyAV (FFmpeg): mp4, mov, mkv, webm and the rest. A file it cannot decode,
    or one without a picture, is one line and exit 1, like any input that cannot be used."""
    import av

    if path.stat().st_size == 0:
        raise ImageError(path, "is empty (0 bytes)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ImageError(path, "holds no video stream (sound only?)")
            stream = container.streams.video[0]
            first = next(container.decode(stream), None)
            if first is None:
                raise ImageError(path, "holds no frame that can be decoded")
            rate = stream.average_rate or stream.guessed_rate
            # The container's count where it keeps one (mp4, mov); else the packets, counted without decoding
            # (mkv and webm keep none).
            count = stream.frames or _packets(container, stream) or 1
    except av.FFmpegError as exc:
        why = getattr(exc, "strerror", None) or str(exc).splitlines()[0][:100]
        raise ImageError(path, f"is not a video that can be decoded ({why}: an unknown container or codec, or a "
                               f"damaged file)") from None
    source_fps = float(rate) if rate else 0.0
    if not fps and not (0 < source_fps < 1000):
        fps = DEFAULT_FOLDER_FPS  # some containers carry no usable rate
    # A phone stores its frames as the sensor saw them and says in the container how to turn them for
    # display (FFmpeg's rotation: degrees counterclockwise); they are painted, and written, upright.
    turns = round(getattr(first, "rotation", 0) / 90) % 4
    width, height = (first.height, first.width) if turns % 2 else (first.width, first.height)
    return FrameSource(path, count, fps or source_fps, width, height, turns=turns, colour=colour_of(first))


UNSPECIFIED = 2  # FFmpeg's "unspecified" primaries, transfer and matrix (range: 0)


def colour_of(frame) -> tuple[int, int, int, int] | None:
    """A decoded frame's colour description (primaries, transfer, matrix, range), or None if it has none."""
    description = (frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range)
    return None if description[:3] == (UNSPECIFIED,) * 3 else description


def _packets(container, stream) -> int:
    container.seek(0)
    return sum(1 for packet in container.demux(stream) if packet.size)

