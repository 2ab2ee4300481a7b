"""Does a change of code keep every picture? Paint a fixed small batch with an earlier commit and with the
working tree, and compare the pixels: optimisation (whole and in blocks), the bundled network, video, and
a network trained a few steps (its preview).

    .venv/bin/python scripts/same_pictures.py REV      # e.g. HEAD~3; exit 0 only if every picture matches

The earlier commit is checked out in a temporary git worktree and run with this environment's Python
(PYTHONPATH puts its package first), so only nstbatch's code differs between the two runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
NSTBATCH = [sys.executable, "-c", "import sys; from nstbatch.cli import app; sys.argv[0] = 'nstbatch'; app()"]
STYLE = ROOT / "examples" / "styles" / "starry_night_vangogh.jpg"
MODEL = ROOT / "nstbatch" / "models" / "starry_night" / "model.safetensors"
CLIP = ROOT / "examples" / "video" / "cockatoo_3s.mp4"
JOBS = {  # name -> arguments, the last of them the option that takes the output
    "optimisation": ["run", "-i", str(ROOT / "examples" / "photos"), "-s", str(STYLE), "--size", "64",
                     "--iterations", "12", "--device", "cpu", "-q", "--no-gallery", "-o"],
    "blocks": ["run", "-i", str(ROOT / "examples" / "photos"), "-s", str(STYLE), "--size", "96", "--block-size", "48",
               "--iterations", "6", "--device", "cpu", "-q", "--no-gallery", "-o"],
    "training": ["train", "--photos", str(ROOT / "examples" / "photos"), "--style", str(STYLE), "--steps", "3",
                 "--crop-size", "48", "--batch-size", "2", "--channels", "4", "--residual-blocks", "1",
                 "--save-every", "3", "--device", "cpu", "-q", "--output"],
    "network": ["run", "-i", str(ROOT / "examples" / "photos"), "-m", str(MODEL), "--size", "96", "--device", "cpu",
                "-q", "--no-gallery", "-o"],
    "video": ["video", "--input", str(CLIP), "-s", str(STYLE), "--size", "64", "--max-frames", "3",
              "--first-iterations", "8", "--iterations", "4", "--device", "cpu", "-q", "--frames-dir", "{out}/frames",
              "--output"],
}


def paint(source: Path, out: Path) -> dict[str, str]:
    """Every picture each job makes with the package at ``source``: {relative path: pixel hash}."""
    env = {**os.environ, "PYTHONPATH": str(source), "NSTBATCH_CACHE": str(out / "cache")}
    pictures = {}
    for name, args in JOBS.items():
        target = out / name
        args = [a.replace("{out}", str(target)) for a in args]
        result = target / "clip.mp4" if name == "video" else target
        target.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([*NSTBATCH, *args, str(result)], env=env, capture_output=True, text=True, cwd=source)
        if done.returncode != 0:
            raise SystemExit(f"{name} with {source} failed:\n{done.stdout}{done.stderr}")
        for path in sorted(target.rglob("*.png")):
            with Image.open(path) as img:
                pictures[f"{name}/{path.relative_to(target).as_posix()}"] = hashlib.sha256(
                    np.asarray(img.convert("RGB")).tobytes()).hexdigest()
    return pictures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the earlier commit to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nstbatch-same-") as work:
        work = Path(work)
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(work / "before"), args.rev], cwd=ROOT, check=True)
        try:
            before = paint(work / "before", work / "out-before")
            after = paint(ROOT, work / "out-after")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(work / "before")], cwd=ROOT)
    differ = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    print(f"{len(before)} pictures with {args.rev}, {len(after)} with the working tree; {len(differ)} differ")
    for key in differ:
        print(f"  differs: {key}")
    raise SystemExit(1 if differ or not before else 0)


if __name__ == "__main__":
    main()
