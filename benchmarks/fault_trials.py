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

Then a clip (examples/video/cockatoo_3s.mp4, 60 frames) through `nstbatch video` and the bundled network:
- SIGKILL while painting (after a random number of frames) and while encoding (once the temporary mp4
  appears), each followed by the same command: the mp4 must be the uninterrupted run's, byte for byte,
  with no temporary file or work folder left;
- the clip replaced by another of the same name, and a folder of frames with one frame changed, run again
  with the frames kept: the video must be the fresh run's of the new input, not the old frames;
- `--output` the input clip: refused, the clip untouched;
- a link planted at every bookkeeping file of `run` and `video` (locks, manifest, plan, gallery, record,
  work folder): nothing outside the output may change.
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
MODEL = ROOT / "nstbatch" / "models" / "starry_night" / "model.safetensors"
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
    parser.add_argument("--video-kills", type=int, default=10, help="trials of each SIGKILL of `video`")
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
    video_rows = video_trials(work, inputs, args.video_kills, rng)
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
    lines += ["", f"`nstbatch video` on {CLIP.name} ({CLIP_FRAMES} frames) through the bundled network at {CLIP_SIZE} px, "
              "and planted links. Survived: the trial's target met (below), no temporary file or work folder left, "
              "no traceback.", "",
              "| trial | runs | survived | target | temp files or work folders left | tracebacks | what happened |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {runs} | {ok} of {runs} | {target} | {left} | {tracebacks} | {extra} |"
              for name, runs, ok, target, left, tracebacks, extra in video_rows]
    if args.no_publish:
        print("\n".join(lines))
    else:
        publish(lines)
    shutil.rmtree(work, ignore_errors=True)


CLIP = ROOT / "examples" / "video" / "cockatoo_3s.mp4"
CLIP_FRAMES, CLIP_SIZE = 60, 160
ONNX = ROOT / "nstbatch" / "models" / "starry_night" / "model.onnx"


def video_command(clip: Path, output: Path, *more: str, quiet: bool = True) -> list[str]:
    return [*NSTBATCH, "video", "-i", str(clip), "-m", str(ONNX), "-o", str(output), "--size", str(CLIP_SIZE),
            "--device", "cpu", *(["--quiet"] if quiet else []), *more]


def left_over(folder: Path) -> int:
    """Temporary files and work folders a video run left in ``folder`` (the lock file is meant to stay)."""
    return sum(1 for p in folder.iterdir() if p.name.startswith(".nstbatch-tmp") or p.name.endswith(".frames"))


def decoded(path: Path) -> list[str]:
    import av

    with av.open(str(path)) as container:
        return [hashlib.sha256(f.to_ndarray(format="rgb24").tobytes()).hexdigest() for f in container.decode(video=0)]


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by content: what must not change when a link points into it."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _closing(ran: subprocess.CompletedProcess) -> str:
    """What a video run's closing line said of its frames, e.g. "60 stylised now, 0 resumed"."""
    import re

    said = re.search(r"\((\d+ stylised now, \d+ resumed)", ran.stdout)
    return said[1] if said else f"exit {ran.returncode}"


