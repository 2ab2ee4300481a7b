import pytest
import torch
from PIL import Image

from nstbatch.batch import images
from nstbatch.batch.images import load_image, save_image
from nstbatch.errors import ImageError

from conftest import photo_like


def test_round_trip_png_is_exact_to_8_bits(tmp_path):
    image = photo_like()
    path = save_image(image, tmp_path / "x.png")
    back = load_image(path)
    assert back.shape == image.shape
    assert (back - image).abs().max() <= 0.5 / 255 + 1e-6


def test_resize_to_long_side(tmp_path):
    path = save_image(photo_like(40, 60), tmp_path / "wide.png")
    assert load_image(path, 30).shape == (1, 3, 20, 30)
    path = save_image(photo_like(60, 40), tmp_path / "tall.jpg")
    assert load_image(path, 90).shape == (1, 3, 90, 60)


def test_transparency_is_laid_on_white(tmp_path):
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    assert torch.allclose(load_image(tmp_path / "clear.png"), torch.ones(1, 3, 4, 4))


def test_greyscale_becomes_rgb(tmp_path):
    Image.new("L", (5, 3), 128).save(tmp_path / "grey.png")
    img = load_image(tmp_path / "grey.png")
    assert img.shape == (1, 3, 3, 5) and torch.allclose(img, torch.full_like(img, 128 / 255))


def _truncated(tmp_path):
    full = tmp_path / "full.jpg"
    save_image(torch.rand(1, 3, 64, 64), full)
    data = full.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    return tmp_path / "cut.jpg"


@pytest.mark.parametrize("make, reason", [
    (lambda d: (d / "empty.png").write_bytes(b"") and None or d / "empty.png", "empty"),
    (lambda d: (d / "text.jpg").write_text("hello") and None or d / "text.jpg", "not an image"),
    (_truncated, "truncated"),
    (lambda d: d / "missing.png", "does not exist"),
    (lambda d: d, "folder"),
])
def test_bad_files_raise_with_file_and_reason(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(ImageError, match=reason) as info:
        load_image(path)
    assert info.value.path == str(path)


def test_unreadable_file(tmp_path, monkeypatch):
    # Faked, because tests often run as root, who can read any file whatever its mode.
    path = save_image(photo_like(), tmp_path / "locked.png")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images.Image, "open", refuse)
    with pytest.raises(ImageError, match="permission denied"):
        load_image(path)


def test_pixel_limit(tmp_path):
    path = save_image(photo_like(40, 50), tmp_path / "big.png")
    with pytest.raises(ImageError, match="2,000 pixels, over the limit of 1,999"):
        load_image(path, max_pixels=1999)
    assert load_image(path, max_pixels=2000).shape == (1, 3, 40, 50)


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = save_image(photo_like(), tmp_path / "out.png")
    before = path.read_bytes()

    def crash(self, fp, *args, **kwargs):
        fp.write(b"half a picture")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_image(torch.zeros(1, 3, 8, 8), path)
    assert path.read_bytes() == before  # the old result is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary file left


def test_save_format_follows_suffix(tmp_path):
    save_image(photo_like(), tmp_path / "a.jpg")
    save_image(photo_like(), tmp_path / "a.webp")
    assert Image.open(tmp_path / "a.jpg").format == "JPEG"
    assert Image.open(tmp_path / "a.webp").format == "WEBP"
