#!/usr/bin/env bash
# Trains the bundled feed-forward model with `nstbatch train`, then records it in nstbatch/models/starry_night/.
# Data: the photos of ../shared/data/train marked *clear* (scripts/clear_photos.sh). The run is resumable:
# run it again to go on.
# Usage: scripts/train_demo_model.sh [MODEL_DIR]   (default: train-runs/starry_night)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/clear_photos.sh
model_dir=${1:-train-runs/starry_night}
command=(.venv/bin/nstbatch train --style examples/styles/starry_night_vangogh.jpg --photos "$photos" --output "$model_dir"
  --steps 3000 --crop-size 160 --batch-size 2 --style-scale 1.5 --style-weight 1 --save-every 250 --seed 0 --device cpu --quiet)
"${command[@]}"
.venv/bin/python scripts/record_model.py "$model_dir" "$photos" nstbatch/models/starry_night "${command[*]}"
