"""What the README's commands cost a newcomer: a fresh clone of this repository's HEAD, then `make install`,
`make test` and `make demo` in turn, each timed in wall seconds and in CPU seconds (the commands and all
they start), with the tests counted and the slowest named from pytest's own durations.

    .venv/bin/python benchmarks/bench_setup.py [--keep]

pip's cache is what this machine has (torch from its disk); a machine that downloads everything pays more
for `make install`. Prints the table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _results import cpu_name, publish

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(command: list[str], cwd: Path, log: Path, env: dict) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, output) of ``command``; a failure stops the benchmark, naming the log."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed (exit {done.returncode}); see {log}")
    return wall, cpu, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the clone (and its .venv) afterwards")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nstbatch-setup-"))
    clone = work / "nstbatch"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    if (ROOT.parent / "shared").is_dir():
        (work / "shared").symlink_to(ROOT.parent / "shared")  # the data the tests read when it is there
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True,
                          text=True).stdout.strip()
    rows = []
    for target, pytest_args in (("install", None), ("test", "--durations=5"), ("demo", None)):
        env = {**os.environ, **({"PYTEST_ADDOPTS": pytest_args} if pytest_args else {})}
        wall, cpu, output = timed(["make", target], clone, work / f"{target}.log", env)
        note = ""
        if target == "test":
            counted = re.search(r"(\d+) passed[^\n]*in ([\d.]+)s", output)
            slowest = re.findall(r"^([\d.]+)s call\s+tests/(\S+)", output, re.M)[:3]
            note = (f"{counted.group(1)} tests, pytest's own {float(counted.group(2)) / 60:.1f} min; slowest: "
                    + ", ".join(f"{name.split('::')[-1]} {float(s):.0f} s" for s, name in slowest)) if counted else ""
        rows.append((f"make {target}", wall, cpu, note))
        print(rows[-1], flush=True)
    lines = [f"### Set-up times, {time.strftime('%Y-%m-%d')}, {cpu_name()}", "",
             f"`python benchmarks/bench_setup.py`: a fresh clone of {head}, the README's commands in turn (each after "
             f"the one before, so `make test` and `make demo` find the install made); CPU: user and system seconds of "
             f"the command and everything it started. pip's cache as this machine had it (torch from its disk).", "",
             "| command | wall, min | CPU, min | what dominates |", "|---|---|---|---|"]
    lines += [f"| `{name}` | {wall / 60:.1f} | {cpu / 60:.1f} | {note} |" for name, wall, cpu, note in rows]
    total = sum(wall for _, wall, _, _ in rows[:2])
    lines += ["", f"A newcomer's `make test` on a fresh clone (install and tests): {total / 60:.1f} min of wall time."]
    print("\n".join(lines))
    publish(lines)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
