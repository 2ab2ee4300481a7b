#!/usr/bin/env bash
# Trains the bundled feed-forward model with `nstbatch train`, then records it in examples/models/starry_night/.
# Data: the photos of ../shared/data/train marked *clear* in its SOURCES.md (all but skimage_coins.png
# and skimage_motorcycle_left.png, whose rights are unverified). The run is resumable: run it again to go on.
# Usage: scripts/train_demo_model.sh [MODEL_DIR]   (default: train-runs/starry_night)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED_TRAIN:-../shared/data/train}
model_dir=${1:-train-runs/starry_night}
photos=train-runs/clear-photos
mkdir -p "$photos"
for f in "$shared"/*.jpg "$shared"/*.png; do
  case "$(basename "$f")" in skimage_coins.png|skimage_motorcycle_left.png) ;; *) cp -p "$f" "$photos/" ;; esac
done
command=(.venv/bin/nstbatch train --style examples/styles/starry_night_vangogh.jpg --photos "$photos" --output "$model_dir"
  --steps 3000 --crop-size 160 --batch-size 2 --style-scale 1.5 --style-weight 1 --save-every 250 --seed 0 --device cpu --quiet)
"${command[@]}"
.venv/bin/python scripts/record_model.py "$model_dir" "$photos" examples/models/starry_night "${command[*]}"
