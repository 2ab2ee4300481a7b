"""Reading images with a clear reason when it fails, and writing them atomically.

A picture is 1 x 3 x H x W in [0, 1]: a numpy array as read (``read_picture``), a torch tensor where
optimisation wants one (``load_image``). Only the tensor functions import torch, so network workers
need none. Writing takes either.

Pillow rather than OpenCV for stills: OpenCV decodes a truncated JPEG without complaint and hands
back a grey-bottomed picture, while Pillow raises, which is what a batch must report.

Colour: VGG-19 was trained on sRGB, so a photo with an embedded ICC profile (a phone's Display P3,
a camera's Adobe RGB, a CMYK print file) is converted to sRGB through that profile on load, by
Pillow's ImageCms (LittleCMS). Results are written as sRGB with the sRGB profile embedded, keeping
the photo's EXIF (capture date, camera) but not its orientation tag, which was already applied.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from ..atomic import atomic_path
from ..errors import ImageError
from ..files import NotRegularFile, open_regular

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")  # an animation: its first frame
SIXTEEN_BIT_SUFFIXES = (".tif", ".tiff")  # results in TIFF are written with 16 bits a channel, for print
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
SRGB_ICC = SRGB.tobytes()
ORIENTATION = 0x0112  # the EXIF tag that exif_transpose has already applied to the pixels

log = logging.getLogger(__name__)
DEFAULT_MAX_PIXELS = 100_000_000  # a 10,000 x 10,000 picture; larger is almost surely a mistake
GREY16_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 16-bit greyscale, as Pillow opens it
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def walk_images(root: Path, exclude: Path | None = None) -> list[Path]:
    """Image files under ``root``, sorted, leaving out hidden entries and the output folder itself.
    Links to folders are followed, but no real folder is walked twice."""
    found = []
    seen = {Path(root).resolve()}
    for folder, dirs, files in os.walk(root, followlinks=True):
        here = Path(folder)
        kept = []
        for d in sorted(dirs):
            real = (here / d).resolve()
            if not d.startswith(".") and real != exclude and real not in seen:
                seen.add(real)
                kept.append(d)
        dirs[:] = kept
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(here / name)
    return found


def _fitted_size(width: int, height: int, long_side: int | None, max_long_side: int | None = None) -> tuple[int, int]:
    if long_side is None and max_long_side is not None and max(width, height) > max_long_side:
        long_side = max_long_side
    if long_side is None:
        return width, height
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def load_image(path, long_side: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                max_long_side: int | None = None):
    """``read_picture`` as a torch tensor."""
    import torch

    return torch.from_numpy(read_picture(path, long_side, max_pixels, max_long_side))


def read_picture(path, long_side: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 max_long_side: int | None = None) -> np.ndarray:
    """A 1 x 3 x H x W float32 array in [0, 1], resized so its longest side is ``long_side``; without
    one, at its own size, shrunk to ``max_long_side`` if larger.

    Raises ImageError naming the file and the reason for every way a file can be unusable.
    """
    path = Path(path)
    if path.is_dir():
        raise ImageError(path, "is a folder, not an image")
    try:
        if path.stat().st_size == 0:
            raise ImageError(path, "is empty (0 bytes)")
        with opened(path, max_pixels) as img:
            width, height = img.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageError(path, _over_limit(f"{width}x{height} = {width * height:,}", max_pixels))
            if getattr(img, "n_frames", 1) > 1:
                log.warning("%s: an animation of %d frames; its first frame is painted", path, img.n_frames)
            target = _fitted_size(width, height, long_side, max_long_side)
            img.draft("RGB", target)  # JPEG decodes at a reduced scale when it can: much faster
            img.load()  # decode now, so a truncated file fails here with a clear reason
            icc = img.info.get("icc_profile")
            img = ImageOps.exif_transpose(img)
            img = _grey16_to_float(img) if img.mode in GREY16_MODES else _to_rgb(_to_srgb(img, icc, path))
    except ImageError:
        raise
    except NotRegularFile as exc:
        raise ImageError(path, f"{exc.strerror}; give a picture file") from None
    except MemoryError:
        raise ImageError(path, "is too large to decode in the memory there is; shrink it first") from None
    except UnidentifiedImageError:
        raise ImageError(path, "is not an image Pillow can read (unknown or damaged format)") from None
    except PermissionError:
        raise ImageError(path, "cannot be read: permission denied") from None
    except FileNotFoundError:
        raise ImageError(path, "does not exist") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow says "image file is truncated" and the like through OSError.
        raise ImageError(path, f"is damaged or truncated ({exc})") from None
    target = _fitted_size(img.width, img.height, long_side, max_long_side)
    if img.size != target:
        img = img.resize(target, Image.Resampling.LANCZOS)
    if img.mode == "F":  # 16-bit grey, as grey levels 0-255 with the fractions kept
        return array_to_picture(np.repeat(np.clip(np.asarray(img), 0, 255)[..., None], 3, axis=2))
    return array_to_picture(np.asarray(img))


def _over_limit(pixels: str, max_pixels: int) -> str:
    return f"is {pixels} pixels, over the limit of {max_pixels:,} (raise --max-pixels)"


_PILLOW_LIMIT = threading.Lock()


@contextmanager
def opened(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS):
    """``Image.open`` of a regular file (a FIFO or a device is refused before a byte is read), with
    nstbatch's ``--max-pixels`` in place of Pillow's own refusal of very large pictures: over
    ``max_pixels`` is our one line, and a limit raised past Pillow's is honoured."""
    with os.fdopen(open_regular(path), "rb") as file, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(file)
        except Image.DecompressionBombError as exc:
            found = _BOMB_PIXELS.search(str(exc))
            pixels = int(found[1]) if found else None
            if max_pixels is not None and (pixels is None or pixels > max_pixels):
                raise ImageError(path, _over_limit(f"{pixels:,}" if pixels else "more", max_pixels)) from None
            with _PILLOW_LIMIT:  # the user raised --max-pixels past Pillow's limit: open it with that one
                before, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels
                try:
                    file.seek(0)
                    img = Image.open(file)
                finally:
                    Image.MAX_IMAGE_PIXELS = before
        with img:
            yield img


