"""Video steadiness and pace: nstbatch video against stylising each frame on its own, in one run.

For each clip (a window sliding across a photo, so the motion is known, and the first frames of a
real hand-held video), three ways to stylise the same frames with the same engine and painting:

- video: `nstbatch video`'s way, each frame from the previous stylised frame warped along the flow,
  with the temporal loss; first frame --first-iterations, later frames --iterations;
- frame by frame, same budget: every frame on its own from its photo, same iterations per frame;
- frame by frame, full budget: every frame on its own with --first-iterations.

Steadiness is the temporal error (nstbatch.batch.flow.temporal_errors: mean squared difference to the
previous stylised frame warped by the content's flow, over reliable pixels; lower flickers less),
measured along Farneback's flow while nstbatch stylises along DIS's.
Look is the fixed Gatys distance of each frame to its own photo and the painting (_distance.py),
averaged over frames. Pace is timed in a separate run at --pace-size (the steadiness runs are not
timed, so nothing else need be idle while they run).

    python benchmarks/bench_video.py [--size 128] [--frames 8] [--pace-size 256] [--pace-frames 3]

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from _distance import gatys_scorer
from _results import RESULTS, cpu_name, publish

from nstbatch.batch.flow import temporal_errors
from nstbatch.batch.frames import open_frames, working_size
from nstbatch.batch.images import array_to_tensor, load_image, tensor_to_array
from nstbatch.batch.video import VideoSettings, stylise_frame
from nstbatch.runtime.stylize import Options
from nstbatch.runtime.transfer import StyleTransfer

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
EXAMPLES = HERE.parent / "examples"


def sliding_clip(photo_path: Path, long_side: int, frames: int, step=(2, 1)) -> list[np.ndarray]:
    """A window of long side ``long_side`` (4:3) sliding ``step`` pixels a frame across the photo."""
    width, height = working_size(long_side, long_side * 3 // 4, long_side)
    span = (width + step[0] * frames) * 1.05
    photo = load_image(photo_path, round(span * 1.4))  # the photo's long side: room for the window to slide
    array = tensor_to_array(photo)
    top, left = (array.shape[0] - height) // 3, (array.shape[1] - width - step[0] * frames) // 2
    return [array[top + t * step[1]: top + t * step[1] + height, left + t * step[0]: left + t * step[0] + width].copy()
            for t in range(frames)]


def video_clip(path: Path, long_side: int, frames: int) -> list[np.ndarray]:
    return [frame for _, frame in open_frames(path, max_frames=frames).read(long_side)]


def stylise(frames, painting, settings: VideoSettings, temporal_weight: float):
    engine = StyleTransfer([painting], Options(iterations=settings.iterations, temporal_weight=temporal_weight),
                           device="cpu" if not torch.cuda.is_available() else "cuda")
    stylised, seconds, previous = [], [], None
    for frame in frames:
        start = time.perf_counter()
        stylised.append(stylise_frame(engine, frame, previous, settings))
        seconds.append(time.perf_counter() - start)
        previous = (frame, stylised[-1])
    return stylised, seconds


def look(frames, stylised, painting) -> tuple[float, float]:
    """Mean (style, content) distance of the stylised frames to their own photos and the painting."""
    scores = [gatys_scorer(array_to_tensor(f), painting)(array_to_tensor(s)) for f, s in zip(frames, stylised)]
    return statistics.mean(s["style_rel"] for s in scores), statistics.mean(s["content_rel"] for s in scores)


def machine() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"{cpu_name()}, torch {torch.__version__} (threads {torch.get_num_threads()}), CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=DATA / "video" / "cockatoo.mp4")
    parser.add_argument("--photo", type=Path, default=EXAMPLES / "photos" / "coffee.jpg", help="slid across for the known-motion clip")
    parser.add_argument("--style", type=Path, default=EXAMPLES / "styles" / "starry_night_vangogh.jpg")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--first-iterations", type=int, default=150)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--temporal-weight", type=float, default=100.0)
    parser.add_argument("--pace-size", type=int, default=256)
    parser.add_argument("--pace-frames", type=int, default=3, help="0 skips the pace run")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    painting = load_image(args.style)
    clips = {f"sliding window over {args.photo.name}": sliding_clip(args.photo, args.size, args.frames)}
    if args.video.is_file():
        clips[f"{args.video.name}, first {args.frames} frames"] = video_clip(args.video, args.size, args.frames)
    else:
        print(f"{args.video}: missing; only the sliding-window clip is measured")

    video = VideoSettings(args.size, args.first_iterations, args.iterations)
    ways = {
        "nstbatch video (warped start + temporal loss)": (video, args.temporal_weight),
        "frame by frame, same iterations per frame": (VideoSettings(args.size, args.first_iterations, args.iterations, consistent=False), 0.0),
        "frame by frame, first-frame iterations for all": (VideoSettings(args.size, args.first_iterations, args.first_iterations, consistent=False), 0.0),
    }
    rows = []
    for clip_name, frames in clips.items():
        for way, (settings, weight) in ways.items():
            stylised, _ = stylise(frames, painting, settings, weight)
            # Measured along Farneback's flow while nstbatch stylises along DIS's, so the yardstick is not
            # the very warp the method copied.
            error = statistics.mean(temporal_errors(stylised, frames, "farneback"))
            style, content = look(frames, stylised, painting)
            rows.append((clip_name, way, error, style, content))
            print(f"{clip_name} | {way}: temporal error {error:.3g}, style {style:.3f}, content {content:.3f}", flush=True)

    pace = None
    if args.pace_frames > 1:
        print(f"timing {args.pace_frames} frames at {args.pace_size} px", flush=True)
        if args.video.is_file():
            frames, pace_clip = video_clip(args.video, args.pace_size, args.pace_frames), args.video.name
        else:
            frames, pace_clip = sliding_clip(args.photo, args.pace_size, args.pace_frames), f"a window over {args.photo.name}"
        _, seconds = stylise(frames, painting, VideoSettings(args.pace_size, args.first_iterations, args.iterations),
                             args.temporal_weight)
        pace = (frames[0].shape, seconds)

    lines = [
        f"### Video steadiness, {time.strftime('%Y-%m-%d')}, {machine()}",
        "",
        f"{args.style.name}, {args.size} px, {args.frames} frames; first frame {args.first_iterations} iterations, later "
        f"{args.iterations}; temporal weight {args.temporal_weight:g}, DIS flow. Temporal error (along Farneback flow): lower flickers less. "
        "Style / content: fixed Gatys distances, mean over frames (lower is better).",
        "",
        "| clip | way | temporal error | vs frame by frame, same iterations | vs frame by frame, full | style | content |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    same, full = list(ways)[1:]
    for clip_name, way, error, style, content in rows:
        ref = {w: e for c, w, e, *_ in rows if c == clip_name}
        lines.append(f"| {clip_name} | {way} | {error:.3g} | {error / ref[same]:.3f} | {error / ref[full]:.3f} | "
                     f"{style:.3f} | {content:.3f} |")
    if pace is not None:
        (h, w, _), seconds = pace
        lines += ["", f"Pace at {w}x{h} ({args.pace_frames} frames of {pace_clip}): first frame {seconds[0]:.1f} s "
                  f"({args.first_iterations} iterations), later frames {statistics.mean(seconds[1:]):.1f} s each "
                  f"({args.iterations} iterations, flow included)."]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
