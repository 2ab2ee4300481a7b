"""Flow, warping and reliability on clips whose true motion is known (a window sliding over a photo)."""

import numpy as np
import pytest
from conftest import sliding_clip

from nstbatch.media.flow import FLOW_METHODS, optical_flow, previous_in_place, reliability, temporal_errors, warp
from nstbatch.errors import UsageError

DX, DY = 3, 2  # the sliding clip's motion, pixels per frame


def constant_flow(h, w, dx, dy):
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_flow_recovers_the_known_motion(method):
    frames = sliding_clip(2, 64, 80, DX, DY)
    backward = optical_flow(frames[1], frames[0], method)  # frame 1 -> frame 0: +(dx, dy)
    forward = optical_flow(frames[0], frames[1], method)
    inner = (slice(8, -8), slice(8, -8))
    assert np.median(backward[inner][..., 0]) == pytest.approx(DX, abs=0.25)
    assert np.median(backward[inner][..., 1]) == pytest.approx(DY, abs=0.25)
    assert np.median(forward[inner][..., 0]) == pytest.approx(-DX, abs=0.25)
    assert np.median(forward[inner][..., 1]) == pytest.approx(-DY, abs=0.25)


def test_unknown_flow_method_is_a_usage_error(clip):
    with pytest.raises(UsageError, match="flow method"):
        optical_flow(clip[0], clip[1], "deepflow")


def test_warp_by_a_whole_pixel_flow_is_a_shift():
    image = np.random.default_rng(0).random((10, 12, 3)).astype(np.float32)
    warped = warp(image, constant_flow(10, 12, 2, 1))
    np.testing.assert_allclose(warped[:-1, :-2], image[1:, 2:], atol=1e-6)


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_warping_the_previous_frame_reproduces_the_next(method):
    frames = sliding_clip(3, 64, 80, DX, DY)
    for t in (1, 2):
        previous = frames[t - 1].astype(np.float32) / 255
        current = frames[t].astype(np.float32) / 255
        warped, (_, mask) = previous_in_place(previous, frames[t], frames[t - 1], method)
        error = np.sum(mask[..., None] * (warped - current) ** 2) / (3 * mask.sum())
        unwarped = np.mean((previous - current) ** 2)
        assert mask.mean() > 0.8
        assert error < 5e-5  # under 2 grey levels RMS
        assert error < unwarped / 200


def test_reliability_drops_pixels_the_flow_takes_out_of_the_frame():
    h, w = 20, 24
    trust = reliability(constant_flow(h, w, DX, DY), constant_flow(h, w, -DX, -DY))
    for mask in trust:
        assert mask[: h - DY, : w - DX].min() == 1.0
        assert mask[:, w - DX + 1:].max() == 0.0  # these would come from beyond the right edge
        assert mask[h - DY + 1:, :].max() == 0.0


def test_reliability_drops_pixels_where_forward_and_backward_disagree():
    h, w = 20, 24
    backward = constant_flow(h, w, 1, 0)
    forward = constant_flow(h, w, -1, 0)
    forward[5:10, 5:10] = 0  # these pixels went nowhere on the way forward: hidden in frame t-1
    trust = reliability(backward, forward)
    for mask in trust:
        assert mask[6:9, 4:9].max() == 0.0  # pixels of frame t whose trip to t-1 lands in that patch
        assert mask[12:, :20].min() == 1.0


def test_motion_boundaries_keep_their_warped_start_with_a_weaker_temporal_term():
    h, w = 20, 24
    backward = constant_flow(h, w, 0, 0)
    backward[:, 12:] = (-2, 0)  # the right half moves, the left does not
    forward = -warp(backward, backward)  # a consistent forward flow, so only the boundary test can fire
    trust = reliability(backward, forward)
    # Column 11 sits on the boundary and was seen in frame t-1, so the warp is a better start than
    # the photo; but sliding objects smear, so the temporal term holds it loosely.
    assert trust.seen[:, 11].min() == 1.0
    assert 0 < trust.weight[:, 11].max() < 0.25
    assert trust.weight[:, :8].min() == 1.0 and trust.weight[:, 16:22].min() == 1.0


def test_flow_noise_just_over_the_boundary_threshold_costs_little_weight():
    # DIS's flow on still, blurred background wobbles by a few hundredths of a pixel from one pixel
    # to the next: Ruder's hard cut dropped such pixels; the soft weight keeps most of their term.
    h, w = 20, 24
    rng = np.random.default_rng(0)
    backward = (0.03 * rng.standard_normal((h, w, 2))).astype(np.float32)
    inner = (slice(1, -1), slice(1, -1))  # on the border, noise can point out of the frame
    trust = reliability(backward, -backward)
    assert trust.seen[inner].min() == 1.0
    assert trust.weight[inner].mean() > 0.8 and trust.weight[inner].min() > 0.4


def test_temporal_error_is_near_zero_for_motion_and_large_for_flicker(clip):
    steady = temporal_errors(clip, clip)
    rng = np.random.default_rng(0)
    # The same frames with a different colour cast each frame: the flicker users see.
    flicker = [np.clip(f.astype(np.float32) / 255 + rng.uniform(-0.1, 0.1, 3), 0, 1) for f in clip]
    flickering = temporal_errors(flicker, clip)
    assert len(steady) == len(clip) - 1
    assert max(steady) < 1e-4
    assert min(flickering) > 20 * max(steady)


def test_temporal_error_wants_one_stylised_frame_per_frame(clip):
    with pytest.raises(ValueError, match="3 stylised frames for 4"):
        temporal_errors(clip[:3], clip)
