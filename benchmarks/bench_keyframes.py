"""A network trained per clip on a few painted keyframes (`nstbatch video --keyframes N`) against a
pretrained network and against optimisation frame by frame (`nstbatch video`).

On the clips of bench_video.py (the sliding window and the real segments) at --size, each painted
three or four ways with the same painting:
- the pretrained network (--model, the bundled one by default), alone and with --temporal-blend;
- --keyframes N: N frames painted by optimisation (--first-iterations each, the video command's
  defaults otherwise), a network trained on them for --steps, every frame through it; alone and
  with --temporal-blend; the seconds of the whole (keyframes, training, frames);
- with --optimisation, nstbatch video itself (150 iterations for the first frame, then 50 a frame,
  temporal weight 100).
Reported per clip: the temporal error by the frozen yardstick (_steadiness.py, which imports nothing
from nstbatch), the style and content distances (_distance.py), and seconds for the clip.

    python benchmarks/bench_keyframes.py [--keyframes 1] [--steps 300] [--frames 8] [--size 256] [--optimisation]

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _results import RESULTS, machine, publish
from _steadiness import temporal_error
from bench_video import EXAMPLES, REAL_CLIPS, load_clips, look, stylize
from bench_video_model import paint

from nstbatch.media.frames import open_frames
from nstbatch.media.images import array_to_tensor, load_image, save_image, tensor_to_array
from nstbatch.batch.keyframe_video import keyframe_video
from nstbatch.engines import open_model
from nstbatch.batch.video_work import frame_path
from nstbatch.batch.video_optimisation import VideoSettings
from nstbatch.runtime.stylize import Options
from nstbatch.runtime.transfer import StyleTransfer
from nstbatch.training.keyframes import KeyframeSettings


def through_keyframes(frames, painting, size: int, keyframes: int, iterations: int, steps: int, blends):
    """{blend: (painted frames, seconds)} by keyframe_video from a folder of the frames: the first blend
    paints the keyframes and trains the network (its seconds are the whole clip's); the others reuse
    them as a resumed run does (their seconds are the frames' alone)."""
    engine = StyleTransfer([painting], Options(iterations=iterations), device="cpu")
    made = {}
    with tempfile.TemporaryDirectory() as folder:
        source, work = Path(folder) / "in", Path(folder) / "work"
        for t, frame in enumerate(frames):
            save_image(array_to_tensor(frame), source / f"frame_{t + 1}.png")
        for blend in blends:
            for old in work.glob("frame_*.png"):  # the frames, not the keyframes or the network
                old.unlink()
            started = time.perf_counter()
            run = keyframe_video(open_frames(source), engine, size, work, keyframes, iterations,
                                 KeyframeSettings(steps=steps), temporal_blend=blend)
            if run.failure:
                raise RuntimeError(run.failure)
            made[blend] = ([tensor_to_array(load_image(frame_path(work, t))) for t in range(len(frames))],
                           time.perf_counter() - started)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=EXAMPLES.parent / "nstbatch" / "models" / "starry_night" / "model.safetensors")
    parser.add_argument("--style", type=Path, default=EXAMPLES / "styles" / "starry_night_vangogh.jpg",
                        help="the painting the model was trained on; the keyframes are painted with it")
    parser.add_argument("--photo", type=Path, default=EXAMPLES / "photos" / "coffee.jpg", help="slid across for the known-motion clip")
    parser.add_argument("--clips", default="sliding," + ",".join(REAL_CLIPS))
    parser.add_argument("--keyframes", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=150, help="for each keyframe (--first-iterations)")
    parser.add_argument("--steps", type=int, default=300, help="of the clip's network (--keyframe-steps)")
    parser.add_argument("--blend", type=float, default=0.5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--optimisation", action="store_true", help="also nstbatch video's optimisation (slow)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    painting = load_image(args.style)
    pretrained, _ = open_model(args.model, device="cpu")
    rows = []

    def row(clip_name, w, h, way, frames, painted, seconds):
        style, content = look(frames, painted, painting)
        rows.append(f"| {clip_name} | {w}x{h} | {way} | {temporal_error(painted, frames):.3g} | {style:.3f} | "
                    f"{content:.3f} | {seconds:.1f} |")
        print(rows[-1], flush=True)

    for clip_name, frames in load_clips(args.clips.split(","), args.photo, args.size, args.frames).items():
        h, w = frames[0].shape[:2]
        for blend in (0.0, args.blend):
            painted, fps = paint(frames, pretrained, args.size, blend)
            row(clip_name, w, h, f"pretrained {args.model.parent.name}" + (f" + blend {blend:g}" if blend else ""),
                frames, painted, len(frames) / fps)
        made = through_keyframes(frames, painting, args.size, args.keyframes, args.iterations, args.steps,
                                 (0.0, args.blend))
        for blend, (painted, seconds) in made.items():
            row(clip_name, w, h, f"--keyframes {args.keyframes}" + (f" + blend {blend:g}" if blend else ""),
                frames, painted, seconds)
        if args.optimisation:
            video = VideoSettings(size=args.size, first_iterations=150, iterations=50)
            painted, seconds = stylize(frames, painting, video, 100.0)
            row(clip_name, w, h, "optimisation (nstbatch video, 150 then 50)", frames, painted, sum(seconds))

    lines = [
        f"### A network per clip from painted keyframes, {time.strftime('%Y-%m-%d')}, {machine()}",
        "",
        f"`python benchmarks/bench_keyframes.py --keyframes {args.keyframes} --iterations {args.iterations} --steps "
        f"{args.steps} --frames {args.frames} --size {args.size}{' --optimisation' if args.optimisation else ''}`: "
        f"{args.frames} frames a clip, painting {args.style.name}. Pretrained: {args.model} frame by frame. "
        f"--keyframes: that many frames painted by optimisation ({args.iterations} iterations each), a network "
        f"trained on them for {args.steps} steps (training/keyframes.py defaults otherwise), every frame through "
        "it; seconds for the whole clip, keyframes and training included (with the blend: the frames alone, the "
        "keyframes and network reused). Temporal error: the frozen yardstick "
        "(_steadiness.py); style / content: fixed Gatys distances, mean over frames (lower is closer).",
        "",
        "| clip | size | way | temporal error | style | content | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
