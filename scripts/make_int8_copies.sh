#!/usr/bin/env bash
# The int8 copies of the bundled networks (export model --int8), each recorded in its TRAINING.md by
# scripts/record_int8.py: the command, the calibration photos (the clear training photos, as copied by
# clear_photos.sh), how the copy measured against the float file, the time and the machine.
#
#   bash scripts/make_int8_copies.sh [NAME ...]     (default: the three bundled stylisers)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/clear_photos.sh
for name in "${@:-starry_night starry_night_steady starry_kandinsky}"; do
  for model in $name; do
    command=".venv/bin/nstbatch export model nstbatch/models/$model/model.onnx --int8 --calibration $photos"
    started=$(date +%s)
    $command | tee "train-runs/int8-$model.log"
    .venv/bin/python scripts/record_int8.py "$model" "$command" "$(( $(date +%s) - started ))"
  done
done