def _grey16_to_float(img: Image.Image) -> Image.Image:
    """16-bit greyscale as a float picture in grey levels 0-255: converted to RGB directly, Pillow would
    clip every level above 255 to white."""
    return Image.fromarray(np.asarray(img, dtype=np.float32) * np.float32(255.0 / 65535.0))


def _to_srgb(img: Image.Image, icc: bytes | None, path: Path) -> Image.Image:
    """``img`` converted from its embedded profile to sRGB (alpha kept); as it is without a profile, with
    an sRGB one (converting would only round), or with one LittleCMS cannot use (said in the log)."""
    if not icc or img.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(source).lower():
            return img
        alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else None
        colour = img.convert(img.mode[:-1]) if alpha is not None else img
        converted = ImageCms.profileToProfile(colour, source, SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        log.warning("%s: its colour profile cannot be used (%s); read as sRGB", path, exc)
        return img
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB; transparent parts are laid on white, as a viewer would show them."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def array_to_picture(array: np.ndarray) -> np.ndarray:
    """H x W x 3 in grey levels (uint8, or float after warping) to 1 x 3 x H x W float32 in [0, 1]."""
    values = np.asarray(array, dtype=np.float32) / np.float32(255.0)
    return np.ascontiguousarray(values.transpose(2, 0, 1)[None])


def as_array(picture) -> np.ndarray:
    """A picture (a numpy array, or a torch tensor on any device) as a float32 numpy array."""
    if hasattr(picture, "detach"):  # a torch tensor: no torch import needed to take it apart
        picture = picture.detach().float().cpu().numpy()
    return np.asarray(picture, dtype=np.float32)


def resized_picture(picture, long_side: int) -> np.ndarray:
    """A 1 x 3 x H x W picture in [0, 1] with its long side at ``long_side``, each channel resampled by
    Pillow's bicubic filter (antialiased when it shrinks), as optimisation resizes a painting
    (runtime/transfer.resize_long_side); clipped to [0, 1]."""
    height, width = picture.shape[-2:]
    if max(height, width) == long_side:
        return picture
    size = _fitted_size(width, height, long_side)
    channels = [np.asarray(Image.fromarray(channel, mode="F").resize(size, Image.Resampling.BICUBIC))
                for channel in as_array(picture)[0]]
    return np.clip(np.stack(channels), 0, 1)[None].astype(np.float32)


def array_to_tensor(array: np.ndarray):
    """``array_to_picture`` as a torch tensor."""
    import torch

    return torch.from_numpy(array_to_picture(array))


def tensor_to_array(image) -> np.ndarray:
    """1 x 3 x H x W in [0, 1] (an array or a tensor) to H x W x 3 uint8, rounded to the nearest grey level."""
    array = np.clip(as_array(image)[0], 0, 1).transpose(1, 2, 0)
    return np.round(array * 255).astype(np.uint8)


def pil_to_tensor(img: Image.Image):
    return array_to_tensor(np.asarray(img))


def tensor_to_pil(image) -> Image.Image:
    return Image.fromarray(tensor_to_array(image), "RGB")


def source_exif(path) -> bytes | None:
    """The photo's EXIF without its orientation tag, to carry over to its result; None if it has none."""
    try:
        with opened(path) as img:
            exif = img.getexif()
    except (OSError, ValueError, SyntaxError, ImageError):
        return None
    exif.pop(ORIENTATION, None)
    return exif.tobytes() if len(exif) else None


def save_image(image, path, exif: bytes | None = None) -> Path:
    """Write ``image`` (1 x 3 x H x W in [0, 1], sRGB; an array or a tensor) to ``path`` atomically: a crash never leaves half a
    file. The format follows the suffix (.png, .jpg, .webp; .tif is 16 bits a channel); the sRGB
    profile is embedded, and ``exif`` (from ``source_exif``) where the format holds it. The picture is
    flushed to disk before the rename."""
    path = Path(path)
    if path.suffix.lower() in SIXTEEN_BIT_SUFFIXES:
        return _save_tiff16(image, path)
    fmt = _format_of(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image format '{path.suffix}'")
    options = {"quality": 95} if fmt == "JPEG" else {}
    if fmt in ("PNG", "JPEG", "WEBP"):
        options.update(icc_profile=SRGB_ICC, **({"exif": exif} if exif else {}))
    with _durable(path) as f:
        tensor_to_pil(image).save(f, format=fmt, **options)
    return path


def _format_of(suffix: str) -> str | None:
    """Pillow's format for a file suffix. The common formats' plugins are looked up first: loading every
    plugin Pillow has (``registered_extensions``) takes longer than writing a photo."""
    Image.preinit()
    return Image.EXTENSION.get(suffix) or Image.registered_extensions().get(suffix)


@contextmanager
def _durable(path: Path):
    """A file to write ``path`` through: flushed to disk, then renamed into place (atomic.py)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def _save_tiff16(image, path: Path) -> Path:
    import tifffile  # Pillow writes no 16-bit RGB

    array = np.clip(as_array(image)[0], 0, 1).transpose(1, 2, 0)
    with _durable(path) as f:
        tifffile.imwrite(f, np.round(array * 65535).astype(np.uint16), photometric="rgb", iccprofile=SRGB_ICC,
                         compression="zlib")
    return path
