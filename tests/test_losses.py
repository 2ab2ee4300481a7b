import copy

import pytest
import torch

from nstbatch.runtime.color import preserve_colors
from nstbatch.runtime.gram import gram
from nstbatch.runtime.losses import ContentLoss, StyleLoss, TemporalLoss, total_variation


def test_gram_hand_computed():
    # One image, C=2 channels, 1x2 positions: F = [[1, 2], [3, 4]], F Fᵀ = [[5, 11], [11, 25]], C·H·W = 4.
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    assert torch.equal(gram(f), torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4)


def test_gram_of_half_precision_accumulates_in_float32():
    f = torch.randn(2, 3, 5, 7).half()
    g = gram(f)
    assert g.dtype == torch.float32
    torch.testing.assert_close(g, gram(f.float()))


def test_content_loss_hand_computed():
    target = torch.tensor([1.0, -1.0, 2.0, 0.0]).view(1, 1, 2, 2)
    x = torch.tensor([2.0, -1.0, 0.0, 0.0]).view(1, 1, 2, 2)
    assert ContentLoss(target, 3.0, normalize=False)(x).item() == pytest.approx(3.0 * (1 + 4) / 4)
    # Normalised: divided by mean(target²) = 6/4.
    assert ContentLoss(target, 3.0)(x).item() == pytest.approx(3.0 * (5 / 4) / (6 / 4))


def test_style_loss_hand_computed():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    target = torch.zeros(1, 2, 2)
    expected = ((5**2 + 11**2 + 11**2 + 25**2) / 16) / 4
    assert StyleLoss(target, 2.0, normalize=False)(f).item() == pytest.approx(2.0 * expected)


def test_blending_gram_targets_gives_the_same_gradient_as_blending_losses():
    a, b = torch.rand(1, 4, 4) * 3, torch.rand(1, 4, 4)
    x = torch.rand(1, 4, 3, 3, requires_grad=True)
    blended = StyleLoss(0.7 * a + 0.3 * b, normalize=False)(x)
    (g1,) = torch.autograd.grad(blended, x)
    separate = 0.7 * StyleLoss(a, normalize=False)(x) + 0.3 * StyleLoss(b, normalize=False)(x)
    (g2,) = torch.autograd.grad(separate, x)
    torch.testing.assert_close(g1, g2)


def test_total_variation_hand_computed():
    image = torch.tensor([[0.0, 1.0], [0.0, 3.0]]).view(1, 1, 2, 2)
    # Horizontal differences 1 and 3, vertical 0 and 2: means of squares 5 and 2.
    assert total_variation(image).item() == pytest.approx(5 + 2)
    assert total_variation(torch.full((1, 3, 4, 4), 0.3)).item() == 0


def test_whole_objective_gradient_float64(vgg):
    """gradcheck through VGG (to relu2_1), Gram, content, style and TV terms in float64."""
    net = copy.deepcopy(vgg).double()
    g = torch.Generator().manual_seed(0)
    photo, painting = torch.rand(1, 3, 8, 8, generator=g, dtype=torch.float64), torch.rand(1, 3, 8, 8, generator=g, dtype=torch.float64)
    content = ContentLoss(net(photo, ["relu2_1"])["relu2_1"], 1.0)
    style = StyleLoss(gram(net(painting, ["relu1_1"])["relu1_1"]).double(), 5.0)

    def objective(x):
        f = net(x, ["relu1_1", "relu2_1"])
        return content(f["relu2_1"]) + style(f["relu1_1"]) + 0.1 * total_variation(x)

    x = torch.rand(1, 3, 8, 8, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(objective, (x,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_preserve_colors_keeps_photo_chroma_and_stylised_luminance():
    g = torch.Generator().manual_seed(0)
    photo = torch.rand(1, 3, 8, 8, generator=g) * 0.5 + 0.25
    # A grey picture whose luminance is near the photo's, so the recombined colours stay inside [0, 1]
    # and the final clamp changes nothing.
    stylised = photo.mean(1, keepdim=True).expand(1, 3, 8, 8) + 0.05 * torch.rand(1, 1, 8, 8, generator=g)
    out = preserve_colors(stylised, photo)
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    torch.testing.assert_close((out * luma).sum(1), (stylised * luma).sum(1), atol=1e-5, rtol=0)
    # Chroma differences (e.g. R - Y) come from the photo.
    torch.testing.assert_close(out[:, 0] - (out * luma).sum(1), photo[:, 0] - (photo * luma).sum(1), atol=1e-5, rtol=0)


def test_temporal_loss_counts_only_reliable_pixels():
    g = torch.Generator().manual_seed(0)
    warped = torch.rand(1, 3, 6, 7, generator=g)
    image = torch.rand(1, 3, 6, 7, generator=g).requires_grad_(True)
    mask = torch.zeros(1, 1, 6, 7)
    mask[..., :3, :] = 1  # the top half is reliable
    loss = TemporalLoss(warped, mask, weight=2.0)(image)
    expected = 2.0 * torch.sum(((image - warped)[..., :3, :]) ** 2) / image.numel()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert image.grad[..., 3:, :].abs().max() == 0  # unreliable pixels are free
    assert image.grad[..., :3, :].abs().min() > 0
