"""What a picture may use: the memory free now, the share of it planned for, and how many photos fit
one pass of a trained network. Torch-free (a GPU's free memory imports it), so network workers need none.

A trained network (``network/feedforward.py``) needs far less than optimisation (``memory.py``): one
forward pass without gradients keeps a few activations alive at a time. ``photos_at_once`` says how
many photos of a batch one pass may take, and refuses a photo that does not fit alone.
"""

from __future__ import annotations

import os

from ..errors import NstError

FLOAT = 4
IMAGE_FLOATS = 3  # RGB: floats a pixel in each image-sized tensor
HEADROOM = 0.85  # the share of free memory a picture is planned within: allocators fragment, and others run too
OVERHEAD = 256 * 2**20  # the allocator's and thread pools' buffers, whatever the picture
# A styliser's forward pass grows with the width of its first layer: counted as this many full-resolution
# activations of that width, plus the picture's own copies (photo, painting, clamped and colour-kept
# copies, the arrays handed to onnxruntime), which stays above what benchmarks/bench_network_memory.py
# measured under onnxruntime and torch (benchmarks/RESULTS.md).
NETWORK_ACTIVATIONS = 8
NETWORK_IMAGES = 10


class TooLarge(NstError):
    """A picture that does not fit in the memory there is: optimised even block by block, or alone through a network."""


def gib(size: float) -> str:
    return f"{size / 2**30:.1f} GiB"


def free_bytes(device) -> int:
    """Memory a picture may use now on ``device`` (a torch device, or its type as a string): free GPU
    memory (plus what torch holds cached), or available RAM (also where torch cannot read the GPU's)."""
    torch = _torch_with_cuda() if getattr(device, "type", device) == "cuda" else None
    if torch is not None:
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _torch_with_cuda():
    """torch, where it is installed and sees a GPU: only it reads a GPU's free memory. A network worker
    without torch plans within the host's memory, as it would on the CPU."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def network_bytes_per_pixel(channels: int) -> int:
    """Peak bytes a pixel of one forward pass of a styliser whose first layer has ``channels``."""
    return FLOAT * (NETWORK_ACTIVATIONS * channels + IMAGE_FLOATS * NETWORK_IMAGES)


def photos_at_once(shape: tuple, bytes_per_pixel: int, free: int) -> int:
    """How many photos of a B x 3 x H x W batch one forward pass may take within ``free`` bytes (at least
    one); raises TooLarge, naming the largest size that fits, when not even one photo does."""
    batch, _, height, width = shape
    usable = int(free * HEADROOM)
    per_photo = bytes_per_pixel * height * width
    if per_photo + OVERHEAD > usable:
        scale = (max(usable - OVERHEAD, 0) / per_photo) ** 0.5  # memory grows with the area
        raise TooLarge(refusal(width, height, per_photo + OVERHEAD, "through the network", usable, free,
                               int(max(height, width) * scale)))
    return max(1, min(batch, (usable - OVERHEAD) // per_photo))


def refusal(width: int, height: int, needed: int, how: str, usable: int, free: int, fits: int) -> str:
    advice = (f"the largest that fits is about --size {fits}" if fits >= 16
              else "free some memory (other programs, --batch-size 1) or give a much smaller --size")
    return f"{width}x{height} needs about {gib(needed)} {how}, and {gib(usable)} of the {gib(free)} free is usable; {advice}"
