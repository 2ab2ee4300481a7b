"""Writing a painted clip as a video people can play: H.264 in mp4 (yuv420p, the index at the front so it
streams), with the source clip's sound, atomically. PyAV and numpy are imported only to write: the
command line reads the codec names from here at start-up.

PyAV (FFmpeg's libraries in a wheel, no ffmpeg program needed) rather than OpenCV's writer, which writes
only MPEG-4 part 2 that browsers do not play, and no sound; rather than imageio-ffmpeg, which drives a
whole ffmpeg executable through a pipe and can neither read nor trim the audio without a second process.
"""

from __future__ import annotations

import os
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import Iterable

from ..atomic import atomic_path
from ..errors import ImageError, UsageError

# --codec: the FFmpeg encoders tried in order (a GPU's first: used where it opens, else the next). HEVC is
# NVIDIA's encoder alone: libx265 in PyAV 18's wheel aborts or segfaults on a clip of five small frames,
# every time here (benchmarks/RESULTS.md, the encoding table's note), and a crash after the painting is not
# an ending nstbatch offers.
ENCODERS = {"h264": ("h264_nvenc", "libx264"), "hevc": ("hevc_nvenc",), "vp9": ("libvpx-vp9",),
            "av1": ("libsvtav1", "libaom-av1")}
DEFAULT_CRF = 20  # x264's scale: 18 is visually lossless for most footage, 23 its own default
# x264's speed for the size: on the bundled clip at 256 px "veryfast" wrote a frame in half medium's time,
# and a file no larger (benchmarks/RESULTS.md, "Writing the painted clip"); "ultrafast" 2.5 times larger.
PRESET = "veryfast"
AUDIO_CODEC = "aac"

# What a painted clip says of its colours (FFmpeg's numbers: primaries, transfer, matrix, range): the
# source's description where it has one, else BT.709 in TV range, what players assume of HD video. The RGB
# frames are turned into YUV through the same matrix and range, so a player that follows the description
# shows the painted colours (untagged, FFmpeg converted through BT.601 and players guessed).
BT709 = (1, 1, 1, 1)
MATRICES = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "SMPTE170M", 7: "SMPTE240M", 9: "BT2020"}  # swscale's names
RANGES = {1: "MPEG", 2: "JPEG"}  # TV (limited) and PC (full) range


def write_video(frames: Iterable, path, fps: float, audio_from: Path | None = None, codec: str = "h264",
                crf: int = DEFAULT_CRF, times: list[float] | None = None,
                colour: tuple | None = None) -> tuple[int, bool]:
    """Encode RGB uint8 frames of one size (even sides) as ``path`` atomically, each at its time in ``times``
    (seconds from the first: a variable frame rate kept) or evenly at ``fps``, with ``audio_from``'s first
    audio track (if it has one) trimmed to the frames' duration, described as ``colour`` (the source's,
    frames.FrameSource.colour; None: BT.709); (frames written, whether sound was carried over)."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("no frames to write")
    return _write(first, frames, Path(path), fps, audio_from, codec, crf, times, described(colour))


def described(colour: tuple | None) -> tuple[int, int, int, int]:
    """The colour description a painted clip is written with: ``colour`` where its matrix is one frames can
    be converted through, its range TV where unspecified; else BT.709."""
    if colour is None or colour[2] not in MATRICES:
        return BT709
    primaries, transfer, matrix, colour_range = colour
    return primaries, transfer, matrix, colour_range if colour_range in RANGES else 1


MILLISECOND = Fraction(1, 1000)  # the time base frames are placed in when the clip gave their times


def _write(first, frames, path: Path, fps: float, audio_from, codec: str, crf: int, times,
           colour: tuple[int, int, int, int]) -> tuple[int, bool]:
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 logs through its own variable: errors only
    import av
    import numpy as np

    height, width = first.shape[:2]
    with atomic_path(path, suffix=path.suffix) as tmp:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as container:
            video = _open_encoder(container, codec, fps, width, height, crf)
            context = video.codec_context
            context.color_primaries, context.color_trc, context.colorspace, context.color_range = colour
            matrix, colour_range = MATRICES[colour[2]], RANGES[colour[3]]
            if times is not None:
                video.codec_context.time_base = MILLISECOND
            # Every stream is declared before the first packet: the header is written with it.
            sound = _SoundTrack.declare(container, audio_from) if audio_from is not None else None
            count = 0
            for frame in chain([first], frames):
                if frame.shape[:2] != (height, width):
                    raise ImageError(path, f"frame {count + 1} is {frame.shape[1]}x{frame.shape[0]}, not {width}x{height}")
                picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(
                    format="yuv420p", dst_colorspace=matrix, dst_color_range=colour_range)
                if times is not None:
                    picture.pts, picture.time_base = round(times[count] * 1000), MILLISECOND
                else:
                    picture.pts = count
                container.mux(video.encode(picture))
                count += 1
            container.mux(video.encode(None))
            seconds = times[count - 1] + 1 / fps if times is not None else count / fps  # the last frame lasts too
            carried = sound.carry(container, seconds) if sound is not None else False
    return count, carried


def _open_encoder(container, codec: str, fps: float, width: int, height: int, crf: int):
    """A video stream in ``container`` on the first of the codec's encoders that works here (NVIDIA's only
    on a machine with an NVIDIA GPU, and only if it opens), set for quality ``crf``; a usage error naming
    what is missing."""
    import av

    rate = Fraction(fps).limit_denominator(1001)
    tried = []
    for name in ENCODERS[codec]:
        if name not in av.codecs_available:
            tried.append(f"{name} is not in this FFmpeg")
            continue
        if name.endswith("_nvenc") and not _nvenc_opens(name, width, height, rate):
            tried.append(f"{name} needs an NVIDIA GPU")
            continue
        stream = container.add_stream(name, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = 1 / rate
        stream.options = _quality(name, crf)
        if name == "hevc_nvenc":
            stream.codec_tag = "hvc1"  # what Apple's players need to take HEVC in mp4
        return stream
    raise UsageError(f"--codec {codec}: no encoder for it works here ({'; '.join(tried)})")


def _quality(encoder: str, crf: int) -> dict:
    """The encoder's options for quality ``crf``."""
    if encoder.endswith("_nvenc"):
        return {"rc": "vbr", "cq": str(crf)}
    options = {"crf": str(crf)}
    if encoder == "libx264":
        options["preset"] = PRESET
    return options


