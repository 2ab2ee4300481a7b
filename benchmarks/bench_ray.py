"""`nstbatch run --ray` against the local executor, on the same folder, machine and run.

For each engine (optimisation, where a photo takes seconds to minutes; a network, where it takes
milliseconds) the same folder is painted locally and through a private local Ray with 1 and 2 workers,
each as a whole `nstbatch run` process: its wall time, the time to its first result (the manifest's first
row), the cost a photo once started ((wall - first result) / (photos - 1)), and the peak memory of the
process and every process under it (Ray's head, raylet and workers), sampled every 0.1 s.

    .venv/bin/python benchmarks/bench_ray.py [--photos 10] [--size 128] [--iterations 50] [--network-photos 48]

Photos are crops of the bundled examples. Prints the table and appends it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _results import cpu_name, publish
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
STYLE = ROOT / "examples" / "styles" / "starry_night_vangogh.jpg"
MODEL = ROOT / "nstbatch" / "models" / "starry_night" / "model.onnx"
CLI = "import sys; from nstbatch.cli import main; sys.argv[0] = 'nstbatch'; main()"


def photos(folder: Path, count: int, side: int) -> Path:
    folder.mkdir(parents=True)
    bundled = [Image.open(p).convert("RGB") for p in sorted((ROOT / "examples" / "photos").glob("*"))]
    for i in range(count):
        img = bundled[i % len(bundled)]
        shift = 3 * (i // len(bundled))
        crop = img.crop((shift, shift, img.width - shift, img.height - shift))
        crop.thumbnail((side, side), Image.Resampling.LANCZOS)
        crop.save(folder / f"p{i:03d}.jpg", quality=92)
    return folder


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and every process under it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            with open(f"/proc/{current}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


def measure(args: list[str], output: Path) -> dict:
    """Wall seconds, seconds to the first manifest row, and the peak memory of the process tree."""
    shutil.rmtree(output, ignore_errors=True)
    manifest = output / "nstbatch-manifest.jsonl"
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               cwd=tempfile.gettempdir())
    found = {"first": None, "peak": 0}

    def watch():
        while process.poll() is None:
            found["peak"] = max(found["peak"], tree_rss(process.pid))
            if found["first"] is None and manifest.exists() and manifest.stat().st_size:
                found["first"] = time.perf_counter() - started
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    out = process.communicate()[0].decode()
    wall = time.perf_counter() - started
    watcher.join()
    if process.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{out[-2000:]}")
    return {"wall": wall, "first": found["first"] or wall, "peak": found["peak"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--network-photos", type=int, default=48)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nstbatch-ray-"))
    slow = photos(work / "slow", args.photos, 400)
    fast = photos(work / "fast", args.network_photos, 256)
    engines = {
        f"optimisation, {args.photos} photos at {args.size} px, {args.iterations} iterations":
            (slow, ["-s", str(STYLE), "--size", str(args.size), "--iterations", str(args.iterations)], args.photos),
        f"network, {args.network_photos} photos at 256 px": (fast, ["-m", str(MODEL)], args.network_photos),
    }
    ways = {"local": [], "Ray, 1 worker": ["--ray", "--ray-workers", "1"], "Ray, 2 workers": ["--ray", "--ray-workers", "2"]}
    lines = [f"### Ray against the local executor, {time.strftime('%Y-%m-%d')}, {cpu_name()}", "",
             f"`benchmarks/bench_ray.py --photos {args.photos} --size {args.size} --iterations {args.iterations} "
             f"--network-photos {args.network_photos}`: whole `nstbatch run` processes, once each; Ray is a private "
             f"local one started by the run (its start is in the wall time and the time to the first result). "
             f"A photo once started = (wall - first result) / (photos - 1); memory is the peak of the process and "
             f"all under it.", "",
             "| engine | executor | wall, s | first result, s | a photo once started, s | × local | peak memory, GiB |",
             "|---|---|---|---|---|---|---|"]
    for engine, (folder, chosen, count) in engines.items():
        local_cost = None
        for way, flags in ways.items():
            figures = measure(["run", "-i", str(folder), "-o", str(work / "out"), *chosen, "--device", "cpu", "-q",
                               *flags], work / "out")
            cost = (figures["wall"] - figures["first"]) / (count - 1)
            local_cost = local_cost or cost
            lines.append(f"| {engine} | {way} | {figures['wall']:.1f} | {figures['first']:.1f} | {cost:.3f} | "
                         f"{cost / local_cost:.2f}× | {figures['peak'] / 2**30:.2f} |")
            print(lines[-1], flush=True)
    shutil.rmtree(work, ignore_errors=True)
    publish(lines)


if __name__ == "__main__":
    main()
