"""Coarse-to-fine: the scales a large picture is optimised at, and how the iterations are spread.

Optimising a 2048 px picture from its photo converges slowly: the large strokes that the style asks
for take many full-size evaluations to appear. Starting small and growing by about sqrt(2) a scale,
each scale from the previous result upsampled, gets them at a fraction of the cost, as users of
jcjohnson/neural-style did by hand and crowsonkb/style-transfer-pytorch does automatically.

The budget: the final scale gets half of the evaluations: it is where the fine texture that upsampling
blurs is painted back, and with fewer (a plan that halved the iterations at every step up left it 8
of 60) the picture ended far from one scale's (style distance 0.555 against 0.068 at 1024 px). The
other half goes to the coarser scales, halving at each step up (each has twice the pixels of the one
before, so each gets the same share of that half's time). The iterations add up exactly to the budget
asked for, so times stay comparable with a single-scale run of the same --iterations.

Each scale starts from the previous result upsampled plus the detail the photo has at this scale and not
at the previous one (its Laplacian band), which a plain upsampling would leave out and the evaluations
would have to paint back. Scratch measurement at 512 px, 60 evaluations (3 scales): with this split and
the detail band, style distance 0.038 and content 0.651 against one scale's 0.041 and 0.593, at 41
full-size evaluations' cost instead of 60; halving all the way and no band: 0.073 and 1.059.
bench_scales.py (the same case, 2026-11-23): 0.67x pastiche's time, style 0.038 against one scale's
0.041, content 0.661 against 0.593; at 1024 px with 0.4 for the final scale, 0.45x pastiche's time,
style 0.066 against 0.068, content 0.765 against 0.624. At 150 evaluations (512 px, 2026-12-01, this
split) the objective ends lower than one scale's (637 000 against 719 000), spent on style (0.029
against 0.037) while the content stays higher (0.581 against 0.545). So `run` keeps it off by default.
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


FINAL_SHARE = 0.5  # of the evaluations, for the final scale


def scale_plan(long_side: int, first: int | None, iterations: int) -> list[tuple[int, int]]:
    """(long side, iterations) for each scale, the iterations summing to ``iterations``; one scale at
    ``long_side`` when ``first`` is None or the picture is not larger than it."""
    sides = scale_sides(long_side, first) if first else [long_side]
    final = math.ceil(iterations * FINAL_SHARE)
    coarse = iterations - final
    while len(sides) > 1 and coarse / (2 ** (len(sides) - 1) - 1) < MIN_ITERATIONS:
        sides = sides[1:]  # too few iterations for the last coarse scale's share: start at a larger scale
    if len(sides) == 1:
        return [(long_side, iterations)]
    weights = [2.0 ** (len(sides) - 2 - i) for i in range(len(sides) - 1)]
    counts = [math.floor(coarse * w / sum(weights)) for w in weights]
    counts[0] += coarse - sum(counts)  # the rounding goes to the cheapest scale
    return list(zip(sides, counts + [final]))
