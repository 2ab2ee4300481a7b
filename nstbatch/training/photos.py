"""Training crops: a folder of photos held in memory, and the crops of each step as a pure function
of (seed, step).

Because a step's crops depend on nothing but the seed and the step number, a run resumed from a
checkpoint at step k draws exactly the crops an uninterrupted run draws from step k on: the position
in the data order and the random generators' states are both the step number.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..media.images import load_image, walk_images
from ..errors import ImageError, UsageError

# Photos are kept with their short side at most this many crop sizes: crops cover between half and
# all of the short side, so more resolution than that is never used.
KEEP_SHORT_SIDE = 2.0
SMALLEST_REGION = 0.5  # a crop covers 50-100% of the kept photo's short side


@dataclass
class PhotoSet:
    photos: list[torch.Tensor]  # 3 x H x W uint8, short side at most KEEP_SHORT_SIDE x crop
    names: list[str]  # relative to the folder
    skipped: list[str] = field(default_factory=list)  # "file: reason" for each unreadable file

    def fingerprint(self) -> str:
        """Names and sizes of the photos used: a resumed run must see the same set."""
        text = "\n".join(f"{n} {tuple(p.shape)}" for n, p in zip(self.names, self.photos))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_photos(folder: Path, crop_size: int, on_skip=None) -> PhotoSet:
    """Every readable image under ``folder``; unreadable ones are reported through ``on_skip`` and left out."""
    folder = Path(folder)
    if not folder.exists():
        raise UsageError(f"{folder}: no such folder for --photos")
    paths = [folder] if folder.is_file() else walk_images(folder)
    keep = round(crop_size * KEEP_SHORT_SIDE)
    photos, names, skipped = [], [], []
    for path in paths:
        try:
            image = load_image(path)
        except ImageError as exc:
            skipped.append(f"{path}: {exc.reason}")
            if on_skip is not None:
                on_skip(skipped[-1])
            continue
        h, w = image.shape[-2:]
        if min(h, w) > keep:
            scale = keep / min(h, w)
            image = F.interpolate(image, size=(round(h * scale), round(w * scale)), mode="bilinear",
                                  antialias=True, align_corners=False)
        photos.append((image[0].clamp(0, 1) * 255).round().to(torch.uint8))
        names.append(path.relative_to(folder).as_posix() if path != folder else path.name)
    if not photos:
        raise UsageError(f"{folder}: no readable photos to train on" + (f" ({len(skipped)} unreadable)" if skipped else ""))
    return PhotoSet(photos, names, skipped)


def step_generator(seed: int, *parts: int) -> torch.Generator:
    """A generator seeded by (seed, *parts): each use of randomness in a step gets its own stream."""
    key = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(key[:8], "little"))


def photo_order(seed: int, step: int, batch_size: int, count: int) -> list[int]:
    """Which photos step ``step`` crops: a fresh random order of all photos every epoch."""
    indices = []
    for position in range(step * batch_size, (step + 1) * batch_size):
        epoch, within = divmod(position, count)
        indices.append(int(torch.randperm(count, generator=step_generator(seed, 0, epoch))[within]))
    return indices


def crops(photos: PhotoSet, seed: int, step: int, batch_size: int, crop_size: int) -> torch.Tensor:
    """The batch of step ``step``: random square regions of 50-100% of a photo's short side, resized to
    ``crop_size``, flipped left-right half the time. B x 3 x crop x crop float in [0, 1]."""
    generator = step_generator(seed, 1, step)
    batch = []
    for index in photo_order(seed, step, batch_size, len(photos.photos)):
        photo = photos.photos[index]
        h, w = photo.shape[-2:]
        u = torch.rand(4, generator=generator).tolist()
        side = max(1, round(min(h, w) * (SMALLEST_REGION + (1 - SMALLEST_REGION) * u[0])))
        top, left = round((h - side) * u[1]), round((w - side) * u[2])
        region = photo[:, top:top + side, left:left + side].float().unsqueeze(0) / 255.0
        region = F.interpolate(region, size=(crop_size, crop_size), mode="bilinear", antialias=side > crop_size,
                               align_corners=False)
        if u[3] < 0.5:
            region = region.flip(-1)
        batch.append(region)
    return torch.cat(batch).clamp(0, 1)


def preview_photo(photos: PhotoSet, long_side: int) -> torch.Tensor:
    """The fixed photo every preview paints: the first one, at ``long_side``."""
    photo = photos.photos[0].float().unsqueeze(0) / 255.0
    h, w = photo.shape[-2:]
    scale = long_side / max(h, w)
    return F.interpolate(photo, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="bilinear",
                         antialias=True, align_corners=False).clamp(0, 1)