def _nvenc_opens(name: str, width: int, height: int, rate: Fraction) -> bool:
    """Whether NVIDIA's encoder opens here: tried only where the driver's device exists, so a machine
    without one never loads its libraries."""
    import av

    if not Path("/dev/nvidiactl").exists():
        return False
    try:
        probe = av.codec.CodecContext.create(name, "w")
        probe.width, probe.height, probe.pix_fmt, probe.time_base = width, height, "yuv420p", 1 / rate
        probe.open()
    except (av.FFmpegError, ValueError):
        return False
    return True


class _SoundTrack:
    """The source's first audio track on its way into the output: its packets copied as they are where it is
    AAC already (no second lossy encoding), else decoded and encoded as AAC."""

    def __init__(self, clip, heard, out, copy: bool):
        self.clip, self.heard, self.out, self.copy = clip, heard, out, copy

    @classmethod
    def declare(cls, container, source: Path):
        """The track, its output stream added to ``container``; None when the source has no sound (or is
        a folder of frames, or cannot be read for it)."""
        import av

        try:
            clip = av.open(str(source))
        except (av.FFmpegError, OSError):
            return None
        if not clip.streams.audio:
            clip.close()
            return None
        heard = clip.streams.audio[0]
        if heard.codec_context.name == AUDIO_CODEC:
            return cls(clip, heard, container.add_stream_from_template(heard), copy=True)
        rate = heard.codec_context.sample_rate or 48000
        layout = heard.codec_context.layout.name if heard.codec_context.layout else "stereo"
        return cls(clip, heard, container.add_stream(AUDIO_CODEC, rate=rate, layout=layout), copy=False)

    def carry(self, container, seconds: float) -> bool:
        """The track up to ``seconds`` (the frames painted) into ``container``; whether any went in."""
        with self.clip:
            return self._copy(container, seconds) if self.copy else self._encode(container, seconds)

    def _copy(self, container, seconds: float) -> bool:
        """Whole packets (AAC's are 1024 samples: about 21 ms at 48 kHz) up to the one that reaches ``seconds``."""
        start, copied = None, 0
        for packet in self.clip.demux(self.heard):
            if packet.dts is None or packet.pts is None:
                continue  # the demuxer's empty packet at the end
            start = packet.pts if start is None else start
            if (packet.pts - start) * packet.time_base >= seconds:
                break
            packet.pts, packet.dts = packet.pts - start, packet.dts - start
            packet.stream = self.out
            container.mux(packet)
            copied += 1
        return copied > 0

    def _encode(self, container, seconds: float) -> bool:
        import av

        rate, layout = self.out.codec_context.sample_rate, self.out.codec_context.layout.name
        resampler = av.AudioResampler(format=self.out.codec_context.format.name, layout=layout, rate=rate)
        wanted = int(round(seconds * rate))
        kept = 0
        for frame in self.clip.decode(self.heard):
            for chunk in resampler.resample(frame):
                if kept + chunk.samples > wanted:
                    chunk = _first_samples(chunk, wanted - kept, layout, rate)
                if chunk.samples == 0:
                    break
                chunk.pts = kept
                kept += chunk.samples
                container.mux(self.out.encode(chunk))
            if kept >= wanted:
                break
        container.mux(self.out.encode(None))
        return kept > 0


def _first_samples(frame, samples: int, layout: str, rate: int):
    """``frame`` cut to its first ``samples`` samples."""
    import av
    import numpy as np

    array = frame.to_ndarray()
    cut = array[..., :samples] if frame.format.is_planar else array[:, : samples * len(frame.layout.channels)]
    short = av.AudioFrame.from_ndarray(np.ascontiguousarray(cut), format=frame.format.name, layout=layout)
    short.sample_rate = rate
    return short
