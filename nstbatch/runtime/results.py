"""What an engine hands back: each evaluation's ``Step`` for progress bars and snapshots, and a picture's
``Result``. Plain records, torch-free, so either engine (optimisation or a network) can fill them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Step:
    """What the callback sees after each evaluation of the objective."""

    iteration: int  # 1-based count of evaluations so far
    total: int  # the iteration budget
    losses: dict[str, float]
    image: object  # the image just evaluated, 1 x 3 x H x W in [0, 1] (do not modify)
    scale: str = ""  # which scale and way, for the bar, e.g. "scale 2/4, 512 px, blocks of 512 px"


@dataclass
class Result:
    image: object  # 1 x 3 x H x W in [0, 1] on the CPU: a torch tensor (optimisation) or a numpy array (a network)
    losses: dict[str, float]  # of the returned image
    iterations: int
    seconds: float
    history: list[float] = field(default_factory=list)  # total loss after each evaluation
