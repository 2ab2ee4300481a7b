"""The network engine: blend parsing, and one pass per batch of photos with the blend and colours asked for."""

import numpy as np
import pytest
import torch

from nstbatch.errors import UsageError
from nstbatch.network.checkpoint import load_checkpoint
from nstbatch.network.feedforward import FeedForward, parse_blend
from nstbatch.network.torch_painter import TorchPainter
from nstbatch.runtime.free_memory import HEADROOM, OVERHEAD, TooLarge, network_bytes_per_pixel
from nstbatch.network.stylizer import one_hot

NAMES = ["starry", "scream"]


def test_blend_by_name_by_position_or_equal():
    assert parse_blend(None, NAMES) == [0.5, 0.5]
    assert parse_blend("starry=0.7,scream=0.3", NAMES) == pytest.approx([0.7, 0.3])
    assert parse_blend("scream=2", NAMES) == [0.0, 1.0]
    assert parse_blend("3,1", NAMES) == [0.75, 0.25]


@pytest.mark.parametrize("text, message", [
    ("monet=1", "no painting 'monet'; it holds starry, scream"),
    ("1,2,3", "3 weights for 2 paintings \\(starry, scream\\)"),
    ("0,0", "not all zero"),
    ("a,b", "expected name=weight pairs or numbers"),
])
def test_bad_blends_say_what_is_wrong(text, message):
    with pytest.raises(UsageError, match=message):
        parse_blend(text, NAMES)


def test_engine_paints_each_photo_with_the_blend(tiny_model, photo):
    model_dir, _ = tiny_model
    network, _, _ = load_checkpoint(model_dir / "model.safetensors")
    engine = FeedForward(TorchPainter(network, "cpu"), ["stripes", "dots"], [0.0, 1.0])
    results = engine.stylize_batch(torch.cat([photo, photo.flip(-1)]))
    assert len(results) == 2 and results[0].image.shape == photo.shape and engine.item_steps == 0
    with torch.no_grad():
        want = network(photo, one_hot(1, 2))
    torch.testing.assert_close(results[0].image, want, rtol=0, atol=1e-6)
    torch.testing.assert_close(engine(photo).image, want, rtol=0, atol=1e-6)
    as_array = engine(photo.numpy()).image  # a batch's photos are numpy arrays: one comes back
    assert isinstance(as_array, np.ndarray) and np.allclose(as_array, want.numpy(), rtol=0, atol=1e-6)
    keep = FeedForward(TorchPainter(network, "cpu"), ["stripes", "dots"], [0.0, 1.0], keep_colors=True)(photo).image
    # the photo's chroma: Cb and Cr as in the photo, not as painted
    cb = lambda x: (-0.168736 * x[:, 0] - 0.331264 * x[:, 1] + 0.5 * x[:, 2])  # noqa: E731
    assert float((cb(keep) - cb(photo)).abs().mean()) < 0.25 * float((cb(want) - cb(photo)).abs().mean())


class CountingPainter(TorchPainter):
    def __init__(self, network):
        super().__init__(network, "cpu")
        self.batches = []

    def __call__(self, images, weights):
        self.batches.append(images.shape[0])
        return super().__call__(images, weights)


def test_a_batch_larger_than_memory_goes_in_smaller_passes_and_a_photo_too_large_is_refused(tiny_model, photo):
    network, _, _ = load_checkpoint(tiny_model[0] / "model.safetensors")
    photos = torch.cat([photo, photo.flip(-1), photo.flip(-2)])
    whole = FeedForward(TorchPainter(network, "cpu"), ["stripes", "dots"]).paint(photos)
    per_photo = network_bytes_per_pixel(network.architecture.channels) * photo.shape[-1] * photo.shape[-2]
    painter = CountingPainter(network)
    engine = FeedForward(painter, ["stripes", "dots"], max_memory=int((OVERHEAD + 2.5 * per_photo) / HEADROOM))
    torch.testing.assert_close(engine.paint(photos), whole, rtol=0, atol=1e-6)
    assert painter.batches == [2, 1]
    with pytest.raises(TooLarge, match="through the network"):
        engine.paint(torch.rand(1, 3, 4 * photo.shape[-2], 4 * photo.shape[-1]))


def test_an_engine_painting_by_region_refuses_photos_together_and_paints_each_with_its_masks(tiny_model, photo):
    model_dir, _ = tiny_model
    network, _, _ = load_checkpoint(model_dir / "model.safetensors")
    engine = FeedForward(TorchPainter(network, "cpu"), ["stripes", "dots"], [1.0, 0.0],
                         regions=[np.asarray([0.0, 1.0], np.float32)])
    assert engine.batch_refusal() == "painting by region takes one photo at a time"
    with pytest.raises(UsageError, match="--batch-size: painting by region"):  # its masks would be left out
        engine.stylize_batch(torch.cat([photo, photo]))
    left = torch.zeros(1, *photo.shape[-2:])
    left[..., : photo.shape[-1] // 2] = 1.0
    by_region = engine(photo, masks=left).image
    plain = FeedForward(TorchPainter(network, "cpu"), ["stripes", "dots"], [1.0, 0.0])
    assert plain.batch_refusal() is None
    assert not torch.allclose(by_region, plain(photo).image)  # the region is painted with dots
