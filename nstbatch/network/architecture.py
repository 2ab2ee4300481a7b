"""What decides a styliser's shape, torch-free: read from checkpoints and ONNX metadata by workers that
may have no torch. The layers themselves are ``stylizer.py``'s."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import UsageError

# The 9x9 convolutions' reflection padding (4 pixels) needs a side longer than the padding.
MIN_SIDE = 5


@dataclass(frozen=True)
class Architecture:
    """What decides the network's shape; stored with every checkpoint."""

    channels: int = 16  # of the first layer; the two downsampling stages double it twice
    residual_blocks: int = 5
    styles: int = 1

    def check(self) -> None:
        if self.channels < 1 or self.residual_blocks < 0 or self.styles < 1:
            raise UsageError(f"a network needs channels >= 1, residual blocks >= 0 and styles >= 1, not {self}")

    def as_dict(self) -> dict:
        return asdict(self)
