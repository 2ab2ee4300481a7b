"""Compose docs/images/video_model.jpg: networks over the bundled clip, and how much each flickers.

Rows: the photos (frames 2-5 of examples/video/cockatoo_3s.mp4); then, for each --network LABEL=PATH
in order, its frames painted by `nstbatch video --model` (paint_video, the command's own path, with
that network's --temporal-blend when the label ends in `+blend`); then, in the same order, how much
every pixel changed from the previous painted frame carried along the flow (black: no change; bright:
flicker), as in video_figure.py.

    python scripts/video_model_figure.py --network "alone=nstbatch/models/starry_night/model.safetensors" \
        --network "steady=nstbatch/models/starry_night_steady/model.safetensors" [--blend 0.5] [--size 192]
"""

import argparse
import sys
from pathlib import Path

from video_figure import ROOT, change_maps, grid

sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_video_model import paint  # noqa: E402  (paints through paint_video, as the command does)

from nstbatch.media.frames import open_frames  # noqa: E402
from nstbatch.engines import open_model  # noqa: E402

BLENDED = "+blend"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", action="append", required=True, metavar="LABEL=PATH",
                        help=f"a row of pictures; a label ending in '{BLENDED}' paints with --temporal-blend")
    parser.add_argument("--blend", type=float, default=0.5)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images" / "video_model.jpg")
    args = parser.parse_args()
    frames = [f for _, f in open_frames(ROOT / "examples/video/cockatoo_3s.mp4", max_frames=args.frames).read(args.size)]
    painted = []
    for entry in args.network:
        label, _, path = entry.partition("=")
        blend = args.blend if label.endswith(BLENDED) else 0.0
        painted.append(paint(frames, open_model(Path(path), device="cpu")[0], args.size, blend)[0])
        print(f"painted with {label}", flush=True)
    shown = slice(1, None)  # the first frame has no predecessor to flicker against
    rows = [frames[shown]] + [p[shown] for p in painted] + [change_maps(p, frames)[shown] for p in painted]
    grid(rows).save(args.output, quality=88)
    print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
