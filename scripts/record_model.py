"""Copy a trained model into nstbatch/models/NAME/ with the record that makes it reproducible:
the command, the data (names and sha256 of every photo), seed, steps, settings, time and machine.

    python scripts/record_model.py MODEL_DIR PHOTOS_DIR DEST "the command that trained it" [SCRIPT]

SCRIPT is the script that ran the command (default scripts/train_demo_model.sh). Sections of an
existing DEST/TRAINING.md other than the ones written here (e.g. "Why these weights", written by hand)
are kept, after them.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import time
from pathlib import Path

GENERATED_SECTIONS = ("## Data", "## Settings (as stored in the checkpoint)")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import cpu_name  # noqa: E402

from nstbatch.atomic import atomic_path  # noqa: E402
from nstbatch.network.checkpoint import read_info  # noqa: E402
from nstbatch.records import file_sha256  # noqa: E402


def main(model_dir: Path, photos: Path, dest: Path, command: str, script: str = "scripts/train_demo_model.sh") -> None:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(model_dir / "model.safetensors", dest / "model.safetensors")
    shutil.copy2(model_dir / "log.jsonl", dest / "log.jsonl")
    info, _ = read_info(dest / "model.safetensors")
    last = sorted((model_dir / "previews").glob("step*.png"))[-1]
    shutil.copy2(last, dest / "preview.png")
    rows = [json.loads(line) for line in (model_dir / "log.jsonl").read_text().splitlines() if line.strip()]
    seconds = sum(r["seconds"] for r in rows)
    photo_rows = "\n".join(f"| `{p.name}` | `{file_sha256(p)}` |" for p in sorted(photos.iterdir()) if p.is_file())
    started = "".join(f"- **Started from**: `{run['from']}` (sha256 `{run['sha256']}`, trained to step {run['step']}); "
                      f"the steps below are this run's.\n" for run in info.history[-1:])
    settings = "\n".join(f"| {k} | {v} |" for k, v in sorted(info.settings.items()) if k not in ("photos", "styles"))
    text = f"""# {dest.name}: how this network was made

A feed-forward styliser trained by `nstbatch train` (nstbatch {info.nstbatch_version}) on
{', '.join(info.style_names)}; `model.safetensors` holds its weights and this metadata, `log.jsonl` the
loss of every step, `preview.png` the last preview (the first training photo, then the network's picture).

- **Command** (as run by `{script}`):
  `{command}`
{started}- **Steps**: {info.step}, {info.settings['batch_size']} crop{'s' if info.settings['batch_size'] != 1 else ''} of {info.settings['crop_size']} px a step, seed {info.settings['seed']}.
- **Time**: {seconds / 3600:.2f} hours of training steps ({seconds / len(rows):.2f} s a step, median
  {sorted(r['seconds'] for r in rows)[len(rows) // 2]:.2f} s) on {cpu_name()}, CPU only, torch, finished
  {time.strftime('%Y-%m-%d')}; other work shared the two cores at times.
- **Painting**: `examples/styles/{info.style_names[0]}.jpg`, sha256 `{info.styles[0]['sha256']}`.
- **Weights file**: sha256 `{file_sha256(dest / 'model.safetensors')}`.
- **Machine**: {platform.platform()}, Python {platform.python_version()}.

Training is deterministic on a given machine: the same command on the same data resumes or repeats
to the same weights (every crop is a function of the seed and the step). Another CPU or library
version gives weights that differ in the last bits.

## Data

The photos of `../shared/data/train/` marked *clear* in its `SOURCES.md` (the two marked *unverified*,
`skimage_coins.png` and `skimage_motorcycle_left.png`, were left out). None of them is a benchmark or
example photo.

| photo | sha256 |
| --- | --- |
{photo_rows}

## Settings (as stored in the checkpoint)

| setting | value |
| --- | --- |
{settings}
"""
    record = dest / "TRAINING.md"
    kept = hand_written_sections(record.read_text(encoding="utf-8")) if record.exists() else []
    with atomic_path(record) as part:
        part.write_text("\n".join([text, *kept]).rstrip("\n") + "\n", encoding="utf-8")
    print(f"wrote {dest}")


def hand_written_sections(text: str) -> list[str]:
    """The ``## `` sections of an earlier record that this script does not write, in their order."""
    sections = ["## " + part for part in text.split("\n## ")[1:]]
    return [part.rstrip("\n") + "\n" for part in sections if not part.startswith(GENERATED_SECTIONS)]


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:6])
