#!/usr/bin/env bash
# Trains the bundled universal network with `nstbatch train --universal`, exports it, and records it in
# nstbatch/models/universal/. Data: the photos of ../shared/data/train marked *clear*
# (scripts/clear_photos.sh); no painting is used. Each stage is resumable: run the script again to go on.
# Usage: scripts/train_universal_model.sh [WORK_DIR]   (default: train-runs/universal)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/clear_photos.sh
work=${1:-train-runs/universal}
# Stage 1: the encoder distilled from VGG-19's relu3_1 and the decoder taught to rebuild the photos.
rebuild=(.venv/bin/nstbatch train --universal --photos "$photos" --output "$work/rebuild" --steps 3000 --crop-size 128
  --batch-size 4 --channels 16 --save-every 250 --seed 0 --device cpu --quiet)
"${rebuild[@]}"
# Stage 2: the encoder held, the decoder taught to paint, the photos standing in for paintings.
paint=(.venv/bin/nstbatch train --universal --photos "$photos" --output "$work/paint" --start-from "$work/rebuild/model.safetensors"
  --style-weight 1 --steps ${PAINT_STEPS:-600} --crop-size 128 --batch-size 4 --channels 16 --save-every 100 --seed 0 --device cpu --quiet)
"${paint[@]}"
.venv/bin/nstbatch export model "$work/paint/model.safetensors" --output "$work/paint/model.onnx"
.venv/bin/python scripts/record_universal.py "$photos" nstbatch/models/universal "$work/rebuild" "${rebuild[*]}" \
  "$work/paint" "${paint[*]}"
