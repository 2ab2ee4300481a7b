import pytest
import torch
import torchvision

from nstbatch.errors import UsageError
from nstbatch.runtime import vgg as vgg_module
from nstbatch.runtime.vgg import LAYERS, VGG19Features, check_layers, min_side
from nstbatch.runtime.weights import CAFFE_BGR_MEAN, TORCHVISION_CONV_INDEX, load_weights


def torchvision_reference(weights, pooling="max"):
    """torchvision's VGG-19 layer stack holding the same weights: an independent implementation."""
    model = torchvision.models.vgg19().features.eval()
    for name, index in TORCHVISION_CONV_INDEX.items():
        model[index].weight.data.copy_(weights.convs[name][0])
        model[index].bias.data.copy_(weights.convs[name][1])
    if pooling == "avg":
        for i, layer in enumerate(model):
            if isinstance(layer, torch.nn.MaxPool2d):
                model[i] = torch.nn.AvgPool2d(2, 2)
    return model


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_every_layer_matches_torchvision_architecture(pooling):
    weights = load_weights()
    ours = VGG19Features(weights, pooling)
    reference = torchvision_reference(weights, pooling)
    image = torch.rand(2, 3, 64, 48, generator=torch.Generator().manual_seed(0))
    # The Caffe convention, written out by hand: BGR, 0..255, minus the mean pixel.
    x = image[:, [2, 1, 0]] * 255 - torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1)
    got = ours(image, LAYERS)
    with torch.no_grad():
        for index, name in enumerate(LAYERS):
            x = reference[index](x)
            scale = x.abs().max().clamp_min(1.0)
            torch.testing.assert_close(got[name], x, rtol=1e-4, atol=1e-4 * float(scale), msg=name)


def test_shapes_and_only_requested_layers():
    features = VGG19Features(load_weights())
    out = features(torch.rand(1, 3, 64, 64), ["relu1_1", "relu3_1", "pool5", "conv4_2"])
    assert list(out) == ["relu1_1", "relu3_1", "conv4_2", "pool5"]
    assert out["relu1_1"].shape == (1, 64, 64, 64)
    assert out["relu3_1"].shape == (1, 256, 16, 16)
    assert out["conv4_2"].shape == (1, 512, 8, 8)
    assert out["pool5"].shape == (1, 512, 2, 2)
    assert (out["conv4_2"] < 0).any()  # a conv output is not clobbered by an in-place ReLU


def test_stops_after_deepest_requested_layer(monkeypatch, vgg):
    calls = []
    real_conv = vgg_module.F.conv2d
    monkeypatch.setattr(vgg_module.F, "conv2d", lambda *a, **k: calls.append(1) or real_conv(*a, **k))
    vgg(torch.rand(1, 3, 32, 32), ["relu2_1"])
    assert len(calls) == 3  # conv1_1, conv1_2, conv2_1 and nothing deeper


def test_no_gradient_for_weights_only_for_the_image(vgg):
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    vgg(image, ["relu3_1"])["relu3_1"].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert not list(vgg.parameters())
    assert all(not b.requires_grad and b.grad is None for b in vgg.buffers())


def test_torchvision_preprocessing(tmp_path):
    model = torchvision.models.vgg19()
    path = tmp_path / "tv.pth"
    torch.save(model.state_dict(), path)
    ours = VGG19Features(load_weights(path))
    image = torch.rand(1, 3, 32, 32)
    normalised = torchvision.transforms.functional.normalize(image, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    with torch.no_grad():
        expected = model.features[:4](normalised)
    torch.testing.assert_close(ours(image, ["relu1_2"])["relu1_2"], expected, rtol=1e-4, atol=1e-5)


def test_layer_names_are_checked():
    assert check_layers(["relu5_1", "relu1_1", "relu1_1"]) == ["relu1_1", "relu5_1"]
    with pytest.raises(UsageError, match="unknown VGG-19 layer 'relu6_1'"):
        check_layers(["relu6_1"])
    assert len(LAYERS) == 16 * 2 + 5


def test_min_side_is_what_leaves_the_deepest_layer_one_position():
    assert min_side(["relu1_1"]) == 1
    assert min_side(["relu4_2", "relu1_1"]) == 8
    assert min_side(["relu1_1", "relu5_1"]) == 16
    assert min_side(["pool4"]) == 16 and min_side(["pool5"]) == 32
