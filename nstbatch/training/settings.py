"""What decides a trained network's weights: the settings of `nstbatch train`, checked and recorded.

A module of its own, without torch, so the command line can show their defaults without loading it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import UsageError
from ..network.architecture import KINDS, RESIDUAL
from ..runtime.defaults import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS


@dataclass
class TrainSettings:
    """Everything that decides the weights; a resumed run must match all but ``steps`` and ``save_every``."""

    steps: int = 2000
    crop_size: int = 256
    batch_size: int = 4
    learning_rate: float = 1e-3
    content_weight: float = 1.0
    # Not run's 3: optimisation stops 150 iterations from the photo, far from the minimum a network is
    # trained towards; at 3 the bundled network painted its photos out of recognition.
    style_weight: float = 1.0
    tv_weight: float = 0.0
    temporal_weight: float = 0.0  # steadiness: the moved-crop consistency term (motion.py); 0 is off
    temporal_block: int = 1  # the term compares means of blocks this side (motion.consistency); 1: per pixel
    ema_decay: float = 0.0  # ship the moving average of the weights with this decay a step; 0: the last step's
    style_scale: float = 1.0  # the painting's long side relative to the crop's: larger gives larger strokes
    content_layers: tuple = DEFAULT_CONTENT_LAYERS
    style_layers: tuple = DEFAULT_STYLE_LAYERS
    kind: str = RESIDUAL  # of network (network/architecture.KINDS)
    channels: int = 16
    residual_blocks: int = 5
    seed: int = 0
    precision: str = "fp32"
    save_every: int = 100

    UNCHECKED = ("steps", "save_every")  # may change between runs of the same training

    def check(self) -> None:
        for name in ("steps", "crop_size", "batch_size", "save_every"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.crop_size < 16:
            raise UsageError(f"--crop-size must be at least 16, not {self.crop_size}")
        if self.learning_rate <= 0 or self.style_scale <= 0:
            raise UsageError("--learning-rate and --style-scale must be > 0")
        if not math.isfinite(self.temporal_weight) or self.temporal_weight < 0:
            raise UsageError(f"--temporal-weight must be a finite number >= 0, not {self.temporal_weight}")
        if self.temporal_block < 1:
            raise UsageError(f"--temporal-block must be at least 1, not {self.temporal_block}")
        if self.temporal_block != 1 and not self.temporal_weight:
            # it shapes only the temporal term; taken alone it would change nothing yet bind the checkpoint
            raise UsageError("--temporal-block shapes the temporal term: give --temporal-weight too")
        if self.kind not in KINDS:
            raise UsageError(f"--kind must be one of {', '.join(KINDS)}, not '{self.kind}'")
        if not 0 <= self.ema_decay < 1:
            raise UsageError(f"--ema-decay must be in [0, 1), not {self.ema_decay}")
        self.options().check()

    def options(self):
        """The optimisation's Options these settings train towards (runtime.stylize, loaded only here)."""
        from ..runtime.stylize import Options

        return Options(content_weight=self.content_weight, style_weight=self.style_weight, tv_weight=self.tv_weight,
                       content_layers=tuple(self.content_layers), style_layers=tuple(self.style_layers),
                       precision=self.precision)

    def record(self) -> dict:
        values = asdict(self)
        values.update(content_layers=list(self.content_layers), style_layers=list(self.style_layers))
        for name, default in (("temporal_weight", 0), ("ema_decay", 0), ("temporal_block", 1), ("kind", RESIDUAL)):
            if values[name] == default:
                del values[name]  # as recorded before it existed, so those checkpoints resume
        return {k: v for k, v in values.items() if k not in self.UNCHECKED}
