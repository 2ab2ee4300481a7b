"""Regions (Gatys et al. 2017's spatial control): does each region end nearer its own painting than the
other's, does a photo region stay the photo, and what do regions cost, by optimisation and by the
two-painting network, in one run.

Two bundled photos with masks made by scripts/make_region_masks.py (examples/regions/):

- dune: the sky (its mask) painted by Starry Night, the ground (the rest) by Kandinsky;
- astronaut: the person (its mask) kept as the photo, the background painted by Starry Night.

For each region: its guided style distance (the Gram of the result's features weighted by the region's
guide, runtime/regions.py, against a painting's Gram, relative to the painting's: ‖G_r − A‖² / ‖A‖²,
averaged over relu1_1..relu5_1) to its own painting and to the other one; for the photo region, the
largest and the mean pixel difference from the photo. Time: the same photo at the same size and
iterations painted with regions and without (the whole picture by one painting; the network: one blend
a picture), alternated, best of --repeats, and their ratio (target for optimisation: <= 1.3x).

The README's figure (--figure): photo, mask, optimisation's picture and the network's, made by the
tool's own command (`nstbatch run --region ...`) at the same size.

    python benchmarks/bench_regions.py [--size 256] [--iterations 150] [--repeats 2] [--figure docs/images/regions.jpg]

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from _results import RESULTS, machine, publish

from nstbatch.media.images import load_image, read_picture
from nstbatch.runtime.gram import gram_torch
from nstbatch.runtime.regions import RegionStyle, guided_gram, layer_guides, resized_masks
from nstbatch.runtime.stylize import Options
from nstbatch.runtime.transfer import StyleTransfer, resize_long_side
from nstbatch.runtime.vgg import load_vgg19

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
STARRY = EXAMPLES / "styles" / "starry_night_vangogh.jpg"
KANDINSKY = EXAMPLES / "styles" / "composition_vii_kandinsky.jpg"
NETWORK = EXAMPLES.parent / "nstbatch" / "models" / "starry_kandinsky" / "model.onnx"
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# (photo, mask, what paints the mask, what paints the rest): a painting file, or None for the photo.
CASES = {
    "dune": ("regions/photos/dune.jpg", "regions/masks/dune.png", STARRY, KANDINSKY),
    "astronaut": ("regions/photos/astronaut.jpg", "regions/masks/astronaut.png", None, STARRY),
}
NETWORK_NAMES = {STARRY: "starry_night_vangogh", KANDINSKY: "composition_vii_kandinsky", None: "photo"}


def painting_grams(vgg, painting, long_side):
    with torch.no_grad():
        features = vgg(resize_long_side(painting, long_side), LAYERS)
    return {name: gram_torch(act)[0] for name, act in features.items()}


def guided_distance(vgg, image, mask, grams) -> float:
    guides = layer_guides(mask, LAYERS)
    with torch.no_grad():
        features = vgg(image, LAYERS)
    return float(np.mean([float(((guided_gram(features[n], guides[n])[0] - grams[n]) ** 2).sum() / (grams[n] ** 2).sum())
                          for n in LAYERS]))


def optimise(photo, masks, inside, rest, options, regions: bool):
    """(picture, seconds): with regions, ``inside`` paints the mask and ``rest`` the rest; without, ``rest``
    paints it all (the unguided run of the same size and iterations)."""
    paintings = [load_image(rest)]
    if regions:
        region = RegionStyle("inside", [load_image(inside)] if inside else [], [1.0] if inside else [])
        engine = StyleTransfer(paintings, options, device="cpu", regions=[region])
        started = time.perf_counter()
        result = engine(photo, masks=masks)
    else:
        engine = StyleTransfer(paintings, options, device="cpu")
        started = time.perf_counter()
        result = engine(photo)
    return result.image, time.perf_counter() - started


def network(photo, masks, inside, rest, regions: bool, repeats: int):
    from nstbatch.engines import open_model
    from nstbatch.network.feedforward import region_blends
    from nstbatch.batch.painted_regions import parse_regions

    plan = None
    if regions:
        with tempfile.TemporaryDirectory() as folder:
            mask_file = Path(folder) / "mask.png"
            Image.fromarray((masks[0].numpy() * 255).astype(np.uint8)).save(mask_file)
            plan = parse_regions([f"{mask_file}={NETWORK_NAMES[inside]}"], None, None)
    engine, described = open_model(NETWORK, f"{NETWORK_NAMES[rest]}=1", device="cpu", regions=plan)
    if plan is not None:
        engine.regions = region_blends(plan, described.style_names)
    array = photo.numpy()
    best, image = float("inf"), None
    for _ in range(repeats + 1):  # the first pass warms the session up
        started = time.perf_counter()
        image = engine(array, masks=masks.numpy()).image if regions else engine(array).image
        best = min(best, time.perf_counter() - started)
    return torch.from_numpy(image), best


def figure(args, path: Path) -> None:
    """Photo, mask, optimisation's picture and the network's for each case, made by `nstbatch run`."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, (photo, mask, inside, rest) in CASES.items():
            photo, mask = EXAMPLES / photo, EXAMPLES / mask
            region = f"{mask}={inside if inside else 'photo'}"
            made = []
            for engine in (["--style", str(rest), "--iterations", str(args.iterations)],
                           ["--model", str(NETWORK), "--style-blend", f"{NETWORK_NAMES[rest]}=1", "--size", str(args.size)]):
                out = Path(folder) / f"{name}-{engine[0][2:]}"
                if engine[0] == "--style":
                    engine += ["--size", str(args.size)]
                else:
                    region = f"{mask}={NETWORK_NAMES[inside]}"
                subprocess.run([sys.executable, "-m", "nstbatch", "run", "-i", str(photo), "-o", str(out), "--region",
                                region, "--quiet", "--no-gallery", "--device", "cpu", *engine], check=True,
                               stdout=subprocess.DEVNULL)
                made.append(next(out.glob("*.png")))
            rows.append([photo, mask, *made])
        height = 200
        tiles = [[Image.open(p).convert("RGB") for p in row] for row in rows]
        widths = [max(round(t[0].width * height / t[0].height), 1) for t in tiles]
        labels = ["photo", "mask", "optimisation", "two-painting network"]
        sheet = Image.new("RGB", (max(widths) * 4 + 30, (height + 24) * len(rows) + 4), "white")
        draw = ImageDraw.Draw(sheet)
        for r, (row, width) in enumerate(zip(tiles, widths)):
            y = r * (height + 24) + 20
            for c, tile in enumerate(row):
                x = c * (max(widths) + 10)
                sheet.paste(tile.resize((width, height), Image.Resampling.LANCZOS), (x, y))
                if r == 0:
                    draw.text((x + 4, 4), labels[c], fill="black")
        path.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path, quality=88)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    vgg = load_vgg19()
    options = Options(iterations=args.iterations)
    # Untimed: the first optimisation of a process pays for warming torch up, whichever it is.
    optimise(load_image(EXAMPLES / CASES["dune"][0], 64), torch.zeros(1, 40, 64), None, STARRY,
             Options(iterations=3), True)
    rows = []
    for name, (photo_file, mask_file, inside, rest) in CASES.items():
        photo = load_image(EXAMPLES / photo_file, args.size)
        size = tuple(photo.shape[-2:])
        masks = resized_masks(torch.from_numpy(read_picture(EXAMPLES / mask_file)[0].mean(0))[None], size)[:, 0]
        inside_mask, rest_mask = masks[None], 1 - masks[None]
        grams = {p: painting_grams(vgg, load_image(p), max(size)) for p in (STARRY, KANDINSKY)}
        for engine in ("optimisation", "network"):
            times = {True: float("inf"), False: float("inf")}
            pictures = {}
            for _ in range(args.repeats if engine == "optimisation" else 1):
                for regions in (True, False):
                    if engine == "optimisation":
                        image, seconds = optimise(photo, masks, inside, rest, options, regions)
                    else:
                        image, seconds = network(photo, masks, inside, rest, regions, args.repeats)
                    times[regions] = min(times[regions], seconds)
                    pictures[regions] = image
            image = pictures[True]
            other = KANDINSKY if rest == STARRY else STARRY
            cells = []
            if inside is not None:
                own_other = (guided_distance(vgg, image, inside_mask, grams[inside]),
                             guided_distance(vgg, image, inside_mask, grams[rest]))
                cells.append(f"{own_other[0]:.3f} / {own_other[1]:.3f}")
                photo_cell = "-"
            else:
                held = inside_mask[0, 0] > 0.999
                difference = (image[0] - photo[0]).abs()[:, held]
                cells.append("(photo)")
                photo_cell = f"{float(difference.max()):.4f} / {float(difference.mean()):.5f}"
            own_other = (guided_distance(vgg, image, rest_mask, grams[rest]),
                         guided_distance(vgg, image, rest_mask, grams[other]))
            cells.append(f"{own_other[0]:.3f} / {own_other[1]:.3f}")
            ratio = times[True] / times[False]
            rows.append(f"| {name} {size[1]}x{size[0]} | {engine} | {cells[0]} | {cells[1]} | {photo_cell} | "
                        f"{times[True]:.2f} | {times[False]:.2f} | {ratio:.2f}x |")
            print(rows[-1], flush=True)
    lines = [
        f"### Regions, {time.strftime('%Y-%m-%d')}, {machine('cpu')}",
        "",
        f"`python benchmarks/bench_regions.py --size {args.size} --iterations {args.iterations} --repeats {args.repeats}`: "
        "dune: sky by Starry Night, ground by Kandinsky; astronaut: person kept as the photo, background by "
        "Starry Night (examples/regions/). Distances: guided style distance of the region to its own painting / "
        "to the other one (lower is nearer). Photo region: largest / mean pixel difference from the photo where "
        "its mask is 1. Seconds: best of the repeats; without regions, the rest's painting (network: its blend) "
        "paints the whole picture at the same size and iterations.",
        "",
        "| photo | engine | mask region: own / other | rest: own / other | photo region: max / mean | "
        "seconds with regions | without | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    publish(lines, args.results)
    if args.figure is not None:
        figure(args, args.figure)


if __name__ == "__main__":
    main()
