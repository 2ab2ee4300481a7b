"""The memory guard: what a picture's optimisation needs, what is free, and how to make it fit.

Peak memory of an evaluation has two parts (both in bytes):

- the per-pixel state, which grows with the picture whatever is done: the image, its gradient, the
  best image so far, the start and the photo (3 floats a pixel each), L-BFGS's history (two image-sized
  vectors a pair, plus a few for its direction), the content targets (C / stride² floats a pixel at each
  content layer), the temporal term's target and mask;
- the network's activations kept for the backward pass, measured once per (layers, precision) by a
  small forward with autograd's saved-tensor hooks, then scaled by the pixels one pass sees: the whole
  picture, or one block and its margins (blocks.py).

``fit`` picks the cheapest way that fits in what is free: the whole picture; else blocks (largest
first); else blocks with a shorter L-BFGS history; else it refuses, naming the largest size that fits.

What is free, and a trained network's far smaller needs, are ``free_memory.py``'s: network workers load
no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .blocks import blocks
from .free_memory import FLOAT, HEADROOM, IMAGE_FLOATS, OVERHEAD, TooLarge, refusal
from .vgg import VGG19Features, stride

IMAGES_KEPT = 5  # pixels, gradient, best image, start, photo
LBFGS_EXTRA = 4  # direction, previous gradient, the step and a flattened copy
LBFGS_HISTORY = 100  # torch.optim.LBFGS's history_size, as the loop sets it
HISTORIES = (LBFGS_HISTORY, 50, 20, 10)  # what the guard tries, in order, before it refuses
BLOCK_SIDES = (1024, 512, 256)  # block sides the guard tries, largest (least margin work) first
# The loop grows by more than the saved-tensor count: the backward's own temporaries (a share of the
# count) and the allocator's and thread pools' buffers (free_memory.OVERHEAD); both set from what
# benchmarks/bench_memory.py measured (benchmarks/RESULTS.md).
ACTIVATION_SLACK = 1.25
MEASURE_SIDES = (64, 96)


@dataclass(frozen=True)
class Fit:
    """How a picture is optimised: whole or in blocks of ``block`` pixels, with ``history`` L-BFGS pairs."""

    block: int | None = None
    history: int = LBFGS_HISTORY
    needed: int = 0  # estimated peak, bytes
    free: int = 0  # what the guard planned within, bytes

    def label(self) -> str:
        """What the progress bar says when memory changed the way: '' for the whole picture at full history."""
        parts = [f"blocks of {self.block} px"] if self.block else []
        if self.history != LBFGS_HISTORY:
            parts.append(f"L-BFGS history {self.history}")
        return ", ".join(parts)


_measured: dict = {}


def activation_bytes_per_pixel(vgg: VGG19Features, layers, precision: torch.dtype | None) -> float:
    """Bytes the backward pass through ``vgg`` up to ``layers`` needs per image pixel: every tensor
    autograd saves (each storage once), the activations returned, and two of the largest activation's
    size for the gradients in flight. Measured at two sizes and taken per added pixel, so what does not
    grow with the picture (half-precision copies of the weights) is left out."""
    device = next(vgg.buffers()).device
    key = (id(vgg), tuple(layers), precision, str(device))
    if key not in _measured:
        small, large = (_kept_bytes(vgg, layers, precision, device, side) for side in MEASURE_SIDES)
        _measured[key] = (large - small) / (MEASURE_SIDES[1] ** 2 - MEASURE_SIDES[0] ** 2)
    return _measured[key]


def _kept_bytes(vgg, layers, precision, device, side: int) -> int:
    storages: dict[int, int] = {}

    def keep(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    image = torch.rand(1, 3, side, side, device=device, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        with torch.autocast(device.type, dtype=precision or torch.float32, enabled=precision is not None):
            features = vgg(image, layers)
    for act in features.values():
        keep(act)
    weights = {b.untyped_storage().data_ptr() for b in vgg.buffers()}
    kept = [n for ptr, n in storages.items() if ptr not in weights]
    return sum(kept) + 2 * max(kept)


def state_bytes_per_pixel(content_channels: dict[str, int], optimizer: str, history: int, temporal: bool,
                          blockwise: bool) -> float:
    """Bytes of per-pixel state, whatever the block size (see the module's docstring); block-wise
    evaluation adds the gradient it gathers."""
    images = (IMAGES_KEPT + (2 * history + LBFGS_EXTRA if optimizer == "lbfgs" else 2) + temporal + blockwise)
    targets = sum(channels / stride(name) ** 2 for name, channels in content_channels.items())
    return FLOAT * (IMAGE_FLOATS * images + targets + temporal)


def largest_read(height: int, width: int, block: int, layers) -> int:
    """Pixels of the largest region a block reads, margins included."""
    return max((b.read_rows[1] - b.read_rows[0]) * (b.read_cols[1] - b.read_cols[0])
               for b in blocks(height, width, block, layers))


@dataclass(frozen=True)
class Needs:
    """What decides a picture's peak memory, apart from its size and the way it is evaluated."""

    layers: tuple  # every layer the objective reads
    content_channels: dict  # {content layer: channels}
    activation_bpp: float  # activation_bytes_per_pixel
    optimizer: str = "lbfgs"
    temporal: bool = False

    def peak(self, batch: int, height: int, width: int, block: int | None, history: int) -> int:
        state = state_bytes_per_pixel(self.content_channels, self.optimizer, history, self.temporal, block is not None)
        seen = height * width if block is None else largest_read(height, width, block, self.layers)
        return int(batch * (state * height * width + ACTIVATION_SLACK * self.activation_bpp * seen) + OVERHEAD)


def fit(shape: tuple, needs: Needs, free: int, block: int | None = None) -> Fit:
    """The cheapest way to optimise a B x 3 x H x W picture within ``free`` bytes; ``block`` forces
    blocks of that side. Raises TooLarge, naming the largest size that fits."""
    batch, _, height, width = shape
    usable = int(free * HEADROOM)
    histories = HISTORIES if needs.optimizer == "lbfgs" else (LBFGS_HISTORY,)
    sides = [side for side in BLOCK_SIDES if side < max(height, width)]  # a block as large is the whole picture
    ways = [block] if block else [None, *sides]
    # A shorter history costs convergence, blocks only time: every way at full history first.
    tries = [(way, history) for history in histories for way in ways]
    for block_side, history in tries:
        estimate = needs.peak(batch, height, width, block_side, history)
        if estimate <= usable:
            return Fit(block_side, history, estimate, usable)
    # The largest picture of this shape that fits the last (cheapest) way tried, by bisection on the scale.
    block_side, history = tries[-1]
    low, high = 0.0, 1.0
    for _ in range(30):
        middle = (low + high) / 2
        h, w = max(1, round(height * middle)), max(1, round(width * middle))
        low, high = (middle, high) if needs.peak(batch, h, w, block_side, history) <= usable else (low, middle)
    how = "in blocks with a short L-BFGS history" if block_side else "with a short L-BFGS history"
    raise TooLarge(refusal(width, height, needs.peak(batch, height, width, *tries[-1]), f"even {how}", usable, free,
                            int(max(height, width) * low)))
