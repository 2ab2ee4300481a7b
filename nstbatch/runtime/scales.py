"""Coarse-to-fine: the scales a large picture is optimised at, and how the iterations are spread.

Optimising a 2048 px picture from its photo converges slowly: the large strokes that the style asks
for take many full-size evaluations to appear. Starting small and growing by about sqrt(2) a scale,
each scale from the previous result upsampled, gets them at a fraction of the cost, as users of
jcjohnson/neural-style did by hand and crowsonkb/style-transfer-pytorch does automatically.

The budget: each scale has twice the pixels of the one before, so an evaluation there costs about
twice as much. Halving the iterations at each step up gives every scale the same share of the time,
so most evaluations happen where they are cheap; the iterations still add up exactly to the budget
asked for, so times stay comparable with a single-scale run of the same --iterations.

Measured (benchmarks/bench_scales.py, 1024 px, 60 evaluations): a third of one scale's time, but far
from its picture (style distance 0.555 against 0.068), since the few evaluations left for the full
size cannot restore the fine texture that upsampling blurs. So `run` keeps it off by default; giving
the final scale a fixed half of the budget matched one scale's style at 512 px in a scratch test
(0.040 against 0.041, 0.64x the time) but not its content (0.683 against 0.593).
"""

from __future__ import annotations

import math

from ..errors import UsageError

STEP = math.sqrt(2)
MIN_ITERATIONS = 5  # a scale gets at least this many evaluations, or it is dropped


def scale_sides(long_side: int, first: int) -> list[int]:
    """Long sides from ``first`` up to ``long_side`` (the last), about sqrt(2) apart."""
    if first < 16:
        raise UsageError(f"--scales must start at 16 px or more, not {first}")
    if long_side <= first:
        return [long_side]
    count = math.ceil(math.log(long_side / first, STEP) - 1e-9) + 1
    ratio = (long_side / first) ** (1 / (count - 1))  # exactly from first to long_side in even steps
    return [round(first * ratio**i) for i in range(count - 1)] + [long_side]


def scale_plan(long_side: int, first: int | None, iterations: int) -> list[tuple[int, int]]:
    """(long side, iterations) for each scale, the iterations summing to ``iterations``; one scale at
    ``long_side`` when ``first`` is None or the picture is not larger than it."""
    sides = scale_sides(long_side, first) if first else [long_side]
    while len(sides) > 1 and iterations / (2 ** len(sides) - 1) < MIN_ITERATIONS:
        sides = sides[1:]  # too few iterations for the last scale's share: start at a larger scale
    weights = [2.0 ** (len(sides) - 1 - i) for i in range(len(sides))]
    counts = [max(1, math.floor(iterations * w / sum(weights))) for w in weights]
    counts[0] += iterations - sum(counts)  # the rounding goes to the cheapest scale
    return list(zip(sides, counts))
