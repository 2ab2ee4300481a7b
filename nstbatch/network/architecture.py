"""What decides a styliser's shape, and the kinds of network there are, torch-free: read from checkpoints
and ONNX metadata by workers that may have no torch. The layers themselves are each kind's module's.

A kind is a name recorded in every checkpoint and export (``Architecture.kind``) and an entry in
``KINDS``: where its layers are (imported only when a network is built) and what a pixel of its forward
pass costs in memory, for the memory guard. A new kind of network is its module and one line here. Its
layers keep the contract training, export and painting rely on: built from an ``Architecture``; the
attributes ``architecture`` and ``styles``; ``forward(images, weights=None)`` (N x 3 x H x W in [0, 1]; N x S
blend weights, None for a network of one painting); ``style_parameters()``, what fine-tuning trains
when a painting is added (with ``add_style()``)."""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from typing import Callable

from ..errors import ModelError, UsageError
from ..runtime.free_memory import network_bytes_per_pixel

# The 9x9 convolutions' reflection padding (4 pixels) needs a side longer than the padding.
MIN_SIDE = 5
RESIDUAL = "residual"  # Johnson et al.'s residual network with conditional instance norm (stylizer.py)


@dataclass(frozen=True)
class Architecture:
    """What decides the network's shape; stored with every checkpoint. Files from before kinds were
    recorded are of the one kind there was."""

    channels: int = 16  # of the first layer; the two downsampling stages double it twice
    residual_blocks: int = 5
    styles: int = 1
    kind: str = RESIDUAL

    def check(self) -> None:
        if self.channels < 1 or self.residual_blocks < 0 or self.styles < 1:
            raise UsageError(f"a network needs channels >= 1, residual blocks >= 0 and styles >= 1, not {self}")
        kind_of(self)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Kind:
    layers: str  # "module:Class": the torch module, built from the Architecture
    bytes_per_pixel: Callable[[Architecture], int]  # peak memory a pixel of one forward pass


KINDS: dict[str, Kind] = {
    RESIDUAL: Kind("nstbatch.network.stylizer:Stylizer", lambda a: network_bytes_per_pixel(a.channels)),
}


def kind_of(architecture: Architecture) -> Kind:
    """The registry's entry for ``architecture``; a ModelError for a kind this nstbatch does not know."""
    try:
        return KINDS[architecture.kind]
    except KeyError:
        raise ModelError(f"a network of kind '{architecture.kind}', which this nstbatch does not know (it knows "
                         f"{', '.join(KINDS)}); upgrade nstbatch") from None


def build(architecture: Architecture):
    """The torch module of ``architecture``'s kind, freshly initialised (imports torch)."""
    module, name = kind_of(architecture).layers.split(":")
    return getattr(importlib.import_module(module), name)(architecture)


def from_record(record: dict) -> Architecture:
    """An Architecture from its recorded dict (a checkpoint's or an export's metadata); fields this version
    does not know are a ModelError, as is a kind it does not know."""
    architecture = Architecture(**record)
    kind_of(architecture)
    return architecture
