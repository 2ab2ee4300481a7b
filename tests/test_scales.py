"""Coarse-to-fine: the scales, the split of the budget, and a run through three scales."""

import dataclasses
import math

import pytest
import torch

from nstbatch.errors import UsageError
from nstbatch.runtime.scales import FINAL_SHARE, scale_schedule, scale_sides
from nstbatch.runtime.objective import Targets
from nstbatch.runtime.stylize import Options
from nstbatch.runtime.transfer import StyleTransfer

from conftest import painting_like, photo_like


def test_scales_grow_by_about_the_square_root_of_two_up_to_the_size():
    assert scale_sides(2048, 256) == [256, 362, 512, 724, 1024, 1448, 2048]
    for size, first in ((1000, 256), (3001, 512), (300, 256)):
        sides = scale_sides(size, first)
        assert sides[0] == first and sides[-1] == size
        assert all(1.0 < b / a <= 2 ** 0.5 + 0.01 for a, b in zip(sides, sides[1:]))
    assert scale_sides(256, 256) == [256] and scale_sides(200, 256) == [200]
    with pytest.raises(UsageError, match="--scales"):
        scale_sides(512, 8)


@pytest.mark.parametrize("size, first, iterations", [(1024, 256, 150), (2048, 256, 150), (700, 256, 1000),
                                                     (4096, 512, 40), (512, 256, 7)])
def test_the_final_scales_share_of_the_budget_the_rest_halving_upwards_counted_exactly(size, first, iterations):
    plan = scale_schedule(size, first, iterations)
    assert sum(n for _, n in plan) == iterations
    assert plan[-1][0] == size
    counts = [n for _, n in plan]
    assert all(n >= 5 for n in counts) or len(plan) == 1
    if len(plan) > 1:
        assert counts[-1] == math.ceil(iterations * FINAL_SHARE)  # the final scale's share, rounded up
        # Each coarser scale up has twice the pixels and about half the evaluations: the same share of the time.
        assert all(abs(a / b - 2) < 0.5 for a, b in zip(counts[1:-1], counts[2:-1]))


def test_one_scale_when_off_or_not_larger_than_the_first():
    assert scale_schedule(1024, None, 150) == [(1024, 150)]
    assert scale_schedule(256, 256, 150) == [(256, 150)]


def scales_seen(engine, photo):
    steps = []
    result = engine(photo, callback=steps.append)
    by_scale = {}
    for step in steps:
        by_scale.setdefault(step.scale, []).append(tuple(step.image.shape[-2:]))
    return result, steps, by_scale


def test_a_run_through_three_scales_counts_every_evaluation_once():
    engine = StyleTransfer([painting_like()], Options(iterations=35, first_scale=16), device="cpu")
    result, steps, by_scale = scales_seen(engine, photo_like(32, 32))
    assert [s.iteration for s in steps] == list(range(1, 36)) and {s.total for s in steps} == {35}
    assert result.iterations == 35 and result.image.shape == (1, 3, 32, 32)
    assert list(by_scale) == ["scale 1/3, 16 px", "scale 2/3, 23 px", "scale 3/3, 32 px"]
    assert [len(v) for v in by_scale.values()] == [14, 7, 14]
    assert [v[0] for v in by_scale.values()] == [(16, 16), (23, 23), (32, 32)]
    # The final scale starts from the one before, upsampled: already painted, so lower than its 14
    # evaluations from the photo.
    single = StyleTransfer([painting_like()], Options(iterations=14), device="cpu")(photo_like(32, 32))
    assert result.losses["total"] < single.losses["total"]


def test_no_scale_is_too_small_for_the_deepest_layer():
    # At 16 px long, a 24x32 photo would be 12 px high: nothing left at relu5_1. The first scale grows to fit.
    engine = StyleTransfer([painting_like()], Options(iterations=35, first_scale=16), device="cpu")
    result, _, by_scale = scales_seen(engine, photo_like(24, 32))
    assert list(by_scale)[0] == "scale 1/3, 22 px" and list(by_scale.values())[0][0] == (16, 22)
    assert result.iterations == 35


def test_each_scale_starts_with_the_photos_detail_that_the_scale_before_could_not_hold():
    from nstbatch.runtime.transfer import resize_long_side, upsampled

    photo = photo_like(48, 64)
    small = resize_long_side(photo, 32)
    # an unpainted picture grows back into the photo itself, not into its blurred upsampling
    torch.testing.assert_close(upsampled(small, photo, small), photo, rtol=0, atol=1e-5)
    painted = (small + 0.2).clamp(0, 1)
    grown = upsampled(painted, photo, small)
    plain = torch.nn.functional.interpolate(painted, size=photo.shape[-2:], mode="bicubic", align_corners=False)
    assert float((grown - photo).abs().mean()) < float((plain.clamp(0, 1) - photo).abs().mean())


def test_a_picture_started_from_noise_is_not_handed_the_photos_detail():
    import torch.nn.functional as F

    engine = StyleTransfer([painting_like()], Options(iterations=24, first_scale=16, init="noise"), device="cpu")
    _, steps, by_scale = scales_seen(engine, photo_like(32, 32))
    first_scale = [s for s in steps if s.scale.startswith("scale 1/")]
    best = min(first_scale, key=lambda s: s.losses["total"]).image
    second_start = next(s for s in steps if s.scale.startswith("scale 2/")).image
    expected = F.interpolate(best, size=second_start.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    torch.testing.assert_close(second_start, expected, rtol=0, atol=1e-5)


def test_coarse_to_fine_weighs_the_photo_more_and_reports_the_weight_asked_for(monkeypatch):
    from nstbatch.runtime import transfer
    from nstbatch.runtime.scales import CONTENT_BOOST
    from nstbatch.runtime.stylize import content_targets, losses_of

    weights, real_optimize = [], transfer.optimize

    def recording(vgg, init, opts, *args, **kwargs):
        weights.append(opts.content_weight)
        return real_optimize(vgg, init, opts, *args, **kwargs)

    monkeypatch.setattr(transfer, "optimize", recording)
    photo = photo_like(32, 32)
    opts = Options(iterations=35, first_scale=16, content_weight=2.0)
    engine = StyleTransfer([painting_like()], opts, device="cpu")
    result = engine(photo)
    assert weights == [2.0 * CONTENT_BOOST] * 3
    # the losses reported are the objective at --content-weight 2, as one scale would report them
    expected = losses_of(engine.vgg, result.image, opts,
                         Targets(content_targets(engine.vgg, photo, opts.content_layers), engine.style_targets(32)))
    assert result.losses["content"] == pytest.approx(expected["content"], rel=1e-3)  # not CONTENT_BOOST x it
    assert result.losses["total"] == pytest.approx(expected["total"], rel=1e-3)
    weights.clear()
    StyleTransfer([painting_like()], dataclasses.replace(opts, first_scale=None), device="cpu")(photo)
    assert weights == [2.0]  # one scale: as asked
    weights.clear()
    StyleTransfer(None, dataclasses.replace(opts, style_weight=0.0, init="noise"), device="cpu")(photo)
    assert weights == [2.0] * 3  # a reconstruction has nothing to trade the photo against
