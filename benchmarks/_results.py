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


def machine() -> str:
    """The GPU's name, or the CPU's with its cores and torch's threads; and torch's version."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"{cpu_name()}, torch {torch.__version__} (threads {torch.get_num_threads()}), CPU"


def publish(lines: list[str], results: Path = RESULTS) -> None:
    """Print the table and append it, as one section, to the results file."""
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    with open(results, "a", encoding="utf-8") as f:
        f.write("\n" + table)
    print(f"appended to {results}")
