"""What a user gets from pip: the wheel and the sdist carry the licence the metadata names, and the sdist
carries what a build and the network worker's slim install need (issue 44)."""

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

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
