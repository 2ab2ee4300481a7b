"""Regions in optimisation (runtime/regions.py): the guided Gram and its guides, block-wise evaluation of
region terms, two paintings in two halves, a region kept as the photo, painting masks; and the
histogram colour transfer (runtime/color.py)."""

import copy

import numpy as np
import pytest
import torch

from nstbatch.runtime.blocks import BlockwiseObjective
from nstbatch.runtime.color import match_colors
from nstbatch.runtime.losses import GuidedStyleLoss, StyleLoss, layers_of, values_of
from nstbatch.runtime.regions import RegionStyle, guided_gram, layer_guides, layout
from nstbatch.runtime.objective import RegionTargets, Targets, loss_terms
from nstbatch.runtime.stylize import Options, content_targets, style_targets
from nstbatch.runtime.transfer import StyleTransfer

from conftest import painting_like, photo_like

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def other_painting(h=40, w=40):
    """Another texture in other colours: wide horizontal bands of red and dark blue."""
    y = torch.arange(h).float()[:, None].expand(h, w)
    bands = (torch.sin(y * 2 * torch.pi / 13) > 0).float()
    return torch.stack([0.9 * bands + 0.05, 0.1 + 0.0 * bands, 0.2 + 0.5 * (1 - bands)]).unsqueeze(0)


def halves(h, w):
    left = torch.zeros(1, h, w)
    left[..., : w // 2] = 1
    return left


def test_a_guide_of_ones_is_the_ordinary_style_term_exactly(vgg):
    features = vgg(photo_like(32, 40), ["relu2_1"])["relu2_1"]
    target = vgg(painting_like(), ["relu2_1"])["relu2_1"]
    from nstbatch.runtime.gram import gram_torch

    target_gram = gram_torch(target)[0]
    ones = torch.ones(1, 1, *features.shape[-2:])
    guided = GuidedStyleLoss(target_gram, ones, 3.0, "torch")(features)
    plain = StyleLoss(target_gram, 3.0, "torch")(features)
    assert torch.equal(guided, plain)
    assert torch.equal(guided_gram(features, ones), gram_torch(features))


def test_guides_of_complementary_masks_sum_to_one_at_every_layer():
    left = halves(37, 53)[None]
    guides_left, guides_right = layer_guides(left, LAYERS), layer_guides(1 - left, LAYERS)
    for name in LAYERS:
        torch.testing.assert_close(guides_left[name] + guides_right[name], torch.ones_like(guides_left[name]))
    for name in ("relu1_1", "relu2_1"):  # far from the boundary, a position sees one side only
        row = guides_left[name][0, 0, 0]
        assert float(row[0]) == pytest.approx(1.0) and float(row[-1]) == pytest.approx(0.0)
    # Across it the guide falls instead of stepping: positions that see both sides count in both.
    row = guides_left["relu3_1"][0, 0, 0]
    assert int(((row > 0.01) & (row < 0.99)).sum()) >= 2


def test_region_terms_block_by_block_equal_the_whole_picture(vgg):
    vgg64 = copy.deepcopy(vgg).double()
    photo = photo_like(30, 34, seed=1).double()
    opts = Options(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), style_weight=3.0)
    content = content_targets(vgg64, photo, opts.content_layers)
    mask = halves(30, 34)[None].double()
    regions = tuple(RegionTargets(name, style_targets(vgg64, [painting.double()], [1.0], opts.style_layers),
                                  layer_guides(m, opts.style_layers))
                    for name, painting, m in (("left", painting_like(24, 28), mask),
                                              ("right", other_painting(24, 28), 1 - mask)))
    terms = loss_terms(opts, Targets(content, regions=regions), "cpu")
    start = (photo + 0.1 * torch.randn(photo.shape, generator=torch.Generator().manual_seed(2), dtype=photo.dtype)).clamp(0, 1)
    image = start.clone().requires_grad_(True)
    parts = values_of(terms, vgg64(image, layers_of(terms)), image)
    sum(parts[name] for name in ("content", "style:left", "style:right")).backward()
    objective = BlockwiseObjective(vgg64, terms, tuple(start.shape), 8)
    assert len(objective.blocks) > 1
    values = objective.values(start)
    gradient = objective.backward(start)
    for name in ("content", "style:left", "style:right"):
        assert float(values[name]) == pytest.approx(float(parts[name].detach()), rel=1e-10), name
    torch.testing.assert_close(gradient, image.grad, rtol=1e-9, atol=1e-12 * float(image.grad.abs().max()))


def _distance(vgg, image, mask, target):
    """The guided Gram of ``image`` under ``mask`` against ``target``, relative to the target's size."""
    guides = layer_guides(mask[None], LAYERS)
    features = vgg(image, LAYERS)
    return sum(float(((guided_gram(features[name], guides[name])[0] - target[name]) ** 2).mean() /
                     (target[name] ** 2).mean()) for name in LAYERS)


def test_two_paintings_in_two_halves_each_half_ends_nearer_its_own(vgg):
    photo = photo_like(48, 64)
    a, b = painting_like(), other_painting()
    left = halves(48, 64)
    opts = Options(iterations=40, style_weight=10.0)
    engine = StyleTransfer([b], opts, device="cpu", regions=[RegionStyle("a", [a], [1.0])])
    result = engine(photo, masks=left)
    assert {"style:a", "style:rest"} <= set(result.losses)
    target_a, target_b = engine.region_targets(0, 64), engine.region_targets(1, 64)
    assert _distance(vgg, result.image, left, target_a) < 0.5 * _distance(vgg, result.image, left, target_b)
    assert _distance(vgg, result.image, 1 - left, target_b) < 0.5 * _distance(vgg, result.image, 1 - left, target_a)


