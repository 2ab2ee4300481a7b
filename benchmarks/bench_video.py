"""Video steadiness and pace on real footage: nstbatch video against stylising each frame on its own.

Clips (each --frames long): a window sliding across a photo (motion known), and segments of real
hand-held footage with non-rigid motion, named by their first frame:

- cockatoo.mp4 @0: the bird walks toward the camera (camera shake, motion blur);
- cockatoo.mp4 @120: it pecks at the camera, head and crest moving against a still, blurred room;
- cockatoo.mp4 @160: fast close-up motion, large disocclusions;
- realshort_plant.mp4 @0: a slow pan over plants on a windowsill.

For each clip and working size, frame by frame (every frame from its photo: --first-iterations for the
first, --iterations for the rest) is the baseline, and nstbatch video (warped start + temporal term)
runs at each --temporal-weights value with the same iterations; with --temporal-frames (e.g. 1,2,4) and
--passes (e.g. 3), one more row each at the first weight. Reported:

- temporal error: the frozen yardstick of benchmarks/_steadiness.py (DIS medium flow, forward-backward
  consistency alone; it imports nothing from nstbatch, so retuning nstbatch's mask cannot move it),
  and its ratio to frame by frame's;
- distrusted share: the share of that error on pixels nstbatch's own reliability weights below 0.5;
- style and content: fixed Gatys distances (_distance.py), mean over frames, so steadiness is never
  bought by painting less;
- evaluations per frame, so comparisons stay fair when budgets differ.

Pace is timed in a separate run at --pace-size (the steadiness runs are not timed).

    python benchmarks/bench_video.py [--sizes 128,256] [--clips all|sliding,cockatoo@120,...] [--frames 8]

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _distance import gatys_scorer
from _results import RESULTS, machine, publish
from _steadiness import error_maps, temporal_error, trusted

from nstbatch.media.flow import previous_in_place
from nstbatch.media.frames import open_frames, working_size
from nstbatch.media.images import array_to_tensor, load_image, save_image, tensor_to_array
from nstbatch.batch.video_work import frame_path
from nstbatch.batch.video_optimisation import VideoSettings, stylize_frame, stylize_video
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


def video_clip(path: Path, long_side: int, frames: int, start: int = 0) -> list[np.ndarray]:
    read = open_frames(path, max_frames=start + frames).read(long_side)
    return [frame for index, (_, frame) in enumerate(read) if index >= start]


REAL_CLIPS = {  # name: (file under ../shared/data/video, first frame)
    "cockatoo@0": ("cockatoo.mp4", 0),
    "cockatoo@120": ("cockatoo.mp4", 120),
    "cockatoo@160": ("cockatoo.mp4", 160),
    "plant@0": ("realshort_plant.mp4", 0),
}


def stylize(frames, painting, settings: VideoSettings, temporal_weight: float):
    """(stylised frames, seconds per frame); several passes go through stylize_video and a frame folder."""
    engine = StyleTransfer([painting], Options(iterations=settings.iterations, temporal_weight=temporal_weight),
                           device="cpu" if not torch.cuda.is_available() else "cuda")
    if settings.passes > 1:
        with tempfile.TemporaryDirectory() as folder:
            for t, frame in enumerate(frames):
                save_image(array_to_tensor(frame), Path(folder) / "in" / f"frame_{t + 1}.png")
            run = stylize_video(open_frames(Path(folder) / "in"), engine, settings, Path(folder) / "work")
            stylised = [tensor_to_array(load_image(frame_path(run.folder, t))) for t in range(len(frames))]
        return stylised, [run.seconds / run.done] * len(frames)
    stylised, seconds, history = [], [], []
    for frame in frames:
        start = time.perf_counter()
        stylised.append(stylize_frame(engine, frame, history, settings))
        seconds.append(time.perf_counter() - start)
        history.insert(0, (frame, stylised[-1]))
    return stylised, seconds


def distrusted_share(stylised, frames) -> float:
    """The share of the yardstick's error that falls on pixels nstbatch's own mask weights below 0.5."""
    total = distrusted = 0.0
    for t, (squared, measured) in enumerate(error_maps(stylised, frames), start=1):
        _, trust = previous_in_place(frames[t - 1].astype(np.float32), frames[t], frames[t - 1])
        total += float(squared[measured].sum())
        distrusted += float(squared[measured & (trust.weight < 0.5)].sum())
    return distrusted / total if total else 0.0


def mask_row(clip_name: str, frames) -> str:
    """What nstbatch's reliability does on a clip's photos, mean over frame pairs: the share unseen in the
    previous frame (disoccluded or out of the frame: restarts from the photo), the share on a motion
    boundary (seen, temporal weight below 1), the mean temporal weight, and the share the frozen
    yardstick does not trust."""
    unseen, boundary, weight, doubted = [], [], [], []
    for t in range(1, len(frames)):
        _, trust = previous_in_place(frames[t - 1].astype(np.float32), frames[t], frames[t - 1])
        unseen.append(1 - trust.seen.mean())
        boundary.append(((trust.seen > 0) & (trust.weight < 1)).mean())
        weight.append(trust.weight.mean())
        doubted.append(1 - trusted(frames[t], frames[t - 1])[1].mean())
    w, h = frames[0].shape[1], frames[0].shape[0]
    return (f"| {clip_name} | {w}x{h} | {statistics.mean(unseen):.3f} | {statistics.mean(boundary):.3f} | "
            f"{statistics.mean(weight):.3f} | {statistics.mean(doubted):.3f} |")


def look(frames, stylised, painting) -> tuple[float, float]:
    """Mean (style, content) distance of the stylised frames to their own photos and the painting."""
    scores = [gatys_scorer(array_to_tensor(f), painting)(array_to_tensor(s)) for f, s in zip(frames, stylised)]
    return statistics.mean(s["style_rel"] for s in scores), statistics.mean(s["content_rel"] for s in scores)


def load_clips(names: list[str], photo: Path, size: int, frames: int) -> dict[str, list[np.ndarray]]:
    clips = {}
    for name in names:
        if name == "sliding":
            clips[f"sliding window over {photo.name}"] = sliding_clip(photo, size, frames)
            continue
        file, start = REAL_CLIPS[name]
        path = DATA / "video" / file
        if path.is_file():
            clips[f"{file} @{start}"] = video_clip(path, size, frames, start)
        else:
            print(f"{path}: missing; {name} is not measured")
    return clips


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", default="all", help=f"sliding and/or {', '.join(REAL_CLIPS)}, comma-separated")
    parser.add_argument("--photo", type=Path, default=EXAMPLES / "photos" / "coffee.jpg", help="slid across for the known-motion clip")
    parser.add_argument("--style", type=Path, default=EXAMPLES / "styles" / "starry_night_vangogh.jpg")
    parser.add_argument("--sizes", default="128")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--first-iterations", type=int, default=150)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--temporal-weights", default="100")
    parser.add_argument("--temporal-frames", default="1", help="frames back for one more row, e.g. 1,2,4")
    parser.add_argument("--passes", type=int, default=1, help="passes for one more row, e.g. 3")
    parser.add_argument("--pace-size", type=int, default=256)
    parser.add_argument("--pace-frames", type=int, default=3, help="0 skips the pace run")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    painting = load_image(args.style)
    names = ["sliding", *REAL_CLIPS] if args.clips == "all" else args.clips.split(",")
    weights = [float(w) for w in args.temporal_weights.split(",")]
    frames_back = tuple(int(k) for k in args.temporal_frames.split(","))
    first_pass = (args.first_iterations + (args.frames - 1) * args.iterations) / args.frames

    rows, masks = [], []
    for size in (int(s) for s in args.sizes.split(",")):
        for clip_name, frames in load_clips(names, args.photo, size, args.frames).items():
            masks.append(mask_row(clip_name, frames))
            ways = [("frame by frame", VideoSettings(size, args.first_iterations, args.iterations, consistent=False), 0.0)]
            ways += [(f"nstbatch video, temporal weight {w:g}", VideoSettings(size, args.first_iterations, args.iterations), w)
                     for w in weights]
            if frames_back != (1,):
                ways.append((f"nstbatch video, temporal weight {weights[0]:g}, frames back {args.temporal_frames}",
                             VideoSettings(size, args.first_iterations, args.iterations, temporal_frames=frames_back),
                             weights[0]))
            if args.passes > 1:
                ways.append((f"nstbatch video, temporal weight {weights[0]:g}, {args.passes} passes",
                             VideoSettings(size, args.first_iterations, args.iterations, passes=args.passes), weights[0]))
            baseline = None
            for way, settings, weight in ways:
                evaluations = first_pass + (settings.passes - 1) * args.iterations
                stylised, _ = stylize(frames, painting, settings, weight)
                error = temporal_error(stylised, frames)
                baseline = baseline or error
                style, content = look(frames, stylised, painting)
                share = distrusted_share(stylised, frames)
                w, h = frames[0].shape[1], frames[0].shape[0]
                rows.append(f"| {clip_name} | {w}x{h} | {way} | {evaluations:.0f} | {error:.3g} | {error / baseline:.3f} | "
                            f"{share:.2f} | {style:.3f} | {content:.3f} |")
                print(rows[-1], flush=True)

    pace = None
    if args.pace_frames > 1:
        print(f"timing {args.pace_frames} frames at {args.pace_size} px", flush=True)
        frames = video_clip(DATA / "video" / "cockatoo.mp4", args.pace_size, args.pace_frames, 120)
        _, seconds = stylize(frames, painting, VideoSettings(args.pace_size, args.first_iterations, args.iterations),
                             weights[0])
        pace = (frames[0].shape, seconds)

    lines = [
        f"### Video steadiness on real footage, {time.strftime('%Y-%m-%d')}, {machine()}",
        "",
        f"`python benchmarks/bench_video.py --sizes {args.sizes} --clips {args.clips} --temporal-weights "
        f"{args.temporal_weights} --temporal-frames {args.temporal_frames} --passes {args.passes}`: {args.style.name}, {args.frames} frames a clip; first frame {args.first_iterations} "
        f"iterations, later {args.iterations}, DIS flow. Temporal error: the frozen yardstick (_steadiness.py), lower "
        "flickers less; ratio to frame by frame at the same iterations. Distrusted share: of that error, the part on "
        "pixels nstbatch's own mask weights below 0.5. Style / content: fixed Gatys distances, mean over frames.",
        "",
        "| clip | size | way | evaluations / frame | temporal error | vs frame by frame | distrusted share | style | content |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "What nstbatch's reliability makes of each clip's photos (mean over frame pairs): unseen in the previous frame "
        "(restarts from the photo, no temporal term), on a motion boundary (warped start, temporal weight below 1), "
        "the mean temporal weight, and the share the frozen yardstick does not trust:",
        "",
        "| clip | size | unseen | motion boundary | mean weight | untrusted by the yardstick |",
        "| --- | --- | --- | --- | --- | --- |",
        *masks,
    ]
    if pace is not None:
        (h, w, _), seconds = pace
        lines += ["", f"Pace at {w}x{h} ({args.pace_frames} frames of cockatoo.mp4 @120): first frame {seconds[0]:.1f} s "
                  f"({args.first_iterations} iterations), later frames {statistics.mean(seconds[1:]):.1f} s each "
                  f"({args.iterations} iterations, flow included)."]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
