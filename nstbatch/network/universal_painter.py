"""A universal network as the network engine's painter (``feedforward.FeedForward`` runs it as it runs a
network of its own paintings): the paintings are given when it is made, their statistics computed once for
each size of photo, and each photo is encoded, given the blend's statistics (feature_transforms) and
decoded. numpy and onnxruntime only.

A photo's sides are padded by reflection to multiples of 4 (the encoder halves twice) and the picture is
cropped back, so any size comes back at its own size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..media.images import resized_picture
from . import feature_transforms
from .universal_shape import STAND_IN_SIDE

# A painting's statistics are taken with its long side at the long side of the photo it paints, as
# optimisation takes a painting's (a larger painting gives smaller strokes; bench_universal.py measured
# the matched size closest to the painting); not above the painting's own size, which is kept at most
# PAINTING_MAX_SIDE, and not below PAINTING_MIN_SIDE, where a quarter-size feature map has too few pixels
# for its channels' covariance to be steady (a small painting is enlarged to it).
PAINTING_MAX_SIDE = 1024
PAINTING_MIN_SIDE = 256
SIDE_STEP = 32  # photos whose long sides round to the same multiple of this share a painting's statistics


def _padded(pictures: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Pictures padded by reflection so each side is a multiple of 4 and at least the stand-in's."""
    height, width = pictures.shape[-2:]
    tall, wide = (max(STAND_IN_SIDE, -(-side // 4) * 4) for side in (height, width))
    if (tall, wide) == (height, width):
        return pictures, height, width
    pad = ((0, 0), (0, 0), (0, tall - height), (0, wide - width))
    # Reflection cannot pad a side by as much as its own length; a sliver of a picture repeats its edge.
    reflect = tall - height < height and wide - width < width
    return np.pad(pictures, pad, mode="reflect" if reflect else "edge"), height, width


def _resized_shares(style_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """A per-pixel blend (S x H x W) at the features' size (S x height x width), by block means."""
    from PIL import Image

    shares = [np.asarray(Image.fromarray(share.astype(np.float32), mode="F").resize((width, height),
                                                                                    Image.Resampling.BOX))
              for share in style_map]
    return np.stack(shares).astype(np.float32)


class UniversalPainter:
    """``painter(photos, weights, style_map=None) -> pictures`` over a UniversalSession (onnx/session.py):
    ``weights`` N x S, each photo's blend of the paintings; ``style_map`` N x S x H x W, a blend at every
    pixel (regions). ``strength`` mixes the photo's own statistics back in (0: the photo rebuilt)."""

    takes_style_map = True

    def __init__(self, session, paintings: list[np.ndarray], strength: float = 1.0, files: list | None = None,
                 transform: str | None = None, colours: bool = True):
        """``transform``: feature_transforms' name; None, the one the network was made for. ``colours``: the
        decoded picture's colours given the painting's too (the same transform on RGB), a second, finest level
        of Li et al.'s coarse-to-fine: the features carry texture, the decoder only part of the colours."""
        if not 0 <= strength <= 1:
            raise UsageError(f"--strength must be between 0 and 1, not {strength}")
        self.session = session
        self.transform = transform or session.shape.kind
        self.strength = float(strength)
        self.files = list(files or [])  # the paintings' files, where they came from files
        self.paintings = [resized_picture(np.asarray(painting, np.float32),
                                          min(max(painting.shape[-2:]), PAINTING_MAX_SIDE))
                          for painting in paintings]
        self.colours = colours
        self._statistics: dict[int, tuple[list, list | None]] = {}  # by the photos' long side

    @property
    def providers(self) -> list[str]:
        return self.session.providers

    @property
    def device(self) -> str:
        return self.session.device

    def bytes_per_pixel(self) -> int:
        return self.session.shape.bytes_per_pixel()

    def statistics_at(self, side: int) -> tuple[list, list | None]:
        """The paintings' statistics for photos of long side ``side``, of their features and of their colours
        (None: colours not given), each painting at that size within its bounds: taken once for each SIDE_STEP."""
        side = max(SIDE_STEP, round(side / SIDE_STEP) * SIDE_STEP)
        if side not in self._statistics:
            sized = [resized_picture(painting, max(PAINTING_MIN_SIDE, min(side, max(painting.shape[-2:]))))
                     for painting in self.paintings]
            self._statistics[side] = ([self.painting_statistics(painting) for painting in sized],
                                      [feature_transforms.statistics(painting, self.transform) for painting in sized]
                                      if self.colours else None)
        return self._statistics[side]

    def painting_statistics(self, painting: np.ndarray) -> feature_transforms.Statistics:
        """A painting's (1 x 3 x H x W) statistics, as the transform gives them."""
        padded, height, width = _padded(np.asarray(painting, np.float32))
        features = self.session.encode(padded)[:, :, :(height + 3) // 4, :(width + 3) // 4]
        return feature_transforms.statistics(features, self.transform)

    def __call__(self, photos: np.ndarray, weights: np.ndarray | None, style_map: np.ndarray | None = None) -> np.ndarray:
        padded, height, width = _padded(np.asarray(photos, np.float32))
        features = self.session.encode(padded)
        padded_map = None if style_map is None else _padded(np.asarray(style_map, np.float32))[0]
        statistics, colours = self.statistics_at(max(height, width))
        moved = np.stack([self._moved(features[i], statistics, weights, padded_map, i)
                          for i in range(len(features))])
        pictures = self.session.decode(moved)[:, :, :height, :width]
        if colours is not None:  # the picture's own colours, without the padding
            pictures = np.stack([self._moved(pictures[i], colours, weights, style_map, i)
                                 for i in range(len(pictures))])
        return pictures

    def _moved(self, values: np.ndarray, paintings: list, weights, style_map, i: int) -> np.ndarray:
        """Photo ``i``'s features (or colours), C x h x w, given the paintings' ``statistics`` in its blend."""
        if style_map is not None:
            shares = _resized_shares(style_map[i], *values.shape[-2:])
            return feature_transforms.stylised_by_map(values, self.transform, paintings, shares, self.strength)
        blend = feature_transforms.blended(paintings, weights[i])
        return feature_transforms.stylised(values, self.transform, blend, self.strength)


def region_paintings(painted, names: list[str], files: list) -> tuple[list[Path], list | None]:
    """The regions' paintings (batch.painted_regions.PaintedRegions) for a universal network given the
    paintings ``names`` (``files``: each one's file, None for a picture given as such): the files no --style
    gave, and each region's blend over all the paintings (None for a region kept as the photo). A region
    names a painting by its file, or by the stem of one given with --style."""
    if painted is None:
        return [], None
    known = {Path(f).resolve(): i for i, f in enumerate(files) if f is not None}
    extra: list[Path] = []
    picks = []
    for region in painted.regions:
        if region.painting_mask is not None:
            raise UsageError(f"region {region.label}: a painting mask (@) is for optimisation; a network paints "
                             f"with its paintings whole")
        chosen = []
        for name, weight in region.paintings:
            path = Path(name)
            if path.is_file():
                if path.resolve() not in known:
                    known[path.resolve()] = len(names) + len(extra)
                    extra.append(path)
                chosen.append((known[path.resolve()], weight))
            elif name in names:
                chosen.append((names.index(name), weight))
            else:
                raise UsageError(f"{name}: no such painting for the region {region.label} (give a file, the name of a "
                                 f"--style painting, or 'photo')")
        picks.append(chosen)
    blends = []
    for chosen in picks:
        if not chosen:
            blends.append(None)
            continue
        blend = np.zeros(len(names) + len(extra), np.float32)
        for index, weight in chosen:
            blend[index] += weight
        blends.append(blend / blend.sum())
    return extra, blends
