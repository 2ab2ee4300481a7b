"""Write a bundled network's int8 copy into its TRAINING.md: the command that made it, the calibration
photos (names and sha256, from the copy's own metadata), how it measured against the float file, the time
and the machine. Called by scripts/make_int8_copies.sh; replaces the section a previous run wrote.

    python scripts/record_int8.py NAME "command" SECONDS
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import cpu_name  # noqa: E402

from nstbatch.network.model_file import BUNDLED_MODELS, int8_path, model_metadata  # noqa: E402
from nstbatch.records import file_sha256  # noqa: E402

HEADING = "## The int8 copy"


def section(name: str, command: str, seconds: int) -> str:
    copy = int8_path(BUNDLED_MODELS / name / "model.onnx")
    meta = model_metadata(copy)
    judged, calibration = json.loads(meta["int8_validation"]), json.loads(meta["int8_calibration"])
    rows = "\n".join(f"| `{photo}` | `{sha}` |" for photo, sha in zip(calibration["photos"], calibration["sha256"]))
    return f"""{HEADING}

`model.int8.onnx` is what `--model {name}` paints with on a CPU (docs/networks.md, "int8 copies for CPUs").
It was made from `model.onnx` (sha256 `{meta['float_sha256']}`) by `scripts/make_int8_copies.sh`.

- **Command**: `{command}`
- **Convolutions in int8**: {len(judged['quantised'])} of {judged['convolutions']}, chosen by measurement; the rest stay float.
- **Against the float file**, on the last {judged['held_out']} photos below (left out of the calibration): a mean difference of {judged['worst_mean']:.2f} grey levels on the worst, {judged['largest']:.0f} on the largest single pixel; style / content distance from the float picture {judged['style_distance']:.4f} / {judged['content_distance']:.4f} (the photo itself scores 1); a 512 px photo in {judged['time_ratio']:.2f}x the float file's time.
- **Time**: {seconds} s on {cpu_name()}, {time.strftime('%Y-%m-%d')}; {platform.platform()}, Python {platform.python_version()}.
- **File**: sha256 `{file_sha256(copy)}`. The calibration and the choice are deterministic; the time measured while making it is written into the file, so another run differs in those bytes.

| calibration photo | sha256 |
| --- | --- |
{rows}
"""


def main() -> None:
    name, command, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    record = BUNDLED_MODELS / name / "TRAINING.md"
    text = record.read_text()
    kept = text.split(f"\n{HEADING}\n")[0].rstrip("\n")
    record.write_text(f"{kept}\n\n{section(name, command, seconds)}")
    print(f"recorded the int8 copy in {record}")


if __name__ == "__main__":
    main()
