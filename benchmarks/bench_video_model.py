"""A trained network over video: how much it flickers, and how much `--temporal-blend` steadies it.

On the clips of bench_video.py (the sliding window and the real segments), at --size: the network
frame by frame, and with each --blends value; the temporal error by the frozen yardstick
(_steadiness.py, which imports nothing from nstbatch), its ratio to the network alone, the style and
content distances (so steadiness is not bought by painting less), and frames per second of the
painting and blending (decode and encode are in bench_feedforward's video figure).

    python benchmarks/bench_video_model.py [--model nstbatch/models/starry_night/model.safetensors]
        [--size 256] [--blends 0.3,0.5,0.7]

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _results import RESULTS, cpu_name, publish
from _steadiness import temporal_error
from bench_video import EXAMPLES, REAL_CLIPS, load_clips, look

from nstbatch.media.frames import open_frames
from nstbatch.media.images import array_to_tensor, load_image, save_image, tensor_to_array
from nstbatch.engines import open_model
from nstbatch.network.model_file import describe
from nstbatch.batch.video_work import frame_path, paint_video


def paint(frames, engine, size: int, blend: float):
    """(painted frames, frames per second) through paint_video, from a folder of the frames."""
    with tempfile.TemporaryDirectory() as folder:
        for t, frame in enumerate(frames):
            save_image(array_to_tensor(frame), Path(folder) / "in" / f"frame_{t + 1}.png")
        started = time.perf_counter()
        paint_video(open_frames(Path(folder) / "in"), engine, size, Path(folder) / "work", temporal_blend=blend)
        fps = len(frames) / (time.perf_counter() - started)
        return [tensor_to_array(load_image(frame_path(Path(folder) / "work", t))) for t in range(len(frames))], fps


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=EXAMPLES.parent / "nstbatch" / "models" / "starry_night" / "model.safetensors")
    parser.add_argument("--style", type=Path, default=EXAMPLES / "styles" / "starry_night_vangogh.jpg",
                        help="the painting the model was trained on, for the style distance (a universal model's painting)")
    parser.add_argument("--photo", type=Path, default=EXAMPLES / "photos" / "coffee.jpg")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--blends", default="0.3,0.5,0.7")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    universal = describe(args.model).universal  # a universal network paints with --style
    engine, _ = open_model(args.model, device="cpu", paintings=[args.style] if universal else ())
    painting = load_image(args.style)
    blends = [0.0] + [float(b) for b in args.blends.split(",")]
    rows = []
    for clip_name, frames in load_clips(["sliding", *REAL_CLIPS], args.photo, args.size, args.frames).items():
        baseline = None
        for blend in blends:
            painted, fps = paint(frames, engine, args.size, blend)
            error = temporal_error(painted, frames)
            baseline = baseline or error
            style, content = look(frames, painted, painting)
            h, w = frames[0].shape[:2]
            way = "network alone" if blend == 0 else f"--temporal-blend {blend:g}"
            rows.append(f"| {clip_name} | {w}x{h} | {way} | {error:.3g} | {error / baseline:.3f} | {style:.3f} | "
                        f"{content:.3f} | {fps:.1f} |")
            print(rows[-1], flush=True)
    lines = [
        f"### A {'universal ' if universal else ''}network over video, {time.strftime('%Y-%m-%d')}, {cpu_name()}, torch {torch.__version__} "
        f"(threads {torch.get_num_threads()}), onnxruntime on {engine.runs_on}",
        "",
        f"`python benchmarks/bench_video_model.py --model {args.model} --style {args.style.name} --size {args.size} "
        f"--blends {args.blends}`: "
        f"{args.frames} frames a clip. Temporal error: the frozen yardstick (_steadiness.py); style / content: fixed "
        "Gatys distances, mean over frames; frames per second of painting, blending (DIS flow) and writing PNG frames.",
        "",
        "| clip | size | way | temporal error | vs network alone | style | content | frames / s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
