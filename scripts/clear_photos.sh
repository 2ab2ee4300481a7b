#!/usr/bin/env bash
# Sourced by the training scripts: copies the photos of ../shared/data/train marked *clear* in its
# SOURCES.md (all but skimage_coins.png and skimage_motorcycle_left.png, whose rights are unverified)
# into $photos (train-runs/clear-photos).
shared=${SHARED_TRAIN:-../shared/data/train}
photos=train-runs/clear-photos
mkdir -p "$photos"
for f in "$shared"/*.jpg "$shared"/*.png; do
  case "$(basename "$f")" in skimage_coins.png|skimage_motorcycle_left.png) ;; *) cp -p "$f" "$photos/" ;; esac
done
