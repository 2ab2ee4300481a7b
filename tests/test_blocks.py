"""Block-wise evaluation: the content and style terms and the image gradient equal the whole picture's
(float64), for odd sizes, several block sizes and a batch; blocks line up with every pooling grid."""

import copy

import pytest
import torch

from nstbatch.runtime.blocks import BlockwiseObjective, blocks
from nstbatch.runtime.losses import layers_of, values_of
from nstbatch.runtime.objective import Targets, loss_terms
from nstbatch.runtime.stylize import Options, content_targets, style_targets

from conftest import painting_like, photo_like


@pytest.fixture(scope="module")
def vgg64(vgg):
    return copy.deepcopy(vgg).double()


def _terms(vgg64, photo, content_layers, style_layers):
    opts = Options(content_layers=content_layers, style_layers=style_layers, style_weight=3.0)
    content = content_targets(vgg64, photo, content_layers)
    style = style_targets(vgg64, [painting_like(24, 28).double()], [1.0], style_layers)
    return opts, loss_terms(opts, Targets(content, style), "cpu")


def _whole_picture(vgg64, image, terms):
    image = image.clone().requires_grad_(True)
    features = vgg64(image, layers_of(terms))
    parts = values_of(terms, features, image)
    (parts["content"] + parts["style"]).backward()
    return {k: float(v.detach()) for k, v in parts.items()}, image.grad


def _compare(vgg64, photo, start, content_layers, style_layers, block):
    opts, terms = _terms(vgg64, photo, content_layers, style_layers)
    expected, expected_grad = _whole_picture(vgg64, start, terms)
    objective = BlockwiseObjective(vgg64, terms, tuple(start.shape), block)
    assert len(objective.blocks) > 1
    values = objective.values(start)
    grad = objective.backward(start, scale=2.0) / 2.0
    for name in ("content", "style"):
        assert float(values[name]) == pytest.approx(expected[name], rel=1e-10), name
    torch.testing.assert_close(grad, expected_grad, rtol=1e-9, atol=1e-12 * float(expected_grad.abs().max()))


@pytest.mark.parametrize("block", [2, 7, 16])
@pytest.mark.parametrize("size", [(23, 37), (30, 17)])
def test_blocks_equal_the_whole_picture_at_shallow_layers(vgg64, block, size):
    photo = photo_like(*size, seed=1).double()
    start = (photo + 0.1 * torch.randn(photo.shape, generator=torch.Generator().manual_seed(2), dtype=photo.dtype)).clamp(0, 1)
    _compare(vgg64, photo, start, ("relu2_1",), ("relu1_1", "relu2_1"), block)


def test_blocks_equal_the_whole_picture_for_a_batch(vgg64):
    photos = torch.cat([photo_like(21, 26, seed=s) for s in (3, 4)]).double()
    start = photos.flip(-1).contiguous()
    _compare(vgg64, photos, start, ("relu1_2",), ("relu1_1", "relu2_1"), 8)


def test_blocks_equal_the_whole_picture_at_the_default_layers(vgg64):
    photo = photo_like(70, 83, seed=5).double()
    start = torch.rand(photo.shape, generator=torch.Generator().manual_seed(6), dtype=photo.dtype)
    _compare(vgg64, photo, start, ("relu4_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), 48)


def test_blocks_cover_the_picture_once_and_start_on_the_deepest_stride():
    found = blocks(100, 75, 40, ["relu5_1"])
    covered = torch.zeros(100, 75, dtype=torch.int64)
    for b in found:
        covered[b.rows[0]:b.rows[1], b.cols[0]:b.cols[1]] += 1
        assert b.rows[0] % 16 == 0 and b.cols[0] % 16 == 0 and b.read_rows[0] % 16 == 0 and b.read_cols[0] % 16 == 0
        assert b.read_rows[0] <= max(0, b.rows[0] - 70) and b.read_rows[1] >= min(100, b.rows[1] + 70)
    assert int(covered.min()) == int(covered.max()) == 1
    # 40 px rounds up to 48, a multiple of relu5_1's stride; the last 4 rows join the block before them
    assert len(found) == 2 * 2 and found[-1].rows == (48, 100) and found[-1].cols == (48, 75)


def test_targets_gathered_in_blocks_equal_the_whole_pictures(vgg64):
    from nstbatch.runtime.blocks import targets_by_blocks
    from nstbatch.runtime.stylize import content_targets, style_targets

    picture = photo_like(45, 38, seed=7).double()
    content_layers, style_layers = ("relu2_1", "relu3_1"), ("relu1_1", "relu3_1")
    content, grams = targets_by_blocks(vgg64, picture, content_layers, style_layers, 16)
    for name, expected in content_targets(vgg64, picture, content_layers).items():
        torch.testing.assert_close(content[name], expected, rtol=1e-6, atol=1e-6)  # both float32
    torch.testing.assert_close(style_targets(vgg64, [picture], [1.0], style_layers, block=16),
                               style_targets(vgg64, [picture], [1.0], style_layers), rtol=1e-10, atol=1e-12)


def test_blocks_iterate_any_term_of_the_list(vgg64):
    from nstbatch.runtime.losses import ContentLoss, LayerTerms

    photo = photo_like(40, 56).double()
    start = photo_like(40, 56, seed=3).double()
    opts, terms = _terms(vgg64, photo, ("relu4_2",), ("relu1_1", "relu3_1"))
    # A toy second "positions" term: the photo held at a shallow layer too, weighed apart from the first.
    shallow = content_targets(vgg64, photo, ("relu2_1",))
    extra = LayerTerms("shallow", {"relu2_1": ContentLoss(shallow["relu2_1"], 0.5)})
    terms = [*terms, extra]
    expected = values_of(terms, vgg64(start, layers_of(terms)), start)
    objective = BlockwiseObjective(vgg64, terms, tuple(start.shape), 32)
    values = objective.values(start)
    assert set(values) == {"content", "style", "shallow"} and len(objective.blocks) > 1
    for name in values:
        assert float(values[name]) == pytest.approx(float(expected[name]), rel=1e-10), name
