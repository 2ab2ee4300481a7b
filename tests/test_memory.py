"""The memory guard: whole picture, then blocks, then a shorter L-BFGS history, then a clear refusal;
block-wise optimisation through the loop; the refusal in a batch that goes on."""

import pytest
import torch

from nstbatch.runtime.free_memory import HEADROOM, OVERHEAD, TooLarge, network_bytes_per_pixel, photos_at_once
from nstbatch.runtime.memory import LBFGS_HISTORY, Needs, activation_bytes_per_pixel, fit
from nstbatch.runtime.stylize import DEFAULT_STYLE_LAYERS, Options
from nstbatch.runtime.transfer import StyleTransfer

from conftest import painting_like, photo_like

GIB = 2**30
NEEDS = Needs((*DEFAULT_STYLE_LAYERS, "relu4_2"), {"relu4_2": 512}, activation_bpp=2000.0)
SHAPE = (1, 3, 4096, 4096)


def test_the_guard_takes_the_cheapest_way_that_fits():
    whole = NEEDS.peak(1, 4096, 4096, None, LBFGS_HISTORY)
    assert fit(SHAPE, NEEDS, 2 * whole).block is None
    blocks = fit(SHAPE, NEEDS, int(whole * 0.9))  # not whole, but blocks at the full history
    assert blocks.block == 1024 and blocks.history == LBFGS_HISTORY and blocks.needed < whole
    shorter = fit(SHAPE, NEEDS, 12 * GIB)  # 4096^2 x 100 pairs of L-BFGS history alone is over 40 GB
    assert shorter.block is not None and shorter.history < LBFGS_HISTORY
    assert "L-BFGS history" in shorter.label() and "blocks of" in shorter.label()
    assert fit(SHAPE, NEEDS, 12 * GIB, block=256).block == 256  # --block-size is taken as given


def test_a_refusal_names_the_largest_size_that_fits():
    with pytest.raises(TooLarge) as refused:
        fit(SHAPE, NEEDS, 2 * GIB)
    message = str(refused.value)
    assert "4096x4096 needs about" in message and "2.0 GiB free" in message
    largest = int(message.rsplit("--size ", 1)[1])
    assert 1024 < largest < 4096
    fit((1, 3, largest, largest), NEEDS, 2 * GIB)  # the size it names fits
    with pytest.raises(TooLarge):
        fit((1, 3, largest + 64, largest + 64), NEEDS, 2 * GIB)


def test_a_network_pass_takes_as_many_photos_as_fit_and_refuses_one_too_large():
    per_pixel = network_bytes_per_pixel(16)
    assert network_bytes_per_pixel(32) > per_pixel  # a wider network keeps wider activations
    room = (OVERHEAD + 2.5 * per_pixel * 100 * 100) / HEADROOM  # two and a half 100x100 photos
    assert photos_at_once((4, 3, 100, 100), per_pixel, room) == 2
    assert photos_at_once((1, 3, 100, 100), per_pixel, room) == 1
    assert photos_at_once((4, 3, 100, 100), per_pixel, 100 * room) == 4
    with pytest.raises(TooLarge) as refused:
        photos_at_once((1, 3, 200, 300), per_pixel, room)
    message = str(refused.value)
    assert message.startswith("300x200 needs about") and "through the network" in message
    largest = int(message.rsplit("--size ", 1)[1])
    assert 100 < largest < 300
    photos_at_once((1, 3, largest * 2 // 3, largest), per_pixel, room)  # the size it names fits
    with pytest.raises(TooLarge):
        photos_at_once((1, 3, (largest + 16) * 2 // 3, largest + 16), per_pixel, room)


@pytest.mark.slow
def test_activations_measured_grow_with_depth_and_precision_halves_them(vgg):
    shallow = activation_bytes_per_pixel(vgg, ("relu1_1",), None)
    deep = activation_bytes_per_pixel(vgg, DEFAULT_STYLE_LAYERS, None)
    # relu1_1 alone keeps at least its own 64 float32 channels a pixel
    assert 64 * 4 <= shallow < deep < 20 * shallow
    assert activation_bytes_per_pixel(vgg, DEFAULT_STYLE_LAYERS, torch.bfloat16) < 0.75 * deep


def test_blockwise_optimisation_is_the_whole_pictures_and_says_so_on_the_bar():
    options = Options(iterations=6, content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"))
    photo = photo_like(37, 45)
    steps = {}
    for block in (None, 16):
        engine = StyleTransfer([painting_like()], options, device="cpu", block_size=block)
        seen = []
        result = engine(photo, callback=seen.append)
        steps[block] = (seen, result)
    whole, blockwise = steps[None], steps[16]
    assert all(s.scale == "" for s in whole[0]) and all(s.scale == "blocks of 16 px" for s in blockwise[0])
    first_whole, first_blocks = whole[0][0].losses, blockwise[0][0].losses
    for name in ("content", "style", "total"):
        assert first_blocks[name] == pytest.approx(first_whole[name], rel=1e-5), name
    # The same gradient (to float32 rounding; exact in float64: test_blocks.py), so the same descent. L-BFGS
    # magnifies rounding in its curvature pairs, so the pictures agree closely, not bit for bit.
    assert blockwise[1].history == pytest.approx(whole[1].history, rel=1e-2)
    assert blockwise[1].losses["total"] < 0.5 * first_blocks["total"]