def video_trials(work: Path, photos: Path, kills: int, rng: random.Random) -> list[tuple]:
    """The video trials' rows: (trial, runs, survived, target, left over, tracebacks, what happened)."""
    root = work / "video"
    root.mkdir()
    clip = root / "clip.mp4"
    shutil.copy(CLIP, clip)
    reference = root / "reference.mp4"
    done = subprocess.run(video_command(clip, reference), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = []

    def killed(when: str):
        survived, left, tracebacks, points = 0, 0, 0, []
        for i in range(kills):
            folder = root / f"kill-{when}-{i}"
            folder.mkdir()
            output = folder / "out.mp4"
            process = subprocess.Popen(video_command(clip, output), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True)
            target = rng.randrange(1, CLIP_FRAMES)
            deadline = time.monotonic() + 300
            while process.poll() is None and time.monotonic() < deadline:
                if when == "painting" and len(list(folder.glob("out.mp4.frames/frame_*.png"))) >= target:
                    break
                if when == "encoding" and list(folder.glob(".nstbatch-tmp.out.mp4.*")):
                    break
                time.sleep(0.002)
            landed = process.poll() is None
            process.kill()
            log = [process.communicate(timeout=60)[0]]
            points.append(landed)
            again = subprocess.run(video_command(clip, output), capture_output=True, text=True, timeout=600)
            log.append(again.stdout + again.stderr)
            same = again.returncode == 0 and output.read_bytes() == reference.read_bytes()
            survived += same and left_over(folder) == 0
            left += left_over(folder)
            tracebacks += sum("Traceback" in text for text in log)
        rows.append((f"SIGKILL while {when}, then resumed", kills, survived, "the mp4 byte-identical to an "
                     "uninterrupted run's", left, tracebacks, f"{sum(points)} of {kills} kills landed while {when}"))

    killed("painting")
    killed("encoding")

    # A clip replaced by another of the same name, with the frames kept: painted again, not taken from them.
    import av

    folder = root / "replaced"
    folder.mkdir()
    own = folder / "clip.mp4"
    shutil.copy(CLIP, own)
    keep = ["--frames-dir", str(folder / "frames")]
    log = [subprocess.run(video_command(own, folder / "out.mp4", *keep), capture_output=True, text=True).stderr]
    with av.open(str(CLIP)) as source, av.open(str(own), "w") as target:  # the clip upside down
        stream = target.add_stream("libx264", rate=20)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for t, frame in enumerate(source.decode(video=0)):
            flipped = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24")[::-1].copy(), format="rgb24")
            flipped.pts = t
            target.mux(stream.encode(flipped))
        target.mux(stream.encode(None))
    again = subprocess.run(video_command(own, folder / "out.mp4", *keep, quiet=False), capture_output=True, text=True)
    fresh = subprocess.run(video_command(own, folder / "fresh.mp4"), capture_output=True, text=True)
    log += [again.stdout + again.stderr, fresh.stderr]
    ok = again.returncode == 0 and decoded(folder / "out.mp4") == decoded(folder / "fresh.mp4")
    rows.append(("the clip replaced by another of its name (frames kept), run again", 1, int(ok), "painted again",
                 0, sum("Traceback" in t for t in log), _closing(again)))

    # A folder of frames with one frame changed: painted again from that frame on.
    folder = root / "frames-changed"
    frames = folder / "frames"
    frames.mkdir(parents=True)
    with av.open(str(CLIP)) as source:
        for t, frame in enumerate(source.decode(video=0)):
            if t == 20:
                break
            frame.to_image().save(frames / f"frame_{t + 1:03d}.png")
    keep = ["--frames-dir", str(folder / "work")]
    subprocess.run(video_command(frames, folder / "out.mp4", *keep), capture_output=True, text=True)
    Image.open(frames / "frame_011.png").transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(frames / "frame_011.png")
    again = subprocess.run(video_command(frames, folder / "out.mp4", *keep, quiet=False), capture_output=True, text=True)
    fresh = subprocess.run(video_command(frames, folder / "fresh.mp4"), capture_output=True, text=True)
    ok = again.returncode == 0 and decoded(folder / "out.mp4") == decoded(folder / "fresh.mp4")
    rows.append(("a folder of 20 frames, frame 11 changed (frames kept), run again", 1, int(ok),
                 "painted again from the change", 0, sum("Traceback" in t for t in [again.stderr, fresh.stderr]),
                 _closing(again)))

    # --output the input: refused, the clip untouched.
    before = clip.read_bytes()
    same = subprocess.run(video_command(clip, clip), capture_output=True, text=True)
    ok = same.returncode == 2 and clip.read_bytes() == before
    rows.append(("--output the input clip", 1, int(ok), "refused, the clip untouched", 0,
                 int("Traceback" in same.stderr), f"exit {same.returncode}, {len(same.stderr.strip().splitlines())} line: "
                 f"{'is the input' if 'is the input' in same.stderr else same.stderr.strip()[-60:]}"))

    # Links planted at every bookkeeping file: nothing outside the output may change.
    victims = root / "victims"
    victims.mkdir()
    planted = {"run": [".nstbatch.lock", "nstbatch-manifest.jsonl", "nstbatch-plan.json", "index.html"],
               "video": [".out.mp4.nstbatch.lock", "out.mp4.nstbatch.json", "out.mp4.frames"]}
    refused, changed, tracebacks = [], 0, 0
    for command_name, names in planted.items():
        for name in names:
            folder = root / f"link-{command_name}-{name.strip('.')}"
            folder.mkdir()
            victim = victims / f"{command_name}-{name.strip('.')}"
            if name.endswith(".frames"):
                victim.mkdir()
                (victim / "keep.txt").write_text("the user's folder\n")
            else:
                victim.write_text("the user's file\n")
            (folder / name).symlink_to(victim)
            before = digest(victims)
            if command_name == "run":
                ran = subprocess.run(command(photos, folder), capture_output=True, text=True, timeout=600)
            else:
                ran = subprocess.run(video_command(clip, folder / "out.mp4"), capture_output=True, text=True,
                                     timeout=600)
            changed += digest(victims) != before
            tracebacks += "Traceback" in ran.stderr
            refused.append(f"{name}: exit {ran.returncode}")
    rows.append((f"a link planted at each of {sum(map(len, planted.values()))} bookkeeping files", len(refused),
                 len(refused) - changed, "nothing outside the output changed", 0, tracebacks, "; ".join(refused)))
    return rows


if __name__ == "__main__":
    main()
