"""What a user gets from pip: the wheel and the sdist carry the licence the metadata names and the bundled
networks, the sdist what a build and the network worker's slim install need, and the wheel installed as a
worker would (no torch) paints with a network by name from any folder (issue 44)."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from nstbatch.media.images import save_image

from conftest import photo_like

ROOT = Path(__file__).resolve().parent.parent


def built(tmp_path):
    """The wheel and the sdist, built from a copy of the project's files (the clone stays untouched)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "requirements-network.txt"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "nstbatch", source / "nstbatch", ignore=shutil.ignore_patterns("__pycache__"))
    made = []
    for hook in ("build_wheel", "build_sdist"):  # one process each: setuptools keeps state between them
        code = f"import sys, setuptools.build_meta as b; print('BUILT', b.{hook}(sys.argv[1]))"
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / hook)], cwd=source, capture_output=True,
                              text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        assert done.returncode == 0, done.stderr[-2000:]
        name = next(line for line in done.stdout.splitlines() if line.startswith("BUILT ")).split()[1]
        made.append(tmp_path / hook / name)
    return made


def test_the_wheel_and_the_sdist_carry_the_licence_and_the_worker_requirements(tmp_path):
    wheel, sdist = built(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        licence = next(n for n in names if n.endswith("/licenses/LICENSE"))
        assert "MIT License" in z.read(licence).decode()
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata
    with tarfile.open(sdist) as tar:
        files = {Path(member.name).relative_to(Path(member.name).parts[0]).as_posix() for member in tar.getmembers()
                 if len(Path(member.name).parts) > 1}
    assert {"LICENSE", "requirements-network.txt", "pyproject.toml", "README.md", "nstbatch/cli/run.py"} <= files
    bundled = {f"nstbatch/models/{name}/{part}" for name in ("starry_night", "starry_night_steady", "starry_kandinsky")
               for part in ("model.onnx", "model.int8.onnx", "TRAINING.md")}
    assert bundled <= files and bundled <= set(names)
    assert not [n for n in names if n.endswith((".safetensors", "log.jsonl"))]  # checkpoints stay in the repository


@pytest.mark.slow
def test_the_wheel_installed_as_a_network_worker_paints_by_name_from_another_folder(tmp_path):
    wheel, _ = built(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for extra in (["-r", str(ROOT / "requirements-network.txt")], ["--no-deps", str(wheel)]):
        done = subprocess.run(pip + extra, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    save_image(photo_like(40, 56), elsewhere / "photos" / "p.png")
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment["NSTBATCH_MODELS"] = str(tmp_path / "mine")  # no models of the user's own

    def nstbatch(*args):
        return subprocess.run([str(venv / "bin" / "nstbatch"), *args], cwd=elsewhere, capture_output=True,
                              text=True, timeout=300, env=environment)

    no_torch = subprocess.run([str(venv / "bin" / "python"), "-c", "import torch"], capture_output=True, text=True)
    assert no_torch.returncode != 0  # the worker's install, not the full one
    listed = nstbatch("models")
    assert listed.returncode == 0 and "starry_night (bundled" in listed.stdout, listed.stderr
    assert str(venv) in listed.stdout  # the networks the wheel carries, not the clone's
    painted = nstbatch("run", "-i", "photos", "--model", "starry_night", "-o", "out", "--device", "cpu", "-q")
    assert painted.returncode == 0, painted.stderr
    assert (elsewhere / "out" / "p.png").is_file()
    row = json.loads((elsewhere / "out" / "nstbatch-manifest.jsonl").read_text().splitlines()[-1])
    assert row["made_with"]["int8"] is True  # on a CPU, the wheel's int8 copy
