"""The universal network: the transforms between its halves, its training and export, and `run`, `video`
and the Python API painting with any painting (tiny networks, tiny pictures)."""

import json

import numpy as np
import pytest
import torch

from conftest import invoke, painting_like, photo_folder, photo_like
from nstbatch.media.images import read_picture, save_image
from nstbatch.network import feature_transforms as ft
from nstbatch.network.universal_painter import UniversalPainter, _padded
from nstbatch.onnx.session import UniversalSession

# The bundled universal network: the tiny one trained here is too weak for pictures to tell paintings apart.
BUNDLED = ft.__file__.rsplit("/nstbatch/", 1)[0] + "/nstbatch/models/universal/model.onnx"


def _features(seed, channels=6, h=9, w=11):
    """Correlated, non-negative features, like a ReLU layer's."""
    g = np.random.default_rng(seed)
    mix = g.normal(size=(channels, channels))
    return np.maximum(0, mix @ g.normal(size=(channels, h * w)) + 0.5).reshape(channels, h, w).astype(np.float32)


def _covariance(x):
    flat = x.reshape(x.shape[0], -1).astype(np.float64)
    return np.cov(flat), flat.mean(1)


def test_whitening_and_colouring_gives_the_photo_the_paintings_mean_and_covariance():
    photo, painting = _features(0), _features(1, h=13, w=7)
    moved = ft.stylised(photo, "wct", ft.statistics(painting, "wct"))
    (got, got_mean), (want, want_mean) = _covariance(moved), _covariance(painting)
    np.testing.assert_allclose(got_mean, want_mean, atol=1e-4)
    np.testing.assert_allclose(got, want, atol=1e-3 * np.abs(want).max())


def test_adain_gives_each_channel_the_paintings_mean_and_spread_alone():
    photo, painting = _features(0), _features(1)
    moved = ft.stylised(photo, "adain", ft.statistics(painting, "adain"))
    flat, target = moved.reshape(6, -1), painting.reshape(6, -1)
    np.testing.assert_allclose(flat.mean(1), target.mean(1), atol=1e-4)
    np.testing.assert_allclose(flat.std(1), target.std(1), rtol=1e-3)
    assert not np.allclose(np.cov(flat), np.cov(target), atol=1e-2)  # the correlations stay the photo's


def test_strength_and_blends_are_linear():
    photo, a, b = _features(0), ft.statistics(_features(1), "wct"), ft.statistics(_features(2), "wct")
    np.testing.assert_allclose(ft.stylised(photo, "wct", a, strength=0.0), photo, atol=1e-5)
    half = ft.stylised(photo, "wct", a, strength=0.5)
    np.testing.assert_allclose(half, 0.5 * photo + 0.5 * ft.stylised(photo, "wct", a), atol=1e-4)
    mixed = ft.stylised(photo, "wct", ft.blended([a, b], [0.25, 0.75]))
    np.testing.assert_allclose(mixed, 0.25 * ft.stylised(photo, "wct", a) + 0.75 * ft.stylised(photo, "wct", b), atol=1e-4)


def test_a_map_of_one_painting_everywhere_is_that_painting_and_no_share_is_the_photo():
    photo, a, b = _features(0), ft.statistics(_features(1), "wct"), ft.statistics(_features(2), "wct")
    shares = np.zeros((2, 9, 11), np.float32)
    shares[1, :, :5] = 1.0
    moved = ft.stylised_by_map(photo, "wct", [a, b], shares)
    np.testing.assert_allclose(moved[:, :, :5], ft.stylised(photo, "wct", b)[:, :, :5], atol=1e-4)
    np.testing.assert_allclose(moved[:, :, 5:], photo[:, :, 5:], atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (2, 3, 13, 21), (1, 3, 16, 16), (1, 3, 1, 9)])
def test_any_size_is_padded_to_what_the_network_takes_and_comes_back_at_its_size(tiny_universal, shape):
    padded, height, width = _padded(np.random.default_rng(0).random(shape, dtype=np.float32))
    assert padded.shape[2] % 4 == 0 and padded.shape[3] % 4 == 0 and (height, width) == shape[2:]
    session = UniversalSession(tiny_universal[0])
    painter = UniversalPainter(session, [painting_like().numpy()])
    photos = np.random.default_rng(1).random(shape, dtype=np.float32)
    assert painter(photos, np.ones((shape[0], 1), np.float32)).shape == shape


def test_a_paintings_statistics_are_taken_at_each_photo_size_once_within_its_bounds(tiny_universal, monkeypatch):
    session = UniversalSession(tiny_universal[0])
    rng = np.random.default_rng(0)
    painter = UniversalPainter(session, [rng.random((1, 3, 300, 400), dtype=np.float32),
                                         rng.random((1, 3, 30, 40), dtype=np.float32)])
    taken = []
    real = painter.painting_statistics
    monkeypatch.setattr(painter, "painting_statistics", lambda picture: taken.append(picture.shape[-2:]) or real(picture))
    weights = np.array([[0.5, 0.5]], np.float32)
    for shape in ((48, 64), (200, 290), (210, 300), (600, 1000)):
        painter(rng.random((1, 3, *shape), dtype=np.float32), weights)
    # a small photo: both paintings at the least side (the small one enlarged to it); 290 and 300 px round to
    # 288 and share statistics (the small painting still at the least); 1000 px: the large one at its own size
    assert taken == [(192, 256), (192, 256), (216, 288), (192, 256), (300, 400), (192, 256)]


