"""The feed-forward network: shapes at odd sizes, range, conditional instance norm and blending."""

import pytest
import torch

from nstbatch.network.stylizer import Architecture, Stylizer, one_hot

TINY = dict(channels=4, residual_blocks=1)


def _network(styles, seed=0):
    torch.manual_seed(seed)
    net = Stylizer(Architecture(styles=styles, **TINY)).eval()
    with torch.no_grad():  # distinct paintings: tables away from their (1, 0) start
        for p in net.style_parameters():
            p.add_(0.5 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("shape", [(1, 3, 17, 23), (2, 3, 33, 40), (1, 3, 5, 7)])
def test_any_size_comes_back_the_same_shape_in_range(shape):
    image = torch.rand(shape)
    with torch.no_grad():
        out = _network(1)(image)
    assert out.shape == image.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert float(out.std()) > 1e-3  # not a constant picture


def _single_from(net, gamma_beta):
    """A one-painting network with ``net``'s convolutions and the given (γ, β) per norm layer."""
    single = Stylizer(Architecture(styles=1, **TINY)).eval()
    state = {k: v for k, v in net.state_dict().items() if not k.endswith((".scale", ".shift"))}
    single.load_state_dict(state, strict=False)
    with torch.no_grad():
        for norm, (gamma, beta) in zip(single.norms(), gamma_beta):
            norm.scale.copy_(gamma.unsqueeze(0))
            norm.shift.copy_(beta.unsqueeze(0))
    return single


def test_one_hot_is_that_painting_alone_and_a_blend_interpolates_gamma_beta():
    net, image = _network(3), torch.rand(2, 3, 24, 20)
    with torch.no_grad():
        alone = _single_from(net, [(n.scale[1], n.shift[1]) for n in net.norms()])
        torch.testing.assert_close(net(image, one_hot(1, 3, 2)), alone(image), rtol=0, atol=1e-6)
        mix = torch.tensor([0.2, 0.0, 0.8])
        blended = _single_from(net, [(mix @ n.scale, mix @ n.shift) for n in net.norms()])
        torch.testing.assert_close(net(image, mix), blended(image), rtol=0, atol=1e-6)
        assert float((net(image, mix) - net(image, one_hot(0, 3, 2))).abs().max()) > 1e-3  # blending changes the picture


def test_each_photo_of_a_batch_gets_its_own_blend():
    net, image = _network(2), torch.rand(2, 3, 16, 16)
    weights = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    with torch.no_grad():
        both = net(image, weights)
        torch.testing.assert_close(both[:1], net(image[:1], one_hot(0, 2)), rtol=0, atol=1e-6)
        torch.testing.assert_close(both[1:], net(image[1:], one_hot(1, 2)), rtol=0, atol=1e-6)
        assert not torch.allclose(both[:1], net(image[:1], one_hot(1, 2)), atol=1e-3)  # the blend matters


def test_blend_weights_are_checked():
    net = _network(2)
    with pytest.raises(ValueError, match="holds 2 paintings"):
        net(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="must be 1 x 2"):
        net(torch.rand(1, 3, 16, 16), torch.ones(1, 3))


def test_adding_a_painting_leaves_the_others_alone():
    net, image = _network(2), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        before = net(image, one_hot(1, 2))
        index = net.add_style()
        assert index == 2 and net.styles == 3
        torch.testing.assert_close(net(image, one_hot(1, 3)), before, rtol=0, atol=1e-6)
        for norm in net.norms():  # starts from the mean of the paintings it holds
            torch.testing.assert_close(norm.scale[2], norm.scale[:2].mean(0))
