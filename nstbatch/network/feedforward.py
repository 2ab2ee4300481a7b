"""The network engine: a photo in, its painting out in one forward pass of a trained styliser.

It offers the batch runner the same interface as the optimisation engine (``transfer.StyleTransfer``):
``engine(photo) -> Result`` and ``engine.stylize_batch(photos) -> [Result]``, so folders and manifests
work alike whichever engine paints. What runs the network is a *painter*: an onnxruntime
``StylizerSession``, or ``torch_painter.TorchPainter`` (torch on CUDA in bf16, where no onnxruntime GPU
provider loads). Pictures are numpy arrays here, so a worker running an exported network needs no torch;
a torch tensor given is handed back as one.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import UsageError
from ..media.images import as_array
from ..runtime.color import keep_colors as colors_kept
from ..runtime.free_memory import free_bytes, photos_at_once
from ..runtime.mixing import REGIONS_ONE_AT_A_TIME, check_weights, pixel_shares
from ..runtime.results import Result
from .architecture import MIN_SIDE


def parse_blend(text: str | None, names: list[str], what: str = "--style-blend") -> list[float]:
    """``starry=0.7,scream=0.3`` (paintings by name, the others 0) or ``0.7,0.3`` (in the model's order),
    normalised to sum to 1; None blends all paintings equally. ``what`` names the option in errors."""
    if not text:
        return [1.0 / len(names)] * len(names)
    words = [w.strip() for w in text.split(",") if w.strip()]
    try:
        if all("=" in w for w in words):
            weights = dict.fromkeys(names, 0.0)
            for word in words:
                name, value = (part.strip() for part in word.split("=", 1))
                if name not in weights:
                    raise UsageError(f"{what}: the model holds no painting '{name}'; it holds {', '.join(names)}")
                weights[name] = float(value)
            values = list(weights.values())
        else:
            values = [float(w) for w in words]
    except ValueError:
        raise UsageError(f"{what}: expected name=weight pairs or numbers separated by commas, got '{text}'") from None
    check_weights(values, len(names), what, names)
    return [v / sum(values) for v in values]


def region_blends(painted, names: list[str]) -> list | None:
    """Each region's blend of the network's paintings (a vector summing to 1), or None for a region kept
    as the photo, from a batch.painted_regions.PaintedRegions whose paintings are the network's by name."""
    if painted is None:
        return None
    blends = []
    for region in painted.regions:
        if region.painting_mask is not None:
            raise UsageError(f"region {region.label}: a painting mask (@) is for optimisation; a network holds "
                             f"its paintings whole")
        if region.is_photo:
            blends.append(None)
            continue
        text = ",".join(f"{name}={weight}" for name, weight in region.paintings)
        blends.append(np.asarray(parse_blend(text, names, f"the region {region.label}"), np.float32))
    return blends


def shares_by_region(masks: np.ndarray, blends: list, rest: np.ndarray) -> tuple[dict, np.ndarray]:
    """From a photo's masks (R x H x W) and each region's blend (None: the photo): each blend's share of
    every pixel ({blend as a tuple: H x W}) and the photo's share (H x W). Overlapping masks share a
    pixel; what no mask covers is painted with ``rest``."""
    masks, uncovered = pixel_shares(np.clip(masks.astype(np.float32), 0, 1))
    shares = {tuple(rest.tolist()): uncovered}
    photo = np.zeros(masks.shape[1:], np.float32)
    for mask, blend in zip(masks, blends):
        if blend is None:
            photo += mask
        else:
            key = tuple(blend.tolist())
            shares[key] = shares[key] + mask if key in shares else mask
    return shares, np.clip(photo, 0, 1)


def style_map_of(shares: dict, rest: np.ndarray) -> np.ndarray:
    """The blend at every pixel (S x H x W, summing to 1) that the shares make; the rest's blend where the
    photo alone is."""
    painted = sum(share[None] * np.asarray(blend, np.float32)[:, None, None] for blend, share in shares.items())
    total = painted.sum(0, keepdims=True)
    return np.where(total > 1e-6, painted / np.maximum(total, 1e-6), rest[:, None, None]).astype(np.float32)


class FeedForward:
    item_steps = 0  # nothing to count within a photo: one pass
    min_side = (MIN_SIDE, "the network needs")

    def __init__(self, painter, style_names: list[str], blend: list[float] | None = None,
                 keep_colors: bool | str | None = None, max_memory: int | None = None, regions: list | None = None):
        """``keep_colors``: "luminance" or "histogram" (True: "luminance"), None for the network's colours;
        ``regions``: each region's blend (``region_blends``), whose masks come with each photo."""
        self.painter = painter
        self.max_memory = max_memory  # bytes a pass may use (--max-memory); None: what is free
        self.style_names = list(style_names)
        self.blend = check_weights(blend or [1.0 / len(self.style_names)] * len(self.style_names),
                                   len(self.style_names), "the blend", self.style_names)
        self.keep_colors = "luminance" if keep_colors is True else keep_colors or None
        self.regions = list(regions or [])

    @property
    def runs_on(self) -> str:
        return ", ".join(self.painter.providers)

    def paint(self, photos):
        """N x 3 x H x W in [0, 1] to the same, each photo with the engine's blend, in as many passes as
        memory asks (free_memory.TooLarge for a photo too large to pass alone). A numpy array in, one out;
        a torch tensor in, a CPU tensor out."""
        arrays = as_array(photos)
        at_once = self._at_once(arrays.shape)
        painted = np.concatenate([self._paint(arrays[i:i + at_once]) for i in range(0, arrays.shape[0], at_once)])
        return painted if isinstance(photos, np.ndarray) else photos.new_tensor(painted, device="cpu")

    def _at_once(self, shape: tuple) -> int:
        """Photos of ``shape`` a pass may take in the memory there is (free_memory.TooLarge if not one)."""
        free = free_bytes(self.painter.device)
        return photos_at_once(shape, self.painter.bytes_per_pixel(),
                              min(free, self.max_memory) if self.max_memory else free)

    def _paint(self, photos: np.ndarray, blend: np.ndarray | None = None) -> np.ndarray:
        blend = np.asarray(self.blend if blend is None else blend, np.float32)
        weights = np.ascontiguousarray(np.broadcast_to(blend, (photos.shape[0], len(blend))))
        painted = np.clip(self.painter(np.ascontiguousarray(photos), weights), 0, 1)
        return colors_kept(self.keep_colors, painted, photos)

    def paint_regions(self, photo: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """One photo (1 x 3 x H x W) painted region by region (Dumoulin et al.'s spatial interpolation):
        with a network that takes a style map, one pass whose (γ, β) at each pixel mix the region's
        paintings; otherwise one pass per blend, mixed by the masks. Photo regions keep the photo."""
        self._at_once(photo.shape)  # a photo too large to pass alone is refused as in ``paint``
        rest = np.asarray(self.blend, np.float32)
        shares, photo_share = shares_by_region(as_array(masks), self.regions, rest)
        if getattr(self.painter, "takes_style_map", False):
            style_map = style_map_of(shares, rest)[None]
            painted = np.clip(self.painter(np.ascontiguousarray(photo), None, style_map), 0, 1)
            painted = colors_kept(self.keep_colors, painted, photo) * (1 - photo_share)
        else:  # the shares of the blends and of the photo sum to one at every pixel
            painted = np.zeros_like(photo)
            for blend, share in shares.items():
                if share.max() > 0:
                    painted += share[None, None] * self._paint(photo, np.asarray(blend, np.float32))
        return (painted + photo * photo_share).astype(np.float32)

    def __call__(self, content, init=None, callback=None, masks=None) -> Result:
        if masks is not None:
            started = time.perf_counter()
            painted = self.paint_regions(as_array(content), masks)
            painted = painted if isinstance(content, np.ndarray) else content.new_tensor(painted, device="cpu")
            return Result(painted, {}, 1, time.perf_counter() - started)
        return self._results(content)[0]

    def batch_refusal(self) -> str | None:
        """Why this engine cannot paint several photos in one call (``stylize_batch``), or None."""
        return REGIONS_ONE_AT_A_TIME if self.regions else None

    def stylize_batch(self, contents, init=None, callback=None) -> list[Result]:
        refusal = self.batch_refusal()  # each photo has its own masks: one at a time, through __call__
        if refusal:
            raise UsageError(f"--batch-size: {refusal}; leave it out")
        return self._results(contents)

    def _results(self, contents) -> list[Result]:
        started = time.perf_counter()
        painted = self.paint(contents)
        seconds = (time.perf_counter() - started) / contents.shape[0]
        return [Result(painted[i:i + 1], {}, 1, seconds) for i in range(contents.shape[0])]
