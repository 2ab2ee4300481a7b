"""What every benchmark script shares: naming the machine, and printing + appending its table."""

from __future__ import annotations

import os
import platform
import re
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
    """Print the table and file it in the results file as its topic's current run; the run it replaces
    moves to that topic's history (``arrange``)."""
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
    results.write_text(arrange(text, lines), encoding="utf-8")
    print(f"filed in {results}")


# The results file (`python benchmarks/_results.py` arranges it in place, after sections were appended by
# hand): a preamble, a summary written by hand, each topic's current run (an anchor to link to),
# then the earlier runs of each topic, oldest first. A section's topic is its heading up to its date or
# the first parenthesis: "Fault trials (2026-12-06, ...)" and "Start-up and install, 2026-12-02, ..." are
# the topics "Fault trials" and "Start-up and install".
SUMMARY, CURRENT, HISTORY = "## Summary", "## Current figures", "## History"
EARLIER = ": earlier runs"
_SECTION = re.compile(r"^#{2,4} ")
_DATE = re.compile(r"20\d\d-\d\d-\d\d")


def topic(heading: str) -> str:
    title = heading.lstrip("#").strip()
    cut = [i for i in (title.find(" ("), _DATE.search(title).start() - 2 if _DATE.search(title) else -1) if i > 0]
    return title[:min(cut)].rstrip(" ,") if cut else title


def anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def arrange(text: str, new: list[str] | None = None) -> str:
    """``text`` (a results file, arranged or a flat list of appended sections), with the section ``new``
    (its heading first) added, arranged: each topic's last run outside the history is its current one;
    every other run of it goes to its history."""
    preamble, summary, sections, region = [], [], [], "flat"
    for line in text.splitlines():
        heading = next((name for name in (SUMMARY, CURRENT, HISTORY) if line.startswith(name)), None)
        if heading is not None:
            region = {SUMMARY: "summary", CURRENT: "current", HISTORY: "history"}[heading]
            continue
        if region == "current" and line.startswith("Each topic's latest run"):
            continue
        if line.startswith("<a id="):
            continue
        if _SECTION.match(line) and not (region == "history" and line.startswith("### ") and line.endswith(EARLIER)):
            if region == "summary":
                region = "current"
            # In the history only "####" runs are earlier ones: a "##" or "###" section there was appended
            # by hand (gpu_proof.sh's tables) and is its topic's newest.
            sections.append((topic(line), line.lstrip("#").strip(), [], region == "history" and line.startswith("#### ")))
            continue
        if region == "history" and line.startswith("### ") and line.endswith(EARLIER):
            continue
        if region == "summary":
            summary.append(line)
        elif sections:
            sections[-1][2].append(line)
        elif region == "flat":
            preamble.append(line)
    if new:
        sections.append((topic(new[0]), new[0].lstrip("#").strip(), list(new[1:]), False))
    order = list(dict.fromkeys(name for name, *_ in sections))
    out = [*_trimmed(preamble)[1:], "", SUMMARY, *(_trimmed(summary) or ["", "(to be written)"]), "", CURRENT, "",
           "Each topic's latest run; earlier ones are under History, oldest first.", ""]
    history = {}
    for name in order:
        runs = [s for s in sections if s[0] == name]
        kept = [s for s in runs if not s[3]]
        current = kept[-1] if kept else runs[-1]
        history[name] = [s for s in runs if s[3]] + [s for s in kept if s is not current]
        out += [f'<a id="{anchor(name)}"></a>', "", f"### {current[1]}", *_trimmed(current[2]), ""]
    out += [HISTORY, ""]
    for name in order:
        if history[name]:
            out += [f"### {name}{EARLIER}", ""]
            for _, heading, body, _ in history[name]:
                out += [f"#### {heading}", *_trimmed(body), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _trimmed(lines: list[str]) -> list[str]:
    """Blank lines off both ends, one blank line kept at the start of a body."""
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return ["", *lines] if lines else []


if __name__ == "__main__":  # arrange the results file in place
    RESULTS.write_text(arrange(RESULTS.read_text(encoding="utf-8")), encoding="utf-8")
