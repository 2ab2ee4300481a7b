"""The Python API: ``stylize(content, style, **options)`` or ``stylize(content, model=...)`` returns a stylised PIL
image; ``stylize_video(clip, output, style or model=...)`` writes a painted clip, as `nstbatch video` does."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from .batch.painted_regions import PHOTO  # a region's painting that keeps the photo there
from .engines import check_engine_choice, color_mode, open_model, optimiser
from .errors import UsageError
from .media.images import load_image, pil_to_tensor, tensor_to_pil
from .runtime.mixing import weights_given
from .runtime.regions import RegionStyle, resized_masks
from .runtime.stylize import Options
from .runtime.transfer import resize_long_side

ImageLike = str | Path | Image.Image | torch.Tensor
API_NAMES = ("style=...", "model=...")  # how refusals name the painting and the network here


def _as_tensor(image: ImageLike, long_side: int | None) -> torch.Tensor:
    if isinstance(image, (str, Path)):
        return load_image(image, long_side)
    if isinstance(image, Image.Image):
        tensor = pil_to_tensor(image.convert("RGB"))
    else:
        tensor = image if image.dim() == 4 else image.unsqueeze(0)
    if long_side is not None:
        tensor = resize_long_side(tensor, long_side)
    return tensor


def stylize(
    content: ImageLike,
    style: ImageLike | list[ImageLike] | None = None,
    *,
    model: str | Path | None = None,
    size: int | None = 256,
    style_blend: list[float] | str | None = None,
    style_scale: float = 1.0,
    preserve_colors: bool = False,
    match_colors: bool = False,
    regions: dict | None = None,
    style_fine: ImageLike | None = None,
    strength: float = 1.0,
    device: str = "auto",
    weights: str | Path | None = None,
    callback=None,
    **options,
) -> Image.Image:
    """Paint ``content`` in the manner of ``style`` (a path, PIL image or 1x3xHxW tensor in [0, 1]), or
    with a trained network: ``stylize(photo, model="model.onnx")`` (no painting needed, one pass).

    ``size`` is the longest side of the result (None keeps the photo's size). With ``model``,
    ``style_blend`` weighs the model's paintings (``[0.7, 0.3]`` or ``"starry=0.7,scream=0.3"``).
    ``regions`` maps masks (paths, PIL images or H x W tensors in [0, 1], white inside) to what paints them:
    a painting (with ``model``, a painting's name), or ``"photo"``; the rest is painted by ``style`` (or the
    model's blend), or is the photo without one (docs/control.md). ``match_colors`` paints in the photo's
    colours; ``style_fine`` (optimisation) takes the fine texture from another painting. A universal network
    (``model="universal"``) paints with ``style`` in one pass, ``strength`` (0 to 1) of it; its regions name
    painting files.
    Otherwise the keyword arguments are fields of ``nstbatch.runtime.stylize.Options``: iterations,
    optimizer, content_weight, style_weight, tv_weight, content_layers, style_layers, init, seed, pooling.
    """
    check_engine_choice(style, model, regions, API_NAMES)
    photo = _as_tensor(content, size)
    masks = _masks(regions, photo.shape[-2:]) if regions else None
    if model is not None:
        if options or weights is not None or style_scale != 1.0 or style_fine is not None:
            raise UsageError(f"only for optimisation, not with model=: "
                             f"{', '.join(options) or 'weights/style_scale/style_fine'}")
        blend = ",".join(map(str, style_blend)) if isinstance(style_blend, (list, tuple)) else style_blend
        engine, _ = open_model(model, blend, color_mode(preserve_colors, match_colors), device,
                               paintings=_model_paintings(style), strength=strength, regions=_model_regions(regions))
        return tensor_to_pil(engine(photo, masks=masks).image)
    if strength != 1:
        raise UsageError("strength= is for a universal network (model=\"universal\")")
    styles = [] if style is None else style if isinstance(style, list) else [style]
    region_styles = None
    if regions:
        region_styles = [RegionStyle(f"region {i + 1}") if painting == PHOTO else
                         RegionStyle(f"region {i + 1}", [_as_tensor(painting, None)], [1.0])
                         for i, painting in enumerate(regions.values())]
    engine = optimiser([_as_tensor(s, None) for s in styles], Options(**options), weights_given(style_blend), style_scale,
                       color_mode(preserve_colors, match_colors), device, weights, regions=region_styles,
                       fine_style=None if style_fine is None else _as_tensor(style_fine, None))
    return tensor_to_pil(engine(photo, callback=callback, masks=masks).image)


def _model_paintings(style) -> list:
    """A universal network's paintings as engines.open_model takes them: files as paths, pictures as arrays."""
    paintings = [] if style is None else style if isinstance(style, list) else [style]
    return [p if isinstance(p, (str, Path)) else _as_tensor(p, None).numpy() for p in paintings]


def _model_regions(regions: dict | None):
    """``regions`` as engines.open_model takes them (the CLI's PaintedRegions' shape): each painted by one of
    the model's paintings by name, a painting file (a universal network), or the photo."""
    if not regions:
        return None
    painted = []
    for i, painting in enumerate(regions.values()):
        if painting != PHOTO and not isinstance(painting, (str, Path)):
            raise UsageError("regions= with model=: give each region's painting as a name or a file, or 'photo'")
        paintings = [] if painting == PHOTO else [(str(painting), 1.0)]
        painted.append(SimpleNamespace(label=f"region {i + 1}", paintings=paintings, painting_mask=None,
                                       is_photo=not paintings))
    return SimpleNamespace(regions=painted)


def _masks(regions: dict, size) -> torch.Tensor:
    """The masks of ``regions`` (paths, PIL images, tensors or arrays, white inside) as R x H x W at ``size``."""
    from .media.masks import read_mask

    masks = []
    for mask in regions:
        if isinstance(mask, (str, Path)):
            mask = torch.from_numpy(read_mask(mask))
        elif isinstance(mask, Image.Image):
            mask = torch.from_numpy(np.asarray(mask.convert("L"), np.float32) / 255.0)
        mask = torch.as_tensor(mask).float()
        mask = mask.reshape(-1, *mask.shape[-2:])[0]  # H x W, or the first of 1 x H x W and 1 x 1 x H x W
        masks.append(resized_masks(mask[None], tuple(size))[0, 0])
    return torch.stack(masks)


def stylize_video(clip: str | Path, output: str | Path, style: ImageLike | list[ImageLike] | None = None, *,
                  model: str | Path | None = None, size: int | None = None, max_frames: int | None = None,
                  style_blend: list[float] | str | None = None, preserve_colors: bool = False, device: str = "auto",
                  audio: bool = True, codec: str = "h264", crf: int | None = None, temporal_blend: float = 0.0,
                  first_iterations: int | None = None, **options) -> Path:
    """Paint ``clip`` (a video file or a folder of frames) and write ``output``, an mp4 with the clip's sound
    (``audio=False`` leaves it out): with a trained network (``model=...``, ``temporal_blend`` to steady it;
    a universal network with ``style`` too), or by optimisation against ``style``, each frame started from
    the last along the optical flow (``options`` are ``Options`` fields, e.g. ``iterations`` for the frames after the first). ``size``:
    the frames' long side (a network's default is the clip's own, up to ``engines.MODEL_MAX_SIZE``). Returns ``output``."""
    import tempfile

    from .batch.video_work import assemble, paint_video
    from .batch.video_optimisation import VideoSettings
    from .batch.video_optimisation import stylize_video as paint_by_optimisation
    from .engines import MODEL_MAX_SIZE, device_defaults
    from .errors import NstError
    from .media.encode import DEFAULT_CRF
    from .media.frames import open_frames

    from .files import overlap

    check_engine_choice(style, model, names=API_NAMES)
    relation = overlap(output, clip) if Path(clip).exists() else None
    if relation:
        raise UsageError(f"output {output}: {relation} the input {clip}; writing there could replace it")
    source = open_frames(clip, max_frames)
    with tempfile.TemporaryDirectory(prefix="nstbatch-video-") as work:
        if model is not None:
            blend = ",".join(map(str, style_blend)) if isinstance(style_blend, (list, tuple)) else style_blend
            engine, _ = open_model(model, blend, preserve_colors, device, paintings=_model_paintings(style))
            size = size or min(max(source.width, source.height), MODEL_MAX_SIZE)
            run = paint_video(source, engine, size, Path(work), temporal_blend=temporal_blend)
        else:
            defaults = device_defaults(device)
            settings = Options(**{"iterations": defaults["video_iterations"], **options})
            size = size or defaults["size"]
            styles = style if isinstance(style, list) else [style]
            engine = optimiser([_as_tensor(s, None) for s in styles], settings, weights_given(style_blend), 1.0,
                               preserve_colors, device)
            video = VideoSettings(size=size, first_iterations=first_iterations or defaults["iterations"],
                                  iterations=settings.iterations)
            run = paint_by_optimisation(source, engine, video, Path(work))
        if run.failure:
            raise NstError(run.failure)
        sound_from = Path(clip) if audio and Path(clip).is_file() else None
        assemble(run.folder, run.frames, Path(output), source.fps, sound_from, codec,
                 DEFAULT_CRF if crf is None else crf, source.frame_times(run.frames), source.colour)
    return Path(output)

