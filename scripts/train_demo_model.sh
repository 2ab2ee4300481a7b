#!/usr/bin/env bash
# Trains the bundled feed-forward model with `nstbatch train` in two stages, then records it in
# nstbatch/models/starry_night/:
#   1. 3000 steps of two 160 px crops with the painting at 1.5x the crop (the first bundled network; the
#      steady and the two-painting networks start from it: scripts/train_steady_model.sh,
#      scripts/train_two_painting_model.sh);
#   2. 1400 steps from its weights of one 256 px crop with the painting at the crop's size (the size the look
#      is measured at), a smaller step and the weights' moving average: the recipe chosen by
#      benchmarks/bench_feedforward.py --look-only (benchmarks/RESULTS.md, "Feed-forward look against
#      optimisation").
# Data: the photos of ../shared/data/train marked *clear* (scripts/clear_photos.sh). Each stage is
# resumable: run the script again to go on.
# Usage: scripts/train_demo_model.sh [MODEL_DIR]   (default: train-runs/starry_night; stage 2 in MODEL_DIR-256)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/clear_photos.sh
model_dir=${1:-train-runs/starry_night}
painting=(--style examples/styles/starry_night_vangogh.jpg --photos "$photos" --style-weight 1 --device cpu --quiet)
first=(.venv/bin/nstbatch train "${painting[@]}" --output "$model_dir"
  --steps 3000 --crop-size 160 --batch-size 2 --style-scale 1.5 --save-every 250 --seed 0)
second=(.venv/bin/nstbatch train "${painting[@]}" --output "$model_dir-256" --start-from "$model_dir/model.safetensors"
  --steps 1400 --crop-size 256 --batch-size 1 --style-scale 1.0 --learning-rate 0.0005 --ema-decay 0.995
  --save-every 250 --seed 1)
"${first[@]}"
"${second[@]}"
.venv/bin/python scripts/record_model.py "$model_dir-256" "$photos" nstbatch/models/starry_night "${second[*]}"
