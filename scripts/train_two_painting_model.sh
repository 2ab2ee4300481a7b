#!/usr/bin/env bash
# Trains the bundled two-painting network (starry_night + kandinsky) with `nstbatch train --from`: the
# bundled starry_night network with Kandinsky's Composition VII added (only the new painting's (γ, β) learn),
# then records it in nstbatch/models/starry_kandinsky/. It paints by region (`run --model ... --region`).
# Data: the photos of ../shared/data/train marked *clear* (scripts/clear_photos.sh). Resumable: run it again.
# It starts from the bundled network's first stage (train-runs/starry_night, made by scripts/train_demo_model.sh;
# it was the bundled starry_night itself until 2026-12-07, sha256 9ac6149b..., which its TRAINING.md names).
# Usage: scripts/train_two_painting_model.sh [MODEL_DIR]   (default: train-runs/starry_kandinsky)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/clear_photos.sh
[ -f train-runs/starry_night/model.safetensors ] || {
  echo "train-runs/starry_night/model.safetensors: missing; run scripts/train_demo_model.sh first (its first stage)" >&2
  exit 2
}
model_dir=${1:-train-runs/starry_kandinsky}
command=(.venv/bin/nstbatch train --from train-runs/starry_night/model.safetensors
  --style examples/styles/composition_vii_kandinsky.jpg --photos "$photos" --output "$model_dir"
  --steps 1500 --crop-size 160 --batch-size 2 --style-scale 1.5 --style-weight 1 --learning-rate 0.01
  --save-every 100 --seed 0 --device cpu --quiet)
"${command[@]}"
.venv/bin/python scripts/record_model.py "$model_dir" "$photos" nstbatch/models/starry_kandinsky "${command[*]}" \
  scripts/train_two_painting_model.sh
