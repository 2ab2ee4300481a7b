"""Sharding a batch over independent processes, and `nstbatch status` over the folder they share."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from nstbatch.media.images import save_image
from nstbatch.batch.shards import Shard, parse_shard
from nstbatch.errors import UsageError

from conftest import invoke, painting_like, photo_like

ARGS = ["--size", "32", "--iterations", "20", "--device", "cpu", "-q"]


def test_parse_shard():
    assert parse_shard(None) == Shard(0, 1)
    assert parse_shard("3/4") == Shard(3, 4) and parse_shard(" 0 / 2 ") == Shard(0, 2)
    for bad in ("4/4", "-1/4", "1", "a/b", "1/0"):
        with pytest.raises(UsageError, match="--shard must be I/N"):
            parse_shard(bad)


def test_shards_cover_every_input_exactly_once():
    items = list(range(11))
    parts = [Shard(i, 4).take(items) for i in range(4)]
    assert sorted(x for part in parts for x in part) == items
    assert Shard(0, 4).manifest_name == "nstbatch-manifest.shard-0-of-4.jsonl"
    assert Shard(0, 1).manifest_name == "nstbatch-manifest.jsonl"


@pytest.fixture
def folder(tmp_path):
    inputs = tmp_path / "in"
    for i in range(12):
        save_image(photo_like(24, 32, seed=i), inputs / ("sub" if i % 2 else "") / f"p{i:02d}.png")
    style = save_image(painting_like(), tmp_path / "style.png")
    return inputs, style


def nstbatch(*args) -> list[str]:
    code = "import sys; from nstbatch.cli import app; sys.argv[0] = 'nstbatch'; app()"
    return [sys.executable, "-c", code, *map(str, args)]


def results(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("p*.png"))


@pytest.mark.slow
def test_four_processes_cover_a_folder_once_and_a_killed_shard_resumes(folder, tmp_path):
    inputs, style = folder
    out = tmp_path / "out"
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    # Photos slow enough that shard 0 cannot finish its other two between its first row and the kill,
    # even on a loaded machine.
    slower = [a if a != "20" else "80" for a in ARGS]
    # Shard 0 is killed as soon as its first result is recorded, before its other two.
    first = subprocess.Popen(nstbatch("run", "-i", inputs, "-s", style, "-o", out, *slower, "--shard", "0/4"),
                             env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = out / "nstbatch-manifest.shard-0-of-4.jsonl"
    deadline = time.monotonic() + 120
    while not (manifest.exists() and manifest.read_bytes().endswith(b"\n")) and first.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    # Shard 0 holds inputs 0, 4 and 8 of the walk: p00, p08 and sub/p05.
    assert (out / "p00.png").exists() and not (out / "sub" / "p05.png").exists(), "shard 0 finished before the kill"

    status = invoke(*["status", str(out)])
    assert status.exit_code == 1
    done = int(re.search(r"shard 0/4: (\d) done, 0 failed, (\d) to do \(of 3\)", status.output)[1])
    assert done in (1, 2)  # a result whose row the kill cut off counts as still to do
    assert "shard 1/4: not started" in status.output and f"all: {done} done, 0 failed, {12 - done} to do (of 12)" in status.output

    others = [subprocess.Popen(nstbatch("run", "-i", inputs, "-s", style, "-o", out, *slower, "--shard", f"{i}/4"),
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for i in range(4)]
    outputs = [p.communicate(timeout=300)[0].decode() for p in others]
    assert [p.returncode for p in others] == [0, 0, 0, 0], outputs
    redone, kept = map(int, re.search(r"(\d) done, (\d) skipped", outputs[0]).groups())
    assert redone >= 1 and redone + kept == 3  # the killed shard finished the rest

    whole = invoke(*["run", "-i", str(inputs), "-s", str(style), "-o", str(tmp_path / "whole"), *slower])
    assert whole.exit_code == 0
    assert results(out) == results(tmp_path / "whole")  # exactly the single-process set, each once
    assert sorted(p.name for p in out.glob("nstbatch-manifest*")) == [
        f"nstbatch-manifest.shard-{i}-of-4.jsonl" for i in range(4)]
    status = invoke(*["status", str(out)])
    assert status.exit_code == 0 and "all: 12 done, 0 failed, 0 to do (of 12)" in status.output


def test_status_lists_failures_and_refuses_a_folder_without_a_plan(folder, tmp_path):
    inputs, style = folder
    (inputs / "broken.png").write_bytes(b"not a picture")
    out = tmp_path / "out"
    assert invoke(*["run", "-i", str(inputs), "-s", str(style), "-o", str(out), *ARGS[:2],
                                    "--iterations", "1", "-q", "--shard", "0/2"]).exit_code == 1
    status = invoke(*["status", str(out)])
    assert status.exit_code == 1
    assert "shard 1/2: not started" in status.output and "shard 0/2: 6 done, 1 failed, 0 to do (of 7)" in status.output
    assert "failed: " in status.output and "broken.png: is not an image" in status.output
    bare = invoke(*["status", str(tmp_path)])
    assert bare.exit_code == 2 and "no nstbatch plan here" in bare.output
