"""The painted clip's bit rate against its source's, and how close its frames stay to the painted PNGs, for
x264 qualities (--crf): what chose `nstbatch video`'s default.

Each clip is painted at its own size by the bundled network (nstbatch/models/starry_night), its frames kept as
the PNGs `video` stores; each quality writes them as `video` does (libx264, preset veryfast, yuv420p, the
source's colour description), and the mp4 is decoded again: the mean SSIM of each frame's luma against the
PNG's (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5), and its video bit rate over the source's.

Clips: the first --seconds of ../shared/data/video/cockatoo.mp4 (1280x720 H.264, a web clip at a low
bit rate) as it is, and the same frames written as a phone writes a clip (H.264 at x264's --crf 18, BT.709
described, AAC sound; a stand-in: no clear-licence phone clip is at hand).

    .venv/bin/python benchmarks/bench_bitrate.py [--seconds 3] [--crfs 20,23,26,28]

Prints the table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
from _results import cpu_name, publish

from nstbatch.batch.video_work import frame_path
from nstbatch.media import encode
from nstbatch.media.encode import PRESET, write_video
from nstbatch.media.frames import open_frames
from nstbatch.media.images import read_picture, tensor_to_array

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT.parent / "shared" / "data" / "video" / "cockatoo.mp4"
PAINTERS = ("starry_night@0", "starry_night_steady@0.5")  # network@--temporal-blend
SSIM_TARGET, RATE_TARGET = 0.98, 3.0


def luma(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722]))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two RGB frames' luma (BT.709 weights), on the 0-255 scale."""
    x, y = luma(a), luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(image):
        return cv2.GaussianBlur(image, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return float(np.mean(((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))))


def video_kbps(path: Path) -> float:
    """The video stream's bit rate: its packets' bytes over its duration."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        size = sum(p.size for p in packets)
        seconds = float(max(p.pts + (p.duration or 0) for p in packets) * stream.time_base)
    return 8 * size / seconds / 1000


def phone_like(frames: list[np.ndarray], fps: float, path: Path) -> Path:
    """``frames`` written as a phone writes a clip: H.264 at x264's crf 18, BT.709 described, with AAC sound."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=round(fps))
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt, video.options = "yuv420p", {"crf": "18", "preset": "medium"}
        context = video.codec_context
        context.color_primaries, context.color_trc, context.colorspace, context.color_range = 1, 1, 1, 1
        audio = container.add_stream("aac", rate=48000, layout="stereo")
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
            picture.pts = index
            container.mux(video.encode(picture))
        container.mux(video.encode(None))
        samples = int(48000 * len(frames) / fps)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            block = np.repeat(tone[None, start:start + 1024], 2, axis=0)
            chunk = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            chunk.sample_rate, chunk.pts = 48000, start
            container.mux(audio.encode(chunk))
        container.mux(audio.encode(None))
    return path


def painted(clip: Path, frames: int, model: str, blend: float, work: Path) -> list[np.ndarray]:
    """The clip's first ``frames`` frames as `nstbatch video` paints them at the clip's own size (``model``,
    ``--temporal-blend blend``): the PNGs it stores in its work folder."""
    folder = work / f"{clip.stem}-{model}-{blend:g}"
    command = [sys.executable, "-m", "nstbatch", "video", "-i", str(clip), "-m", model, "-o", str(folder) + ".mp4",
               "--frames-dir", str(folder), "--max-frames", str(frames), "--max-size", "4096", "--device", "cpu",
               "--temporal-blend", str(blend), "-q"]
    subprocess.run(command, check=True)
    return [tensor_to_array(read_picture(frame_path(folder, index))) for index in range(frames)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--crfs", default="20,23,26,28")
    parser.add_argument("--painters", default=",".join(PAINTERS), help="network@temporal-blend, comma-separated")
    parser.add_argument("--presets", default=PRESET, help="x264 presets, comma-separated (the first is video's)")
    args = parser.parse_args()
    crfs = [int(v) for v in args.crfs.split(",")]
    work = Path(tempfile.mkdtemp(prefix="nstbatch-bitrate-"))
    whole = open_frames(CLIP)
    frames = round(args.seconds * whole.fps)
    cut = open_frames(CLIP, frames)
    photos = [frame for _, frame in cut.read(max(cut.width, cut.height))]
    clips = {"web clip (as it is)": CLIP, "phone-like (crf 18, BT.709, AAC)": phone_like(photos, cut.fps,
                                                                                            work / "phone.mp4")}
    rows = []
    for label, path in clips.items():
        source = open_frames(path, frames)
        source_kbps = video_kbps(path)
        for painter in args.painters.split(","):
            model, blend = painter.split("@")
            pngs = painted(path, frames, model, float(blend), work)
            for preset in args.presets.split(","):
                for crf in crfs:
                    out = work / f"{crf}.mp4"
                    encode.PRESET = preset  # what video writes with, for this row
                    write_video(pngs, out, source.fps, crf=crf, colour=source.colour)
                    with av.open(str(out)) as container:
                        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
                    score = float(np.mean([ssim(a, b) for a, b in zip(decoded, pngs)]))
                    kbps = video_kbps(out)
                    rows.append((label, painter.replace("@", ", blend "), preset, source_kbps, crf, kbps,
                                 kbps / source_kbps, score))
                    print(rows[-1], flush=True)
    lines = [f"### Bit rate of a painted clip, {__import__('datetime').date.today()}, {cpu_name()}", "",
             f"`python benchmarks/bench_bitrate.py --seconds {args.seconds:g} --crfs {args.crfs} --painters "
             f"{args.painters} --presets {args.presets}`: the first {frames} frames of `cockatoo.mp4` "
             f"(../shared/data/video, 1280x720 H.264, untagged) painted at their own size by `nstbatch video` with "
             f"each bundled network, written by libx264 (yuv420p) at each quality and preset; SSIM: "
             f"mean over frames of the luma SSIM against the painted PNGs; rate: the video stream's. The phone-like "
             f"clip is the same frames written at x264's crf 18 with BT.709 described and AAC sound (a stand-in for "
             f"a phone's clip).", "",
             "| source | network, --temporal-blend | preset | source kbit/s | --crf | painted kbit/s | × the source's "
             "| SSIM |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {label} | {painter} | {preset} | {src:.0f} | {crf} | {kbps:.0f} | {ratio:.2f}× | {score:.4f} |"
              for label, painter, preset, src, crf, kbps, ratio, score in rows]
    met = {label: [f"{painter} {preset} crf {crf}" for lab, painter, preset, _, crf, _, ratio, score in rows
                   if lab == label and score >= SSIM_TARGET and ratio <= RATE_TARGET] for label in clips}
    lines += ["", "Qualities within ~" + f"{RATE_TARGET:g}× the source's rate at SSIM ≥ {SSIM_TARGET}: "
              + "; ".join(f"{label}: {', '.join(map(str, crfs_met)) or 'none'}" for label, crfs_met in met.items())
              + "."]
    print("\n".join(lines))
    publish(lines)


if __name__ == "__main__":
    main()
