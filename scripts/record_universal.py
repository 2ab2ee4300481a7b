"""Copy the trained universal network into nstbatch/models/universal/ with the record that makes it
reproducible: each stage's command, the data (names and sha256 of every photo), seed, steps, settings,
time and machine.

    python scripts/record_universal.py PHOTOS_DIR DEST STAGE_DIR "command" [STAGE_DIR "command" ...]

The last stage's folder holds the network shipped (its model.safetensors and the model.onnx exported from
it); every stage's log is kept as log-STAGE.jsonl.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import cpu_name  # noqa: E402

from nstbatch.network.universal_checkpoint import read_universal  # noqa: E402
from nstbatch.records import file_sha256  # noqa: E402


def stage_lines(folder: Path, command: str) -> tuple[str, float]:
    info = read_universal(folder / "model.safetensors")
    rows = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines() if line.strip()]
    seconds = sum(r["seconds"] for r in rows)
    median = sorted(r["seconds"] for r in rows)[len(rows) // 2]
    settings = ", ".join(f"{k} {v}" for k, v in sorted(info.settings.items()) if k not in ("photos",))
    return (f"  - **{folder.name}**: `{command}`\n"
            f"    - {info.step} steps of {info.settings['batch_size']} crops of {info.settings['crop_size']} px, seed "
            f"{info.settings['seed']}; {seconds / 3600:.2f} hours of steps ({seconds / len(rows):.2f} s a step, median "
            f"{median:.2f} s)\n    - settings as stored: {settings}\n"), seconds


def main(photos: Path, dest: Path, stages: list[tuple[Path, str]]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    last = stages[-1][0]
    for name in ("model.safetensors", "model.onnx"):
        shutil.copy2(last / name, dest / name)
    shutil.copy2(sorted((last / "previews").glob("step*.png"))[-1], dest / "preview.png")
    lines, total = [], 0.0
    for folder, command in stages:
        shutil.copy2(folder / "log.jsonl", dest / f"log-{folder.name}.jsonl")
        text, seconds = stage_lines(folder, command)
        lines.append(text)
        total += seconds
    photo_rows = "\n".join(f"| `{p.name}` | `{file_sha256(p)}` |" for p in sorted(photos.iterdir()) if p.is_file())
    info = read_universal(dest / "model.safetensors")
    text = f"""# universal: how this network was made

A universal network trained by `nstbatch train --universal` (nstbatch {info.nstbatch_version}): it takes its
painting when it paints (`--model universal --style PAINTING`), so no painting was used in training.
`model.safetensors` holds its weights and this metadata, `model.onnx` its export, `log-STAGE.jsonl` the
losses of every step, `preview.png` the last preview (a training photo, its rebuilding, then the photo
given two other photos' statistics).

- **Script**: `scripts/train_universal_model.sh`, in stages, each going on from the one before:
{''.join(lines)}- **Time**: {total / 3600:.2f} hours of training steps in all on {cpu_name()}, CPU only, finished
  {time.strftime('%Y-%m-%d')}; other work shared the two cores at times.
- **Weights file**: sha256 `{file_sha256(dest / 'model.safetensors')}`; `model.onnx` sha256
  `{file_sha256(dest / 'model.onnx')}`.
- **Machine**: {platform.platform()}, Python {platform.python_version()}.

Training is deterministic on a given machine: the same commands on the same data resume or repeat to the
same weights (every crop is a function of the seed and the step). Another CPU or library version gives
weights that differ in the last bits.

## Data

The photos of `../shared/data/train/` marked *clear* in its `SOURCES.md` (the two marked *unverified*,
`skimage_coins.png` and `skimage_motorcycle_left.png`, were left out), copied by `scripts/clear_photos.sh`.
None of them is a benchmark or example photo, and no painting was seen.

| photo | sha256 |
| --- | --- |
{photo_rows}
"""
    (dest / "TRAINING.md").write_text(text, encoding="utf-8")
    print(f"recorded {dest}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    pairs = [(Path(arguments[i]), arguments[i + 1]) for i in range(2, len(arguments), 2)]
    main(Path(arguments[0]), Path(arguments[1]), pairs)