def test_the_exported_halves_match_the_checkpoint(tiny_universal):
    from nstbatch.network.universal_checkpoint import load_universal

    onnx_path, model_dir = tiny_universal
    network, info, _ = load_universal(model_dir / "model.safetensors")
    photo = photo_like(32, 40)
    session = UniversalSession(onnx_path)
    with torch.no_grad():
        encoded = network.encoder(photo)
        decoded = network.decoder(encoded)
    np.testing.assert_allclose(session.encode(photo.numpy()), encoded.numpy(), atol=1e-5)
    np.testing.assert_allclose(session.decode(encoded.numpy()), decoded.numpy(), atol=1e-5)
    assert info.step == 2 and session.metadata["shape"] == {"width": 4, "kind": "wct"}


def test_training_resumes_where_it_stopped_with_the_weights_an_unbroken_run_has(tmp_path):
    from nstbatch.network.universal_checkpoint import load_universal

    photos = photo_folder(tmp_path / "photos")
    common = ["train", "--universal", "--photos", photos, "--crop-size", 16, "--batch-size", 2, "--channels", 2,
              "--device", "cpu", "--quiet"]
    assert invoke(*common, "--output", tmp_path / "whole", "--steps", 4).exit_code == 0
    assert invoke(*common, "--output", tmp_path / "parts", "--steps", 2).exit_code == 0
    assert invoke(*common, "--output", tmp_path / "parts", "--steps", 4).exit_code == 0
    whole, _, _ = load_universal(tmp_path / "whole" / "model.safetensors")
    parts, info, _ = load_universal(tmp_path / "parts" / "model.safetensors")
    assert info.step == 4
    for (name, a), b in zip(whole.state_dict().items(), parts.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    rows = [json.loads(line) for line in (tmp_path / "parts" / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    other = invoke(*common, "--output", tmp_path / "parts", "--steps", 6, "--learning-rate", 0.01)
    assert other.exit_code == 2 and "other settings" in other.output


def test_the_painting_stage_trains_the_decoder_alone_from_a_network(tmp_path, tiny_universal):
    from nstbatch.network.universal_checkpoint import load_universal

    _, model_dir = tiny_universal
    photos = photo_folder(tmp_path / "photos")
    done = invoke("train", "--universal", "--photos", photos, "--output", tmp_path / "painting", "--steps", 1,
                  "--crop-size", 16, "--batch-size", 2, "--channels", 4, "--style-weight", 1, "--device", "cpu",
                  "--quiet", "--start-from", model_dir / "model.safetensors")
    assert done.exit_code == 0, done.output
    before, _, _ = load_universal(model_dir / "model.safetensors")
    after, info, _ = load_universal(tmp_path / "painting" / "model.safetensors")
    torch.testing.assert_close(after.encoder.state_dict(), before.encoder.state_dict())
    assert any(not torch.equal(a, b) for a, b in zip(after.decoder.state_dict().values(),
                                                     before.decoder.state_dict().values()))
    assert info.settings["style_weight"] == 1 and "start" in info.settings


def test_train_universal_refuses_what_belongs_to_a_network_of_its_own_paintings(tmp_path, files):
    _, style = files
    done = invoke("train", "--universal", "--photos", tmp_path, "--style", style, "--tv-weight", 1, "-o", tmp_path / "m")
    assert done.exit_code == 2 and "--tv-weight, --style: not for --universal" in done.output


@pytest.fixture
def universal_files(tmp_path):
    inputs = tmp_path / "in"
    save_image(photo_like(40, 48, 0), inputs / "a.png")
    save_image(photo_like(40, 48, 1), inputs / "b.png")
    first = save_image(painting_like(), tmp_path / "stripes.png")
    second = save_image(painting_like().flip(1).roll(5, dims=3) * 0.6, tmp_path / "dots.png")
    return inputs, first, second


def test_run_paints_a_folder_with_any_painting_and_resumes_by_the_paintings_hash(universal_files,
                                                                                tmp_path):
    onnx_path = BUNDLED
    inputs, stripes, dots = universal_files
    out = tmp_path / "out"
    done = invoke("run", "-i", inputs, "-m", onnx_path, "--style", stripes, "-o", out)
    assert done.exit_code == 0, done.output
    assert "network model.onnx (stripes)" in done.output
    rows = [json.loads(line) for line in (out / "nstbatch-manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(len(row["made_with"]["style_sha256"]) == 1 for row in rows)
    painted = read_picture(out / "a.png")
    assert painted.shape == (1, 3, 40, 48)
    again = invoke("run", "-i", inputs, "-m", onnx_path, "--style", stripes, "-o", out)
    assert again.exit_code == 0 and "0 done, 2 skipped" in again.output
    save_image(painting_like().roll(3, dims=2), stripes)  # the same file name, another painting
    changed = invoke("run", "-i", inputs, "-m", onnx_path, "--style", stripes, "-o", out)
    assert changed.exit_code == 2 and "style_sha256" in changed.output


def test_blend_strength_and_regions_change_the_pictures_as_asked(universal_files, tmp_path):
    onnx_path = BUNDLED
    inputs, stripes, dots = universal_files

    def painted(name, *options):
        done = invoke("run", "-i", inputs, "-m", onnx_path, "-o", tmp_path / name, "--no-gallery", *options)
        assert done.exit_code == 0, done.output
        return read_picture(tmp_path / name / "a.png")

    one, two = painted("one", "--style", stripes), painted("two", "--style", dots)
    assert np.abs(one - two).mean() > 1e-2  # another painting, another picture
    blend = painted("blend", "--style", stripes, "--style", dots, "--style-blend", "stripes=1,dots=0")
    np.testing.assert_allclose(blend, one, atol=2 / 255)
    assert np.abs(painted("mixed", "--style", stripes, "--style", dots) - one).mean() > 1e-3
    photo = read_picture(inputs / "a.png")
    rebuilt = painted("none", "--style", stripes, "--strength", "0")
    assert np.abs(rebuilt - one).mean() > 1e-3
    mask = np.zeros((40, 48), np.uint8)
    mask[:, :24] = 255
    from PIL import Image

    Image.fromarray(mask).save(tmp_path / "left.png")
    region = painted("region", "--style", stripes, "--region", f"{tmp_path / 'left.png'}=photo")
    np.testing.assert_allclose(region[..., :, :12], photo[..., :, :12], atol=2 / 255)
    np.testing.assert_allclose(region[..., :, 36:], one[..., :, 36:], atol=2 / 255)
    other = painted("other", "--style", stripes, "--region", f"{tmp_path / 'left.png'}={dots}")
    # Each side is nearer the picture of its own painting (the colours are whitened over the whole picture,
    # so neither is that picture exactly).
    def distance(a, b, side):
        return np.abs(a[..., side[0], side[1]] - b[..., side[0], side[1]]).mean()

    left, right = np.s_[:, :12], np.s_[:, 36:]
    assert distance(other, one, right) < distance(other, two, right)
    assert distance(other, two, left) < distance(other, one, left)


def test_a_universal_network_asks_for_its_painting_and_others_refuse_one(tiny_universal, tiny_onnx, universal_files,
                                                                        tmp_path):
    onnx_path, _ = tiny_universal
    inputs, stripes, _ = universal_files
    alone = invoke("run", "-i", inputs, "-m", onnx_path, "-o", tmp_path / "a")
    assert alone.exit_code == 2 and "universal network: give the painting" in alone.output
    held = invoke("run", "-i", inputs, "-m", tiny_onnx, "--style", stripes, "-o", tmp_path / "b")
    assert held.exit_code == 2 and "already holds its paintings" in held.output
    strength = invoke("run", "-i", inputs, "--style", stripes, "--strength", "0.5", "-o", tmp_path / "c")
    assert strength.exit_code == 2 and "--strength is for a universal network" in strength.output
    checkpoint = invoke("run", "-i", inputs, "-m", tiny_universal[1] / "model.safetensors", "--style", stripes, "-o",
                        tmp_path / "d")
    assert checkpoint.exit_code == 2 and "a universal network's checkpoint; export it" in checkpoint.output


def test_the_python_api_paints_with_any_painting(universal_files):
    import nstbatch

    onnx_path = BUNDLED
    inputs, stripes, dots = universal_files
    picture = nstbatch.stylize(inputs / "a.png", str(stripes), model=onnx_path, size=None)
    assert picture.size == (48, 40)
    from PIL import Image

    from_image = nstbatch.stylize(inputs / "a.png", Image.open(stripes), model=onnx_path, size=None)
    assert np.abs(np.asarray(picture, float) - np.asarray(from_image, float)).mean() < 2


def test_the_python_api_paints_a_clip_with_any_painting(universal_files, clip_dir, tmp_path):
    import nstbatch

    _, stripes, _ = universal_files
    out = nstbatch.stylize_video(clip_dir, tmp_path / "api.mp4", str(stripes), model=BUNDLED, temporal_blend=0.3)
    assert out.stat().st_size > 0


def test_video_paints_a_clip_with_any_painting(universal_files, clip_dir, tmp_path):
    onnx_path = BUNDLED
    _, stripes, _ = universal_files
    out = tmp_path / "painted.mp4"
    done = invoke("video", "-i", clip_dir, "-m", onnx_path, "--style", stripes, "--temporal-blend", "0.5", "-o", out)
    assert done.exit_code == 0, done.output
    assert out.stat().st_size > 0


def test_info_and_models_describe_a_universal_network(tiny_universal):
    onnx_path, _ = tiny_universal
    done = invoke("info", "--model", onnx_path)
    assert done.exit_code == 0 and "universal network (wct)" in done.output and "width" in done.output
