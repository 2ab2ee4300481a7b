"""What every benchmark script shares: naming the machine, and printing + appending its table."""

from __future__ import annotations

import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def machine(device: str = "auto") -> str:
    """The machine a table was measured on: the CPU with its cores and torch's threads, after the GPU's
    name when the timed work ran there ("cuda"; "auto": whenever torch sees one). Benchmarks pinned to
    the CPU pass "cpu", so a GPU that sat idle is never named."""
    import torch

    on_gpu = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    cpu = f"{cpu_name()}, torch {torch.__version__} (threads {torch.get_num_threads()})"
    return f"{torch.cuda.get_device_name()}, {cpu}" if on_gpu else f"{cpu}, CPU"


def publish(lines: list[str], results: Path = RESULTS) -> None:
    """Print the table and append it, as one section, to the results file."""
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    with open(results, "a", encoding="utf-8") as f:
        f.write("\n" + table)
    print(f"appended to {results}")
