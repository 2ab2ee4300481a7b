"""What decides a universal network's shape, torch-free: read from checkpoints and exports by workers that
may have no torch. The layers are ``universal.py``'s."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import ModelError
from ..runtime.free_memory import network_bytes_per_pixel

DISTILLED_LAYER = "relu3_1"  # the VGG-19 layer the encoder's features are distilled from
VGG_CHANNELS = 256  # relu3_1's
STAND_IN_SIDE = 8  # the side of a stand-in photo (its features: a quarter of it)


@dataclass(frozen=True)
class UniversalShape:
    """What decides a universal network's shape; stored with its checkpoint and export."""

    width: int = 16  # channels of the first layer; they double at each of the two halvings, then again
    kind: str = "wct"

    @property
    def channels(self) -> list[int]:
        """Channels after each encoder stage: full size, half, quarter; the features' last."""
        return [self.width, 2 * self.width, 4 * self.width, 8 * self.width]

    @property
    def feature_channels(self) -> int:
        return self.channels[-1]

    def bytes_per_pixel(self) -> int:
        """Peak memory a pixel of one pass (the encoder's and decoder's widths are a styliser's)."""
        return network_bytes_per_pixel(self.width)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> UniversalShape:
        try:
            shape = cls(**record)
        except TypeError:
            raise ModelError(f"a universal network of shape {record}, which this nstbatch does not know") from None
        if shape.width < 1:
            raise ModelError(f"a universal network needs a width of at least 1, not {shape.width}")
        return shape


def fit_side(side: int) -> int:
    """The largest side at most ``side`` that both halvings divide (the decoder's picture is then the
    photo's size), and at least the stand-in's."""
    return max(STAND_IN_SIDE, side - side % 4)