def test_a_region_kept_as_the_photo_stays_the_photo_and_the_rest_is_painted(vgg):
    photo = photo_like(40, 48)
    soft = halves(40, 48)
    soft[..., 24:30] = 0.5  # a soft edge: half photo there
    engine = StyleTransfer([painting_like()], Options(iterations=15, style_weight=10.0), device="cpu",
                           regions=[RegionStyle("person", [], [])])
    image = engine(photo, masks=soft).image
    assert float((image[..., :24] - photo[..., :24]).abs().max()) < 1e-5
    assert float((image[..., 30:] - photo[..., 30:]).abs().mean()) > 0.05  # the other half was painted


def test_without_paintings_outside_the_masks_the_rest_is_the_photo():
    masks = torch.zeros(2, 10, 10)
    masks[0, :, :4] = 1
    masks[1, :, 2:6] = 1  # overlaps the first in columns 2-3
    where = layout(masks, [RegionStyle("a", [painting_like()], [1.0]), RegionStyle("b", [painting_like()], [1.0])],
                   None, (10, 10))
    painted = {index: mask for index, mask in where.painted}
    assert float(painted[0][0, 0, 0, 3]) == pytest.approx(0.5) and float(painted[1][0, 0, 0, 3]) == pytest.approx(0.5)
    torch.testing.assert_close(where.held[0, 0, :, 6:], torch.ones(10, 4))
    assert float(where.held[0, 0, :, :6].max()) == 0.0


def test_a_painting_mask_takes_the_target_from_that_part_of_the_painting(vgg):
    stripes, bands = painting_like(40, 40), other_painting(40, 40)
    painting = torch.cat([stripes[..., :20], bands[..., 20:]], dim=-1)  # left stripes, right bands
    mask = torch.zeros(1, 1, 40, 40)
    mask[..., :20] = 1
    engine = StyleTransfer([], Options(style_layers=("relu1_1", "relu2_1")), device="cpu",
                           regions=[RegionStyle("left", [painting], [1.0], mask)], style_scale=1.0)
    guided = engine.region_targets(0, 40)
    from_stripes = style_targets(engine.vgg, [stripes], [1.0], ("relu1_1", "relu2_1"))
    from_bands = style_targets(engine.vgg, [bands], [1.0], ("relu1_1", "relu2_1"))
    for name in ("relu1_1", "relu2_1"):
        assert float(((guided[name] - from_stripes[name]) ** 2).sum()) < float(((guided[name] - from_bands[name]) ** 2).sum())


def test_histogram_matching_gives_the_painting_the_photos_colour_mean_and_covariance():
    photo = photo_like(40, 48)
    # Colours that vary on their own in each channel (a full-rank covariance), away from 0 and 1.
    noise = torch.rand(1, 3, 36, 30, generator=torch.Generator().manual_seed(0))
    painting = 0.3 + 0.2 * painting_like(36, 30) + 0.2 * noise
    matched = match_colors(painting, photo)
    assert matched.shape == painting.shape

    def stats(image):
        pixels = image.reshape(3, -1).double().numpy()
        return pixels.mean(axis=1), np.cov(pixels)

    mean, cov = stats(matched)
    photo_mean, photo_cov = stats(photo)
    np.testing.assert_allclose(mean, photo_mean, atol=2e-3)
    np.testing.assert_allclose(cov, photo_cov, atol=1e-3)
    # The texture stays the painting's: the matched picture is an affine map of it, so correlated with it.
    assert np.corrcoef(matched[0, 0].flatten().numpy(), painting[0, 0].flatten().numpy())[0, 1] > 0.5


def test_histogram_colours_recolour_the_targets_for_each_photo(vgg):
    engine = StyleTransfer([painting_like()], Options(iterations=3), device="cpu", keep_colors="histogram")
    red, blue = torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)
    red[:, 0], blue[:, 2] = 0.8, 0.8
    red, blue = red + 0.1 * torch.rand(red.shape), blue + 0.1 * torch.rand(blue.shape)
    on_red, on_blue = engine(red).image, engine(blue).image
    assert float(on_red[:, 0].mean()) > float(on_red[:, 2].mean()) + 0.2
    assert float(on_blue[:, 2].mean()) > float(on_blue[:, 0].mean()) + 0.2


def test_style_fine_takes_the_fine_layers_from_its_painting_and_the_rest_from_style(vgg):
    coarse, fine = painting_like(), other_painting()
    opts = Options(iterations=30, style_weight=10.0)
    engine = StyleTransfer([coarse], opts, device="cpu", fine_style=fine)
    targets = engine.style_targets(40)
    of_coarse = style_targets(engine.vgg, [coarse], [1.0], opts.style_layers)
    of_fine = style_targets(engine.vgg, [fine], [1.0], opts.style_layers)
    for name in ("relu1_1", "relu2_1"):
        torch.testing.assert_close(targets[name], of_fine[name])
    for name in ("relu3_1", "relu4_1", "relu5_1"):
        torch.testing.assert_close(targets[name], of_coarse[name])
    # At the fine layer the picture moves from the --style painting towards the fine one: relative to its
    # distance from the --style painting, it is far nearer the fine painting than a picture of --style alone.
    photo = photo_like(40, 40)
    mixed, alone = engine(photo).image, StyleTransfer([coarse], opts, device="cpu")(photo).image

    def distance(image, targets):
        features = engine.vgg(image, ["relu1_1"])["relu1_1"]
        gram = guided_gram(features, torch.ones(1, 1, 40, 40))[0]
        return float(((gram - targets["relu1_1"]) ** 2).sum() / (targets["relu1_1"] ** 2).sum())

    def towards_fine(image):
        return distance(image, of_fine) / distance(image, of_coarse)

    assert towards_fine(mixed) < 0.5 * towards_fine(alone)
