"""Coarse-to-fine: the scales a large picture is optimised at, and how the iterations are spread.

Optimising a 2048 px picture from its photo converges slowly: the large strokes that the style asks
for take many full-size evaluations to appear. Starting small and growing by about sqrt(2) a scale,
each scale from the previous result upsampled, gets them at a fraction of the cost, as users of
jcjohnson/neural-style did by hand and crowsonkb/style-transfer-pytorch does automatically.

The budget: the final scale gets 0.4 of the evaluations: it is where the fine texture that upsampling
blurs is painted back (a schedule that halved the iterations at every step up left it too few, and the
picture ended far from one scale's). The rest goes to the coarser scales, halving at each step up (each
has twice the pixels of the one before, so each gets the same share of that time). The iterations add
up exactly to the budget asked for, so times stay comparable with a single-scale run of the same
--iterations.

Each scale starts from the previous result upsampled plus the detail the photo has at this scale and not
at the previous one (its Laplacian band), which a plain upsampling would leave out and the evaluations
would have to paint back.

The photo weighs CONTENT_BOOST times the content weight asked for: starting each scale from a painted
picture, coarse-to-fine gets further down the objective than one scale with the same evaluations and,
at equal weights, spends the gain on style alone; weighing the photo more hands some back. The split
and the boost were chosen by ``benchmarks/bench_scales.py`` (figures in ``benchmarks/RESULTS.md``). The
losses reported are those of the weights asked for.
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


FINAL_SHARE = 0.4  # of the evaluations, for the final scale
CONTENT_BOOST = 1.45  # coarse-to-fine's content weight, relative to the one asked for (see above)


def content_boost(content_weight: float, style_weight: float) -> float:
    """How much more coarse-to-fine weighs the photo: CONTENT_BOOST where there is a photo and a
    painting to trade between; 1 for a reconstruction or a texture, where it would only scale the objective."""
    return CONTENT_BOOST if content_weight > 0 and style_weight > 0 else 1.0


def scale_schedule(long_side: int, first: int | None, iterations: int) -> list[tuple[int, int]]:
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
