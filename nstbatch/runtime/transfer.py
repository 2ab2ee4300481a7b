"""A style-transfer engine for one set of paintings: the network, the style targets, the options.

It computes each painting's Gram targets once per working size, so a folder of photos pays for
them once, and turns a content tensor into a stylised one through ``stylize.optimize``.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import torch
import torch.nn.functional as F

from ..errors import UsageError
from .color import COLOR_MODES, keep_colors as colors_kept, match_colors
from .defaults import DEVICE_NAMES
from .gram import backend_in_use
from .free_memory import free_bytes, gib
from .memory import Fit, Needs, activation_bytes_per_pixel, fit
from .mixing import REGIONS_ONE_AT_A_TIME, check_weights
from .regions import RegionStyle, guided_gram, layer_guides, layout
from .objective import RegionTargets, Targets
from .scales import content_boost, scale_schedule
from .stylize import (PRECISIONS, Options, Result, Step, content_targets, initial_image, losses_of, optimize,
                      style_targets)
from .vgg import LAYER_INDEX, channels, load_vgg19, min_side, stride

log = logging.getLogger("nstbatch")

# The style layers that carry the fine texture, which --style-fine paints: those at most this many pixels
# apart (relu1_1 and relu2_1 of the default layers). Deeper layers see the larger forms and the colours.
FINE_STRIDE = 2



def resolve_device(device: str) -> torch.device:
    """'auto' is CUDA when a GPU is usable, else the CPU; asking for CUDA without one is a usage error."""
    if device not in DEVICE_NAMES and not device.startswith("cuda:"):
        raise UsageError(f"device must be one of {', '.join(DEVICE_NAMES)} (or cuda:N), not '{device}'")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but torch sees no CUDA GPU here; use --device cpu")
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # one image size per batch: autotuning pays after a step
    return torch.device(device)


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    h, w = image.shape[-2:]
    scale = long_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size == (h, w):
        return image
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


class StyleTransfer:
    def __init__(
        self,
        styles: list[torch.Tensor] | None,
        options: Options | None = None,
        blend: list[float] | None = None,
        style_scale: float = 1.0,
        keep_colors: str | bool | None = None,
        device: str = "auto",
        weights=None,
        target_features=None,
        block_size: int | None = None,
        max_memory: int | None = None,
        regions: list[RegionStyle] | None = None,
        fine_style: torch.Tensor | None = None,
    ):
        """``block_size`` evaluates every picture in blocks of that many pixels (blocks.py); otherwise
        the memory guard (memory.py) chooses, within what is free or ``max_memory`` bytes if less.

        ``keep_colors``: "luminance" or "histogram" (color.py; True is "luminance"), None for the
        painting's colours. ``regions`` (regions.py): what paints each region; a picture's masks, one per
        region, come with it (``__call__``'s ``masks``), and what no mask covers is painted by ``styles``, or
        is the photo when there are none. ``fine_style``: a painting whose Grams replace those of ``styles``
        at the fine layers (``FINE_STRIDE``): one painting's large forms with another's brushwork (Gatys et
        al. 2017, "scale")."""
        self.options = options or Options()
        self.options.check()
        self.styles = styles or []
        self.blend = list(blend or [1.0] * len(self.styles))
        if self.styles:
            check_weights(self.blend, len(self.styles))
        elif self.blend:
            raise UsageError("--style-blend: there are no --style paintings to blend")
        if style_scale <= 0:
            raise UsageError(f"style scale must be > 0, not {style_scale}")
        self.style_scale = style_scale
        self.keep_colors = "luminance" if keep_colors is True else keep_colors or None
        if self.keep_colors is not None and self.keep_colors not in COLOR_MODES:
            raise UsageError(f"the colours are kept by {' or '.join(COLOR_MODES)}, not '{keep_colors}'")
        self.regions = list(regions or [])
        self.fine_style = fine_style
        if fine_style is not None and not self.styles:
            raise UsageError("--style-fine gives the fine texture of the --style paintings: give --style too")
        self._rest = RegionStyle("rest", self.styles, self.blend) if self.styles else None
        self._recoloured_for = None  # with keep_colors "histogram": the photo the paintings are recoloured to
        if block_size is not None and block_size < 16:
            raise UsageError(f"--block-size must be at least 16 pixels, not {block_size}")
        if max_memory is not None and max_memory <= 0:
            raise UsageError(f"--max-memory must be > 0, not {max_memory}")
        self.block_size, self.max_memory = block_size, max_memory
        self._said: set = set()  # the memory guard's choices already reported
        self.device = resolve_device(device)
        self.vgg = load_vgg19(weights, self.options.pooling, self.device)
        # Targets are forward-only: any feature function (an onnxruntime FeatureSession) can compute them;
        # the loop's gradients stay in torch.
        self.target_features = target_features or self.vgg
        targets = "torch" if target_features is None else "onnxruntime"
        self._style_cache: dict[int, dict[str, torch.Tensor]] = {}
        log.info("device %s, gram backend %s, targets by %s, weights %s", self.device, backend_in_use(self.device),
                 targets, self.vgg.weights_source)

    @property
    def item_steps(self) -> int:
        return self.options.iterations

    @property
    def min_side(self) -> tuple[int, str]:
        """The shortest side a picture can have here, and what sets it."""
        layers = self.options.content_layers + self.options.style_layers
        deepest = max(layers, key=LAYER_INDEX.__getitem__)
        return min_side(layers), f"VGG-19 needs for {deepest}"

    def style_targets(self, content_long_side: int, block: int | None = None) -> dict[str, torch.Tensor]:
        """Blended Gram targets with each painting's long side at ``style_scale`` x the content's;
        ``block``: gathered block by block, as a picture too large for memory is (in torch)."""
        long_side = self._style_side(content_long_side)
        if long_side not in self._style_cache:
            resized = self._resized(self.styles, long_side)
            features = self.vgg if block else self.target_features
            targets = style_targets(features, resized, self.blend, self.options.style_layers, block)
            if self.fine_style is not None:
                fine = [name for name in self.options.style_layers if stride(name) <= FINE_STRIDE]
                painting = self._resized([self.fine_style], long_side)
                targets.update(style_targets(features, painting, [1.0], fine, block) if fine else {})
            self._style_cache[long_side] = targets
        return self._style_cache[long_side]

    def _style_side(self, content_long_side: int) -> int:
        """The paintings' long side for a picture of ``content_long_side``: ``style_scale`` times it."""
        return max(16, round(content_long_side * self.style_scale))

    def _resized(self, paintings: list[torch.Tensor], long_side: int) -> list[torch.Tensor]:
        """The paintings as their targets are taken: at ``long_side`` on the device, recoloured to the photo
        being painted under --match-colors."""
        if self._recoloured_for is not None:
            paintings = [match_colors(painting, self._recoloured_for) for painting in paintings]
        return [resize_long_side(painting, long_side).to(self.device) for painting in paintings]

    def region_targets(self, index: int, content_long_side: int, block: int | None = None) -> dict[str, torch.Tensor]:
        """The Gram targets of region ``index`` (``len(regions)``: the rest, painted by ``styles``): its
        paintings blended, or with a painting mask, that part of the painting's guided Gram."""
        region = self.regions[index] if index < len(self.regions) else self._rest
        if region is self._rest:
            return self.style_targets(content_long_side, block)
        long_side = self._style_side(content_long_side)
        key = (index, long_side)
        if key not in self._style_cache:
            resized = self._resized(region.paintings, long_side)
            layers = self.options.style_layers
            if region.painting_mask is None:
                features = self.vgg if block else self.target_features
                self._style_cache[key] = style_targets(features, resized, region.blend, layers, block)
            else:
                self._style_cache[key] = self._guided_targets(resized, region, layers)
        return self._style_cache[key]

    def _guided_targets(self, paintings, region: RegionStyle, layers) -> dict[str, torch.Tensor]:
        """Blended guided Grams of the part of each painting that ``region.painting_mask`` marks."""
        total, targets = sum(region.blend), {}
        with torch.no_grad():
            for painting, weight in zip(paintings, region.blend):
                mask = torch.nn.functional.interpolate(region.painting_mask.float(), size=painting.shape[-2:],
                                                       mode="bilinear", align_corners=False).clamp(0, 1)
                guides = layer_guides(mask.to(self.device), layers)
                for name, act in self.vgg(painting, layers).items():
                    g = guided_gram(act.float(), guides[name])[0] * (weight / total)
                    targets[name] = targets[name] + g if name in targets else g
        return targets

    def __call__(self, content: torch.Tensor, init: torch.Tensor | str | None = None, callback=None,
                 iterations: int | None = None, previous: tuple[torch.Tensor, torch.Tensor] | None = None,
                 masks=None) -> Result:
        """Stylise ``content`` (1 x 3 x H x W in [0, 1]; a tensor, or a numpy array as batches read it) at
        its own size.

        ``iterations`` overrides the options' budget for this picture; ``previous`` is the temporal
        term's (warped frame, mask) for a video frame (see ``stylize.optimize``); ``masks`` (R x H x W in
        [0, 1], any size, one per region of the engine) say where each region is.
        """
        content = torch.as_tensor(content)
        if masks is not None:
            masks = torch.as_tensor(masks)
            if masks.shape[0] != len(self.regions):
                raise UsageError(f"{masks.shape[0]} masks for {len(self.regions)} regions")
        elif self.regions:
            raise UsageError("this engine paints by region: give each picture its masks")
        if self.keep_colors == "histogram":  # the paintings' colours are this photo's: their targets are its own
            self._recoloured_for = content.cpu()
            self._style_cache.clear()
        try:
            result = self._optimize(content, init, callback, iterations, previous, masks)
        finally:
            if self._recoloured_for is not None:
                self._recoloured_for = None
                self._style_cache.clear()
        if self.keep_colors == "luminance":
            result.image = colors_kept(self.keep_colors, result.image, content.cpu())
        return result

    def stylize_batch(self, contents: torch.Tensor, init: torch.Tensor | str | None = None, callback=None) -> list[Result]:
        """Several photos of one size (B x 3 x H x W) optimised together: one forward and backward a step
        for all of them, which fills a GPU that one small photo leaves idle.

        Each image's terms are normalised by its own targets, so it counts as it would alone; L-BFGS
        then steps over all pixels at once. Returns one Result per photo, with that photo's own losses.
        """
        contents = torch.as_tensor(contents)
        refusal = self.batch_refusal()
        if refusal:
            raise UsageError(f"--batch-size: {refusal}; leave it out")
        joint = self._optimize(contents, init, callback)
        opts = self.options
        style = self.style_targets(max(contents.shape[-2:])) if self.styles and opts.style_weight > 0 else None
        results = []
        for i in range(contents.shape[0]):
            photo = contents[i:i + 1].to(self.device)
            targets = content_targets(self.target_features, photo, opts.content_layers) if opts.content_weight > 0 else None
            image = joint.image[i:i + 1]
            losses = losses_of(self.vgg, image, opts, Targets(targets, style))  # of the picture optimised, as for one photo
            image = colors_kept(self.keep_colors, image, photo.cpu())
            results.append(Result(image, losses, joint.iterations, joint.seconds / contents.shape[0], joint.history))
        return results

    def batch_refusal(self) -> str | None:
        """Why this engine cannot optimise several photos together (``stylize_batch``), or None."""
        if self.regions:
            return REGIONS_ONE_AT_A_TIME
        if self.keep_colors == "histogram":
            return "--match-colors recolours the paintings for each photo"
        return None

    def _optimize(self, content, init, callback, iterations=None, previous=None, masks=None) -> Result:
        opts = self.options if iterations is None else dataclasses.replace(self.options, iterations=iterations)
        first = opts.first_scale
        if first is not None:  # no scale so small that the deepest layer would have nothing left
            first = max(first, math.ceil(self.min_side[0] * max(content.shape[-2:]) / min(content.shape[-2:])))
        schedule = scale_schedule(max(content.shape[-2:]), first, opts.iterations)
        if len(schedule) > 1 and previous is None:  # a video frame after the first starts from its neighbour instead
            return self._coarse_to_fine(content, init, callback, opts, schedule, masks)
        return self._at_one_scale(content, init, callback, opts, previous, masks)

    def _coarse_to_fine(self, content, init, callback, opts, schedule, masks=None) -> Result:
        """Each scale from the previous result upsampled with the photo's detail band, with its own
        targets and the photo weighed ``content_boost`` times as much (scales.py); the steps the callback
        sees count on across scales, out of the whole budget."""
        done, seconds, history, result, previous_photo = 0, 0.0, [], None, None
        boost = content_boost(opts.content_weight, opts.style_weight)
        opts = dataclasses.replace(opts, content_weight=opts.content_weight * boost)
        # The detail band stands in for what a start from the photo at this scale would hold: only for
        # pictures started from the photo (not from noise: a reconstruction or a texture must not be handed it).
        start_from = opts.init if init is None else init
        from_photo = isinstance(start_from, str) and start_from == "content"
        for number, (long_side, iterations) in enumerate(schedule, start=1):
            photo = resize_long_side(content, long_side)
            if result is None:
                start = resize_long_side(init, long_side) if isinstance(init, torch.Tensor) else init
            else:
                start = upsampled(result.image, photo, previous_photo if from_photo else None)
            previous_photo = photo

            def counted(step: Step, done=done, label=f"scale {number}/{len(schedule)}, {long_side} px") -> None:
                if callback is not None:
                    label = f"{label}, {step.scale}" if step.scale else label
                    callback(dataclasses.replace(step, iteration=done + step.iteration, total=opts.iterations, scale=label))

            result = self._at_one_scale(photo, start, counted, dataclasses.replace(opts, iterations=iterations),
                                        masks=masks)
            done, seconds, history = done + result.iterations, seconds + result.seconds, history + result.history
        # Reported at the content weight asked for (the content term is linear in it), as one scale reports.
        losses = {**result.losses, "content": result.losses["content"] / boost}
        losses["total"] = result.losses["total"] - result.losses["content"] + losses["content"]
        return Result(result.image, losses, done, seconds, history)

    def _at_one_scale(self, content, init, callback, opts, previous=None, masks=None) -> Result:
        content = content.to(self.device)
        how = self.fit(tuple(content.shape), opts, temporal=previous is not None)
        # Targets of a picture optimised in blocks are gathered in blocks too, with torch's VGG.
        features = self.vgg if how.block else self.target_features
        photo = content_targets(features, content, opts.content_layers, how.block) if opts.content_weight > 0 else None
        if masks is not None:
            targets = self._regional(content, masks, opts, how.block, Targets(photo, previous=previous))
        else:
            style = self.style_targets(max(content.shape[-2:]), how.block) if self.styles and opts.style_weight > 0 else None
            targets = Targets(photo, style, previous)
        style_image = self.styles[0] if self.styles else None
        start = initial_image(init if init is not None else opts.init, content, style_image, tuple(content.shape), opts.seed)
        if how.label() and callback is not None:  # say on the bar that memory changed the way
            callback = _labelled(callback, how.label())
        return optimize(self.vgg, start, opts, targets, callback=callback, fit=how)

    def _regional(self, content, masks, opts, block, targets: Targets) -> Targets:
        """``targets`` with a picture's regions: each painted region's guided Grams, and the photo hold."""
        where = layout(masks, self.regions, self._rest, tuple(content.shape[-2:]))
        regions = []
        if opts.style_weight > 0:
            for index, mask in where.painted:
                region = self.regions[index] if index < len(self.regions) else self._rest
                guides = layer_guides(mask.to(self.device), opts.style_layers)
                grams = self.region_targets(index, max(content.shape[-2:]), block)
                regions.append(RegionTargets(region.name, grams, guides))
        held = None if where.held is None else (content, where.held.to(self.device))
        return dataclasses.replace(targets, regions=tuple(regions), held=held)

    def needs(self, opts: Options | None = None, temporal: bool = False) -> Needs:
        """What decides a picture's peak memory with these options (memory.py)."""
        opts = opts or self.options
        layers = tuple(dict.fromkeys([*opts.content_layers, *opts.style_layers]))
        content_layers = opts.content_layers if opts.content_weight > 0 else ()
        return Needs(layers, {name: channels(name) for name in content_layers},
                     activation_bytes_per_pixel(self.vgg, layers, PRECISIONS[opts.precision]), opts.optimizer, temporal)

    def fit(self, shape: tuple, opts: Options | None = None, temporal: bool = False) -> Fit:
        """How a B x 3 x H x W picture is optimised in the memory there is (raises memory.TooLarge)."""
        opts = opts or self.options
        free = free_bytes(self.device)
        how = fit(shape, self.needs(opts, temporal), min(free, self.max_memory) if self.max_memory else free,
                  self.block_size)
        if how.label() and (shape, how.label()) not in self._said:  # once a size, not for every frame of a video
            self._said.add((shape, how.label()))
            why = "as --block-size asks" if self.block_size else "to fit in memory"
            log.warning("%dx%d is painted in %s %s (about %s of the %s usable)", shape[-1], shape[-2], how.label(),
                        why, gib(how.needed), gib(how.free))
        return how


def upsampled(image: torch.Tensor, photo: torch.Tensor, photo_before: torch.Tensor | None = None) -> torch.Tensor:
    """``image`` upsampled to ``photo``'s size; with ``photo_before`` (the photo at ``image``'s size), plus
    the photo's detail that the smaller scale could not hold (scales.py)."""
    def up(picture):
        return F.interpolate(picture, size=photo.shape[-2:], mode="bicubic", align_corners=False)

    grown = up(image.to(photo.device))
    return (grown if photo_before is None else grown + photo - up(photo_before)).clamp(0, 1)


def _labelled(callback, label: str):
    def labelled(step: Step) -> None:
        callback(dataclasses.replace(step, scale=f"{step.scale}, {label}" if step.scale else label))
    return labelled


# ``memory``: StyleTransfer's block_size and max_memory.
def reconstruct(content: torch.Tensor, layer: str, options: Options, device="auto", weights=None,
                callback=None, **memory) -> Result:
    """Content reconstruction: from noise, match ``content``'s activations at one layer."""
    opts = Options(**{**options.__dict__, "content_layers": (layer,), "style_weight": 0.0, "init": "noise"})
    return StyleTransfer(None, opts, device=device, weights=weights, **memory)(content, callback=callback)


def synthesize_texture(style: torch.Tensor, options: Options, device="auto", weights=None, callback=None,
                       **memory) -> Result:
    """Texture synthesis: from noise, match the painting's Gram matrices only, at the painting's size."""
    opts = Options(**{**options.__dict__, "content_weight": 0.0, "init": "noise"})
    engine = StyleTransfer([style], opts, device=device, weights=weights, **memory)
    return engine(style, callback=callback)
