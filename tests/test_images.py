import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from nstbatch.media import images
from nstbatch.media.images import load_image, save_image
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


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(xyz) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _primaries_to_xyz(xy_r, xy_g, xy_b, xy_white) -> np.ndarray:
    """The RGB -> XYZ matrix of a colour space given its primaries and white point (chromaticities)."""
    def column(x, y):
        return np.array([x / y, 1.0, (1 - x - y) / y])

    primaries = np.stack([column(*xy_r), column(*xy_g), column(*xy_b)], axis=1)
    return primaries * np.linalg.solve(primaries, column(*xy_white))


BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
D65, D50 = (0.3127, 0.3290), np.array([0.9642, 1.0, 0.8249])


def _to_d50(matrix: np.ndarray) -> np.ndarray:
    """Bradford-adapt an RGB -> XYZ matrix from a D65 white to the ICC connection space's D50."""
    white = matrix @ np.ones(3)
    cone = np.diag((BRADFORD @ D50) / (BRADFORD @ white))
    return np.linalg.inv(BRADFORD) @ cone @ BRADFORD @ matrix


P3_D50 = _to_d50(_primaries_to_xyz((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), D65))
SRGB_D50 = _to_d50(_primaries_to_xyz((0.64, 0.33), (0.30, 0.60), (0.15, 0.06), D65))
GAMMA = 563 / 256  # 2.2 as an ICC u8Fixed8 number holds it


def p3_profile() -> bytes:
    """A minimal ICC v2 display profile: Display P3's primaries and white with a plain 2.2 gamma."""
    description = b"P3 primaries, gamma 2.2 (test)"
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 563) + b"\0\0"
    tags = [(b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(description) + 1) + description + b"\0"
             + b"\0" * 8 + b"\0\0\0" + b"\0" * 67),
            (b"wtpt", _xyz(D50)), (b"cprt", b"text\0\0\0\0test\0\0\0\0"),
            (b"rXYZ", _xyz(P3_D50[:, 0])), (b"gXYZ", _xyz(P3_D50[:, 1])), (b"bXYZ", _xyz(P3_D50[:, 2])),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body + b"\0" * (-len(body) % 4)
    body = struct.pack(">I", len(tags)) + table + data
    header = (struct.pack(">I", 128 + len(body)) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50) + b"\0" * 48)
    assert len(header) == 128
    return header + body


def p3_to_srgb(pixels: np.ndarray) -> np.ndarray:
    """The conversion done by hand: decode the gamma, P3 -> XYZ (D50) -> linear sRGB, sRGB's curve."""
    linear = (pixels / 255.0) ** GAMMA
    srgb = np.clip(linear @ (np.linalg.inv(SRGB_D50) @ P3_D50).T, 0, 1)
    encoded = np.where(srgb <= 0.0031308, 12.92 * srgb, 1.055 * srgb ** (1 / 2.4) - 0.055)
    return encoded * 255.0


def test_a_display_p3_photo_is_converted_to_srgb_through_its_profile(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(40, 216, size=(12, 16, 3)).astype(np.uint8)  # inside sRGB's gamut: no clipping
    Image.fromarray(pixels).save(tmp_path / "p3.png", icc_profile=p3_profile())
    loaded = load_image(tmp_path / "p3.png").squeeze(0).permute(1, 2, 0).numpy() * 255
    expected = p3_to_srgb(pixels.astype(np.float64))
    assert np.abs(loaded - expected).max() <= 2.0  # LittleCMS's 8-bit transforms interpolate
    assert np.abs(pixels - expected).max() > 20  # and ignoring the profile would be far off
    Image.fromarray(pixels).save(tmp_path / "untagged.png")
    untagged = load_image(tmp_path / "untagged.png").squeeze(0).permute(1, 2, 0).numpy() * 255
    assert np.abs(untagged - pixels).max() < 1e-3  # no profile: taken as sRGB, untouched


def test_results_are_srgb_tagged_and_keep_the_photos_exif_but_not_its_orientation(tmp_path):
    photo = Image.new("RGB", (8, 6), (120, 60, 30))
    exif = Image.Exif()
    exif[0x010F], exif[0x0132], exif[images.ORIENTATION] = "Phone Maker", "2026:11:23 10:00:00", 6
    photo.save(tmp_path / "photo.jpg", exif=exif.tobytes())
    for suffix in (".png", ".jpg", ".webp"):
        out = save_image(load_image(tmp_path / "photo.jpg"), tmp_path / f"out{suffix}",
                         exif=images.source_exif(tmp_path / "photo.jpg"))
        with Image.open(out) as written:
            assert written.info.get("icc_profile") == images.SRGB_ICC, suffix
            kept = written.getexif()
            assert kept.get(0x010F) == "Phone Maker" and kept.get(0x0132) == "2026:11:23 10:00:00", suffix
            assert images.ORIENTATION not in kept and written.size == (6, 8), suffix  # rotated once, not twice


def test_tif_results_have_16_bits_a_channel_and_the_srgb_profile(tmp_path):
    import tifffile

    picture = photo_like(10, 14)
    out = save_image(picture, tmp_path / "print.tif")
    with tifffile.TiffFile(out) as tif:
        array = tif.asarray()
        profile = tif.pages[0].tags["InterColorProfile"].value
    assert array.dtype == np.uint16 and array.shape == (10, 14, 3)
    assert np.abs(array / 65535.0 - picture.squeeze(0).permute(1, 2, 0).numpy()).max() <= 0.5 / 65535 + 1e-7
    assert bytes(profile) == images.SRGB_ICC


def test_sixteen_bit_greyscale_keeps_its_levels(tmp_path):
    # Converted to RGB as it is, Pillow clips every 16-bit level above 255 to white.
    levels = (np.arange(12 * 16).reshape(12, 16) * 341).astype(np.uint16)
    Image.fromarray(levels).save(tmp_path / "grey16.png")
    with Image.open(tmp_path / "grey16.png") as opened:
        assert opened.mode.startswith("I")  # what this test is about: Pillow's 16-bit grey
    img = load_image(tmp_path / "grey16.png")
    expected = torch.from_numpy(levels / 65535.0).float()
    assert img.shape == (1, 3, 12, 16)
    assert all(torch.allclose(img[0, c], expected, atol=1e-5) for c in range(3))
    assert load_image(tmp_path / "grey16.png", 8).shape == (1, 3, 6, 8)


def png_header(width, height):
    """A PNG that declares ``width`` x ``height`` and holds no pixels: enough for Image.open."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def test_a_huge_header_gets_the_max_pixels_line_not_pillows(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_header(50_000, 50_000))
    with pytest.raises(ImageError) as caught:
        load_image(tmp_path / "bomb.png", max_pixels=100_000_000)
    assert caught.value.reason == "is 2,500,000,000 pixels, over the limit of 100,000,000 (raise --max-pixels)"
    # Raised past Pillow's own limit, --max-pixels is what decides: the file is opened (and fails as damaged).
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(tmp_path / "bomb.png", max_pixels=3_000_000_000)


def test_an_animated_gif_is_painted_from_its_first_frame_and_says_so(tmp_path, caplog):
    frames = [Image.new("RGB", (8, 6), colour) for colour in ((200, 10, 10), (10, 200, 10))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    img = load_image(tmp_path / "anim.gif")
    assert img.shape == (1, 3, 6, 8) and img[0, 0].mean() > 0.7 and img[0, 1].mean() < 0.1
    assert "an animation of 2 frames; its first frame is painted" in caplog.text
    assert ".gif" in images.IMAGE_SUFFIXES
