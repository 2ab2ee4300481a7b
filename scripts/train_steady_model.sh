#!/usr/bin/env bash
# Teaches the bundled network steadiness for video: 2400 more steps from its weights with the temporal
# term (--temporal-weight 32) and the style weight raised to 1.35 to keep its look (measured by
# benchmarks/bench_temporal_training.py --steps 2400 --weights 32@1.35, the same training), then records it in
# nstbatch/models/starry_night_steady/. Data: as the bundled network's (scripts/clear_photos.sh).
# It starts from the bundled network's first stage (train-runs/starry_night, made by scripts/train_demo_model.sh;
# it was the bundled starry_night itself until 2026-12-07, sha256 9ac6149b..., which its TRAINING.md names).
# Usage: scripts/train_steady_model.sh [MODEL_DIR]   (default: train-runs/starry_night_steady)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/clear_photos.sh
[ -f train-runs/starry_night/model.safetensors ] || {
  echo "train-runs/starry_night/model.safetensors: missing; run scripts/train_demo_model.sh first (its first stage)" >&2
  exit 2
}
model_dir=${1:-train-runs/starry_night_steady}
command=(.venv/bin/nstbatch train --style examples/styles/starry_night_vangogh.jpg --photos "$photos" --output "$model_dir"
  --start-from train-runs/starry_night/model.safetensors --steps 2400 --crop-size 160 --batch-size 2
  --style-scale 1.5 --style-weight 1.35 --temporal-weight 32 --ema-decay 0.995 --save-every 300 --seed 1 --device cpu --quiet)
"${command[@]}"
.venv/bin/python scripts/record_model.py "$model_dir" "$photos" nstbatch/models/starry_night_steady "${command[*]}" \
  scripts/train_steady_model.sh
