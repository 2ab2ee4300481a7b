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
from ..runtime.color import preserve_colors
from ..runtime.headroom import free_bytes, network_bytes_per_pixel, photos_at_once
from ..runtime.results import Result
from .architecture import MIN_SIDE


def parse_blend(text: str | None, names: list[str]) -> list[float]:
    """``starry=0.7,scream=0.3`` (paintings by name, the others 0) or ``0.7,0.3`` (in the model's order),
    normalised to sum to 1; None blends all paintings equally."""
    if not text:
        return [1.0 / len(names)] * len(names)
    words = [w.strip() for w in text.split(",") if w.strip()]
    try:
        if all("=" in w for w in words):
            weights = dict.fromkeys(names, 0.0)
            for word in words:
                name, value = (part.strip() for part in word.split("=", 1))
                if name not in weights:
                    raise UsageError(f"--style-blend: the model holds no painting '{name}'; it holds {', '.join(names)}")
                weights[name] = float(value)
            values = list(weights.values())
        else:
            values = [float(w) for w in words]
    except ValueError:
        raise UsageError(f"--style-blend: expected name=weight pairs or numbers separated by commas, got '{text}'") from None
    if len(values) != len(names):
        raise UsageError(f"--style-blend has {len(values)} weights; the model holds {len(names)} paintings ({', '.join(names)})")
    if any(v < 0 for v in values) or sum(values) <= 0:
        raise UsageError(f"--style-blend weights must be >= 0 and not all zero, not '{text}'")
    return [v / sum(values) for v in values]


class FeedForward:
    item_steps = 0  # nothing to count within a photo: one pass
    min_side = (MIN_SIDE, "the network needs")

    def __init__(self, painter, style_names: list[str], blend: list[float] | None = None, keep_colors: bool = False,
                 max_memory: int | None = None):
        self.painter = painter
        self.max_memory = max_memory  # bytes a pass may use (--max-memory); None: what is free
        self.style_names = list(style_names)
        self.blend = blend or [1.0 / len(self.style_names)] * len(self.style_names)
        if len(self.blend) != len(self.style_names):
            raise UsageError(f"{len(self.blend)} blend weights for {len(self.style_names)} paintings")
        self.keep_colors = keep_colors

    @property
    def runs_on(self) -> str:
        return ", ".join(self.painter.providers)

    def paint(self, photos):
        """N x 3 x H x W in [0, 1] to the same, each photo with the engine's blend, in as many passes as
        memory asks (headroom.TooLarge for a photo too large to pass alone). A numpy array in, one out;
        a torch tensor in, a CPU tensor out."""
        arrays = as_array(photos)
        free = free_bytes(self.painter.device)
        at_once = photos_at_once(arrays.shape, network_bytes_per_pixel(self.painter.channels),
                                 min(free, self.max_memory) if self.max_memory else free)
        painted = np.concatenate([self._paint(arrays[i:i + at_once]) for i in range(0, arrays.shape[0], at_once)])
        return painted if isinstance(photos, np.ndarray) else photos.new_tensor(painted, device="cpu")

    def _paint(self, photos: np.ndarray) -> np.ndarray:
        weights = np.ascontiguousarray(np.broadcast_to(np.asarray(self.blend, np.float32),
                                                       (photos.shape[0], len(self.blend))))
        painted = np.clip(self.painter(np.ascontiguousarray(photos), weights), 0, 1)
        return preserve_colors(painted, photos) if self.keep_colors else painted

    def __call__(self, content, init=None, callback=None) -> Result:
        return self.stylize_batch(content, init, callback)[0]

    def stylize_batch(self, contents, init=None, callback=None) -> list[Result]:
        started = time.perf_counter()
        painted = self.paint(contents)
        seconds = (time.perf_counter() - started) / contents.shape[0]
        return [Result(painted[i:i + 1], {}, 1, seconds) for i in range(contents.shape[0])]
