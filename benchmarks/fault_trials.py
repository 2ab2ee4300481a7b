"""Fault trials: a real batch killed, interrupted, doubled, starved of disk and denied writing, each time
followed by the run a user would do next; then the folder is checked against an uninterrupted run.

    .venv/bin/python benchmarks/fault_trials.py [--kills 30] [--photos 40]

The batch: PHOTOS small photos cut from the bundled ones, in nested folders with odd names (spaces,
accents, CJK, a name near the 255-byte limit) and a linked folder, painted by the bundled network.
- SIGKILL at a random moment while results are being written (after a random number of rows, plus a
  random few milliseconds), then the same command again until it ends;
- SIGINT and SIGTERM likewise (the run must stop with its summary and exit 130 or 143);
- two unsharded runs into one folder at once, with other settings (the second must refuse at once);
- a full disk (a small tmpfs; needs root) for results and manifest, then room made and the run resumed;
- a read-only output folder (a tmpfs remounted read-only).
After each, the folder must hold every result once, pixel-identical to the uninterrupted run's, each
proven by whole manifest rows, no temporary file, and no traceback printed by any command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from _results import cpu_name, publish

ROOT = Path(__file__).resolve().parent.parent
NSTBATCH = [str(Path(sys.executable).parent / "nstbatch")]  # the console script beside this Python
MODEL = ROOT / "examples" / "models" / "starry_night" / "model.safetensors"
SIZE = 160


def make_photos(folder: Path, count: int) -> None:
    """``count`` distinct small photos: crops of the bundled ones, under odd names and a linked folder."""
    sources = [Image.open(p).convert("RGB") for p in sorted((ROOT / "examples" / "photos").glob("*.jpg"))]
    names = ["plain", "with space", "accenté", "写真", "x" * 200]
    rng = random.Random(0)
    elsewhere = folder.parent / "elsewhere"
    for i in range(count):
        img = sources[i % len(sources)]
        w, h = img.size
        left, top = rng.randrange(w // 3), rng.randrange(h // 3)
        crop = img.crop((left, top, left + 2 * w // 3, top + 2 * h // 3)).resize((200, 150))
        where = elsewhere if i % 10 == 9 else folder / ("" if i % 3 == 0 else f"set {i % 3}") / ("deep" if i % 4 == 0 else "")
        where.mkdir(parents=True, exist_ok=True)
        crop.save(where / f"{names[i % len(names)]} {i:02d}{'.png' if i % 2 else '.jpg'}", quality=92)
    (folder / "linked").symlink_to(elsewhere, target_is_directory=True)


def command(inputs: Path, output: Path, size: int = SIZE) -> list[str]:
    return [*NSTBATCH, "run", "-i", str(inputs), "-m", str(MODEL), "-o", str(output), "--size", str(size),
            "--device", "cpu", "--quiet"]


def finish(inputs: Path, output: Path, log: list[str]) -> int:
    """The same command again until it ends (exit 0 or 1); its return code."""
    done = subprocess.run(command(inputs, output), capture_output=True, text=True, timeout=600)
    log.append(done.stdout + done.stderr)
    return done.returncode


def rows_in(output: Path) -> int:
    try:
        return (output / "nstbatch-manifest.jsonl").read_bytes().count(b"\n")
    except OSError:
        return 0


def pixels(path: Path) -> str:
    with Image.open(path) as img:
        return hashlib.sha256(np.asarray(img.convert("RGB")).tobytes()).hexdigest()


def results_of(output: Path) -> dict[str, str]:
    return {p.relative_to(output).as_posix(): pixels(p) for p in output.rglob("*.png")}


def check(output: Path, reference: dict[str, str], log: list[str]) -> dict:
    """What a trial's folder holds against the uninterrupted run's."""
    lines = (output / "nstbatch-manifest.jsonl").read_text(encoding="utf-8").splitlines()
    torn = 0
    done = Counter()
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            torn += 1
            continue
        if row["status"] == "done":
            done[row["result"]] += 1
    found = results_of(output)
    temps = [p for p in output.rglob(".*.part")]
    status = subprocess.run([*NSTBATCH, "status", str(output)], capture_output=True, text=True, timeout=120)
    return {
        "lost": len(set(reference) - set(found)),
        "extra": len(set(found) - set(reference)),
        "duplicated": sum(n > 1 for n in done.values()),
        "unrecorded": len(set(reference) - set(done)),
        "torn": torn,
        "stale": sum(found.get(k) != v for k, v in reference.items() if k in found),
        "temps": len(temps),
        "tracebacks": sum("Traceback" in text for text in log + [status.stdout + status.stderr]),
        "status_all_done": status.returncode == 0,
    }


def sound(result: dict) -> bool:
    return not any(result[k] for k in ("lost", "extra", "duplicated", "unrecorded", "torn", "stale")) \
        and result["status_all_done"]


def interrupt(inputs: Path, output: Path, sig: int, target: int, rng: random.Random, log: list[str]) -> int:
    """Start the batch, send ``sig`` after ``target`` rows and a random few milliseconds; its return code."""
    process = subprocess.Popen(command(inputs, output), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while rows_in(output) < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(rng.uniform(0, 0.04))
    if process.poll() is None:
        process.send_signal(sig)
    out, _ = process.communicate(timeout=120)
    log.append(out)
    return process.returncode


def can_mount() -> bool:
    probe = Path(tempfile.mkdtemp())
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["umount", str(probe)])
    probe.rmdir()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--signals", type=int, default=3, help="trials of each of SIGINT and SIGTERM")
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-publish", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="nstbatch-faults-"))
    os.environ.setdefault("NSTBATCH_CACHE", str(work / "cache"))
    inputs = work / "photos"
    make_photos(inputs, args.photos)
    started = time.perf_counter()
    first = subprocess.run(command(inputs, work / "reference"), capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    reference = results_of(work / "reference")
    assert len(reference) == args.photos, f"{len(reference)} results for {args.photos} photos"
    # The other run of the pair started at once: twice the size, so it is still painting when the second
    # has started (a Python process takes seconds to start here).
    second = subprocess.run(command(inputs, work / "larger", 2 * SIZE), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    larger = results_of(work / "larger")
    kill_points, left_by_kills = [], []
    rows = []

    def trial(name: str, runs: int, one) -> None:
        outcomes = [one(i) for i in range(runs)]
        results = [r for r, _ in outcomes]
        extra = [e for _, e in outcomes if e]
        rows.append((name, runs, sum(sound(r) for r in results), sum(r["temps"] for r in results),
                     sum(r["tracebacks"] for r in results), sum(r["stale"] == 0 and r["lost"] == 0 for r in results),
                     "; ".join(sorted(set(extra))) or ""))
        print(rows[-1], flush=True)

    def killed(i: int):
        output, log = work / f"kill-{i}", []
        kill_points.append(rng.randrange(args.photos))
        interrupt(inputs, output, signal.SIGKILL, kill_points[-1], rng, log)
        left_by_kills.append(len(list(output.rglob(".*.part"))))  # for the resuming run to clear
        finish(inputs, output, log)
        return check(output, reference, log), ""

    def stopped(sig: int):
        def one(i: int):
            output, log = work / f"{sig.name}-{i}", []
            code = interrupt(inputs, output, sig, rng.randrange(args.photos), rng, log)
            said = "summary said" if "run the same command again" in log[-1] or code == 0 else "NO SUMMARY"
            finish(inputs, output, log)
            return check(output, reference, log), f"exit {code}, {said}"
        return one

    def doubled(i: int):
        # Both started at once, as two terminals or two careless job submissions would: one must refuse at
        # once, and the folder must then be exactly the other's.
        output, log = work / f"double-{i}", []
        runs = [subprocess.Popen(command(inputs, output, size), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for size in (2 * SIZE, SIZE)]
        ended = [(run.wait(timeout=600), *run.communicate()) for run in runs]
        log += [out + err for _, out, err in ended]
        # Refused before any work: by the lock while the other runs, or by its rows if it already ended.
        busy = [code == 2 and "another nstbatch run is writing" in err for code, _, err in ended]
        other = [code == 2 and "made with other settings" in err for code, _, err in ended]
        refused = [a or b for a, b in zip(busy, other)]
        if sum(refused) != 1:
            return check(output, reference, log), f"NOT one refusal: exits {[code for code, _, _ in ended]}"
        winner = refused.index(False)
        result = check(output, (larger, reference)[winner], log)
        return result, "one refused at once (exit 2) " + ("as the folder is in use" if any(busy) else
                                                          "as the other had ended: its rows differ")
    def full_disk(i: int):
        mount, log = work / f"disk-{i}", []
        mount.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], check=True)
        try:
            output = mount / "out"
            starved = subprocess.run(command(inputs, output), capture_output=True, text=True, timeout=600)
            log.append(starved.stdout + starved.stderr)
            failed = starved.stderr.count("No space left on device")
            stopped = "stopped:" in starved.stderr
            subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
            finish(inputs, output, log)
            return check(output, reference, log), (f"exit {starved.returncode}: {failed} lines naming no space left"
                                                   f"{', then stopped: the manifest could not grow' if stopped else ''}")
        finally:
            subprocess.run(["umount", str(mount)])

    def read_only(i: int):
        mount, log = work / f"ro-{i}", []
        mount.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], check=True)
        try:
            (mount / "out").mkdir()
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
            denied = subprocess.run(command(inputs, mount / "out"), capture_output=True, text=True, timeout=300)
            log.append(denied.stdout + denied.stderr)
            lines = [line for line in denied.stderr.splitlines() if line.strip()]
            subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
            finish(inputs, mount / "out", log)
            said = lines[-1].split(": ", 2)[-1] if lines else ""
            return check(mount / "out", reference, log), f"exit {denied.returncode}, {len(lines)} line: {said}"
        finally:
            subprocess.run(["umount", str(mount)])

    trial("SIGKILL while results are written, then resumed", args.kills, killed)
    rows[-1] = (*rows[-1][:-1], f"killed after {min(kill_points)} to {max(kill_points)} of {args.photos} rows; "
                f"{sum(left_by_kills)} temp files left by {sum(n > 0 for n in left_by_kills)} of the kills")
    trial("SIGINT, then resumed", args.signals, stopped(signal.SIGINT))
    trial("SIGTERM, then resumed", args.signals, stopped(signal.SIGTERM))
    trial("two unsharded runs at once (other --size)", 2, doubled)
    if can_mount():
        trial("full disk (300 kB tmpfs), then room made and resumed", 1, full_disk)
        trial("read-only output folder, then writable and resumed", 1, read_only)
    else:
        rows.append(("full disk, read-only folder", 0, 0, 0, 0, 0, "not run: no tmpfs mount here (needs root)"))
    seconds = time.perf_counter() - started
    lines = [f"## Fault trials ({time.strftime('%Y-%m-%d')}, {cpu_name()}; `benchmarks/fault_trials.py "
             f"--kills {args.kills} --photos {args.photos} --seed {args.seed}`, {seconds / 60:.0f} min)", "",
             f"A batch of {args.photos} photos (nested folders, odd names, a linked folder) through the bundled network "
             f"at {SIZE} px. Survived: every result there once, pixel-identical to an uninterrupted run, each proven by "
             f"whole manifest rows, and `nstbatch status` all done.", "",
             "| trial | runs | survived | temp files after the resuming run | tracebacks | identical results | what the first command did |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {runs} | {ok} of {runs} | {temps} | {tracebacks} | {same} of {runs} | {extra} |"
              for name, runs, ok, temps, tracebacks, same, extra in rows]
    if args.no_publish:
        print("\n".join(lines))
    else:
        publish(lines)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
