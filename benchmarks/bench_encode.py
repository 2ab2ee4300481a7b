"""Writing the painted clip: PyAV's H.264 (what `nstbatch video` writes) against OpenCV's mp4v writer (what it
wrote before), a frame's cost and the file's size, beside a frame's time through the bundled network.

The frames are the bundled clip's, read at a long side of 256 and 512 px (each write is timed ``--repeats``
times, the median kept); the network's time is one frame's pass through nstbatch/models/starry_night on
onnxruntime's CPU provider, the cost encoding must stay small against (issue 35: at most 10 % at 256 px).

    .venv/bin/python benchmarks/bench_encode.py [--repeats 3]

Prints the table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _results import cpu_name, publish

from nstbatch.media.encode import DEFAULT_CRF, PRESET, write_video
from nstbatch.media.frames import open_frames
from nstbatch.media.images import array_to_picture
from nstbatch.onnx.providers import CPU
from nstbatch.onnx.session import StylizerSession

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "examples" / "video" / "cockatoo_3s.mp4"
MODEL = ROOT / "nstbatch" / "models" / "starry_night" / "model.onnx"


def opencv_mp4v(frames: list[np.ndarray], path: Path, fps: float) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nstbatch-encode-"))
    source = open_frames(CLIP)
    session = StylizerSession(MODEL, [CPU])
    weights = np.ones((1, 1), np.float32)
    lines = [f"### Writing the painted clip, {time.strftime('%Y-%m-%d')}, {cpu_name()}", "",
             f"`benchmarks/bench_encode.py --repeats {args.repeats}`: the {source.count} frames of "
             f"`{CLIP.relative_to(ROOT)}`, medians of {args.repeats} writes; H.264 is libx264 at --crf {DEFAULT_CRF} "
             f"(preset {PRESET}, yuv420p, faststart) through PyAV, as `nstbatch video` writes; the network column is "
             f"one frame's pass through the bundled network on onnxruntime's CPU provider.", "",
             "| long side | writer | ms a frame | file, KiB | ms a frame, × the network's pass |", "|---|---|---|---|---|"]
    for side in (256, 512):
        frames = [frame for _, frame in source.read(side)]
        session(array_to_picture(frames[0]), weights)  # first-run planning out of the figures
        network = median_seconds(lambda: [session(array_to_picture(f), weights) for f in frames[:10]], args.repeats) / 10
        writers = {"OpenCV mp4v (before)": lambda p: opencv_mp4v(frames, p, source.fps),
                   "PyAV H.264 (now)": lambda p: write_video(frames, p, source.fps)}
        for name, write in writers.items():
            path = work / f"{side}-{name[:5]}.mp4"
            seconds = median_seconds(lambda: write(path), args.repeats) / len(frames)
            lines.append(f"| {side} | {name} | {1000 * seconds:.2f} | {path.stat().st_size / 1024:.0f} | "
                         f"{seconds / network:.3f}× |")
        lines.append(f"| {side} | (the network's pass) | {1000 * network:.2f} | | 1.000× |")
    publish(lines)


if __name__ == "__main__":
    main()
