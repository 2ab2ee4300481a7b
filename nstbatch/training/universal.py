"""Training a universal network (network/universal.py): an encoder distilled from VGG-19's relu3_1 and a
decoder that rebuilds photos from its features. No painting is needed; paintings given only appear in
the previews.

Each step crops photos (photos.crops: a function of the seed and the step, so a resumed run draws what an
uninterrupted one would) and minimises, each term divided by its target's mean square so the weights read
as shares:

- distillation: the encoder's features, projected by a 1 x 1 convolution, against VGG-19's relu3_1;
- rebuilding: the decoder's picture of the encoder's features against the photo, in pixels (L1) and in
  VGG-19's relu1_1, relu2_1 and relu3_1 (the look of the rebuilt photo, not only its colours).

The model folder gets ``checkpoint.safetensors`` (weights and Adam's state), ``model.safetensors``
(weights), ``previews/stepNNNNNN.png`` and ``log.jsonl``, each written atomically, every ``save_every`` steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import UsageError
from ..media.images import save_image
from ..network import feature_transforms
from ..network.universal import UniversalCoder
from ..network.universal_checkpoint import UniversalInfo, load_universal, save_universal
from ..network.universal_shape import DISTILLED_LAYER, UniversalShape, fit_side
from ..records import differing, file_sha256
from ..runtime.gram import gram_torch
from ..runtime.transfer import resolve_device
from ..runtime.vgg import load_vgg19
from .loop import CHECKPOINT, LOG, MODEL, PREVIEW_SIZE, append_log, trim_log
from .photos import PhotoSet, crops, preview_photo

LOOK_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


@dataclass
class UniversalSettings:
    """Everything that decides the weights; a resumed run must match all but ``steps`` and ``save_every``."""

    steps: int = 3000
    crop_size: int = 128
    batch_size: int = 4
    learning_rate: float = 1e-3
    width: int = 16
    distil_weight: float = 1.0
    pixel_weight: float = 1.0
    look_weight: float = 1.0
    # The painting stage (0: off): the encoder held, the decoder trained to paint, its picture's VGG-19 Grams
    # against the painting's (Huang and Belongie's training of a decoder, with the network's own transform).
    style_weight: float = 0.0
    seed: int = 0
    save_every: int = 100

    UNCHECKED = ("steps", "save_every")
    OFF = {"style_weight": 0.0}  # left out of the record when off, so runs from before it resume

    def check(self) -> None:
        for name in ("steps", "batch_size", "save_every", "width"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.crop_size < 16 or self.crop_size % 4:
            raise UsageError(f"--crop-size must be a multiple of 4 of at least 16, not {self.crop_size}")
        for name in ("learning_rate", "distil_weight", "pixel_weight", "look_weight", "style_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (name == "learning_rate" and value == 0):
                raise UsageError(f"--{name.replace('_', '-')} must be a finite number above 0, not {value}")

    def record(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in self.UNCHECKED and self.OFF.get(k, None) != v}


def _mean_square(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(a, b) / b.pow(2).mean().clamp_min(1e-8)


class UniversalTrainer:
    """One training run into ``model_dir``: fresh, or resumed from its checkpoint."""

    def __init__(self, photos: PhotoSet, settings: UniversalSettings, model_dir: Path, device: str = "auto",
                 weights=None, paintings: list | None = None, styles: PhotoSet | None = None, start: Path | None = None):
        """``paintings``: 1 x 3 x H x W tensors the previews paint with; ``styles``: the pictures the painting
        stage learns from (None: the photos, each step pairing crops of other photos); ``start``: a universal
        network whose weights a fresh run begins from."""
        settings.check()
        self.photos, self.settings, self.model_dir = photos, settings, Path(model_dir)
        # Without paintings, the previews paint with two of the photos.
        self.paintings = list(paintings or [painting_for_preview(p.float()[None] / 255) for p in photos.photos[1:3]])
        self.styles = styles if styles is not None else photos
        self.device = resolve_device(device)
        record = {**settings.record(), "photos": photos.fingerprint(), "weights": str(weights) if weights else "caffe"}
        if settings.style_weight and styles is not None:
            record["styles"] = styles.fingerprint()
        if start is not None:
            record["start"] = file_sha256(start)
        checkpoint = self.model_dir / CHECKPOINT
        if checkpoint.exists():
            self.model, self.info, state = load_universal(checkpoint, self.device)
            if state is None:
                raise UsageError(f"{checkpoint}: holds no optimiser state, so it cannot resume; use another --output")
            differ = [f"{k}: {self.info.settings.get(k)!r} before, {record.get(k)!r} now"
                      for k in differing(self.info.settings, record)]
            if differ:
                raise UsageError(f"{checkpoint} was trained with other settings ({'; '.join(differ)}); run with the "
                                 f"same settings to resume, or give another --output")
        else:
            state = None
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(settings.seed)
                self.model = UniversalCoder(UniversalShape(settings.width)).to(self.device)
            if start is not None:
                begun, _, _ = load_universal(start, self.device)
                if begun.shape != self.model.shape:
                    raise UsageError(f"{start} is a network of width {begun.shape.width}; give --channels "
                                     f"{begun.shape.width} to go on from it")
                self.model.load_state_dict(begun.state_dict())
            self.info = UniversalInfo(self.model.shape, record)
        self.resumed_from = self.info.step
        # The painting stage trains the decoder alone: the encoder's features are what a painting's
        # statistics were taken in.
        trained = self.model.decoder if settings.style_weight else self.model
        self.model.requires_grad_(False)
        trained.requires_grad_(True)
        self.optimizer = torch.optim.Adam(trained.parameters(), lr=settings.learning_rate)
        if state is not None:
            self.optimizer.load_state_dict(state)
        self.model.train()
        self.vgg = load_vgg19(weights, "max", self.device).requires_grad_(False)

    def step_losses(self, step: int) -> dict[str, torch.Tensor]:
        if self.settings.style_weight:
            return self.painting_losses(step)
        s = self.settings
        batch = crops(self.photos, s.seed, step, s.batch_size, s.crop_size).to(self.device)
        with torch.no_grad():
            wanted = self.vgg(batch, LOOK_LAYERS)
        features = self.model.encoder(batch)
        rebuilt = self.model.decoder(features)
        seen = self.vgg(rebuilt, LOOK_LAYERS)
        look = sum(_mean_square(seen[name], wanted[name]) for name in LOOK_LAYERS) / len(LOOK_LAYERS)
        target = wanted[DISTILLED_LAYER]  # at unit scale: relu3_1 runs to hundreds, which Adam's steps would take long to reach
        target = target / target.pow(2).mean().sqrt().clamp_min(1e-8)
        return {"distil": s.distil_weight * _mean_square(self.model.projection(features), target),
                "pixel": s.pixel_weight * (rebuilt - batch).abs().mean(),
                "look": s.look_weight * look}

    def painting_losses(self, step: int) -> dict[str, torch.Tensor]:
        """The painting stage: each crop given another picture's statistics and decoded; the picture's Grams
        against that picture's (style), its features against the ones it was decoded from (content), and the
        crop rebuilt as before (what ``--strength 0`` asks of the decoder)."""
        s = self.settings
        batch = crops(self.photos, s.seed, step, s.batch_size, s.crop_size).to(self.device)
        paintings = crops(self.styles, s.seed + 1, step, s.batch_size, s.crop_size).to(self.device)
        with torch.no_grad():
            features = self.model.encoder(batch)
            moved = torch.stack([torch.from_numpy(feature_transforms.stylised(
                own.cpu().numpy(), "wct", feature_transforms.statistics(other.cpu().numpy(), "wct")))
                for own, other in zip(features, self.model.encoder(paintings))]).to(self.device)
            wanted = {name: gram_torch(a) for name, a in self.vgg(paintings, STYLE_LAYERS).items()}
            photo_look = self.vgg(batch, LOOK_LAYERS)
        picture = self.model.decoder(moved)
        seen = self.vgg(picture, STYLE_LAYERS)
        style = sum(_mean_square(gram_torch(seen[name]), wanted[name]) for name in STYLE_LAYERS) / len(STYLE_LAYERS)
        rebuilt = self.model.decoder(features)
        seen_rebuilt = self.vgg(rebuilt, LOOK_LAYERS)
        look = sum(_mean_square(seen_rebuilt[name], photo_look[name]) for name in LOOK_LAYERS) / len(LOOK_LAYERS)
        return {"style": s.style_weight * style, "content": _mean_square(self.model.encoder(picture), moved),
                "pixel": s.pixel_weight * (rebuilt - batch).abs().mean(), "look": s.look_weight * look}

    def run(self, callback: Callable[[int, dict], None] | None = None) -> float | None:
        """Train to ``settings.steps``; the seconds a step took, on average (None: no step was left)."""
        s = self.settings
        self.model_dir.mkdir(parents=True, exist_ok=True)
        trim_log(self.model_dir / LOG, self.info.step)
        times = []
        try:
            for step in range(self.info.step, s.steps):
                started = time.perf_counter()
                self.optimizer.zero_grad(set_to_none=True)
                parts = self.step_losses(step)
                total = sum(parts.values())
                total.backward()
                self.optimizer.step()
                losses = {k: float(v.detach()) for k, v in parts.items()}
                losses["total"] = float(total.detach())
                if not math.isfinite(losses["total"]):
                    raise FloatingPointError(f"the training loss became {losses['total']} at step {step + 1}; "
                                             f"lower --learning-rate")
                self.info.step = step + 1
                times.append(time.perf_counter() - started)
                append_log(self.model_dir / LOG, {"step": step + 1, "seconds": round(times[-1], 4), **{k: round(v, 6) for k, v in losses.items()}})
                if callback is not None:
                    callback(step + 1, losses)
                if (step + 1) % s.save_every == 0 and step + 1 < s.steps:
                    self.save()
        except KeyboardInterrupt:
            if self.info.step > self.resumed_from:
                self.save()
            raise
        if self.info.step > self.resumed_from or not (self.model_dir / MODEL).exists():
            self.save()
        return sum(times) / len(times) if times else None

    def save(self) -> Path:
        """Checkpoint, weights and a preview, each written atomically."""
        self.model.eval()
        save_universal(self.model_dir / CHECKPOINT, self.model, self.info, self.optimizer)
        save_universal(self.model_dir / MODEL, self.model, self.info)
        preview = self.preview(self.model_dir / "previews" / f"step{self.info.step:06d}.png")
        self.model.train()
        return preview

    def preview(self, path: Path) -> Path:
        """The fixed photo, its rebuilding, then the photo with each painting's statistics (whitening and
        colouring), side by side."""
        photo = preview_photo(self.photos, PREVIEW_SIZE)
        h, w = (fit_side(side) for side in photo.shape[-2:])
        photo = photo[..., :h, :w].to(self.device)
        with torch.no_grad():
            features = self.model.encoder(photo)
            row = [photo, self.model.decoder(features)]
            for painting in self.paintings[:3]:
                stats = feature_transforms.statistics(self.model.encoder(painting.to(self.device)).cpu().numpy(), "wct")
                moved = feature_transforms.stylised(features.cpu().numpy(), "wct", stats)
                row.append(self.model.decoder(torch.from_numpy(moved)[None].to(self.device)))
        gap = photo.new_ones(1, 3, h, 4)
        pictures = []
        for picture in row:
            pictures += [picture.clamp(0, 1), gap]
        return save_image(torch.cat(pictures[:-1], dim=3).cpu(), path)



def painting_for_preview(image: torch.Tensor, long_side: int = PREVIEW_SIZE) -> torch.Tensor:
    """A painting at the preview's size, its sides fitted to the network."""
    h, w = image.shape[-2:]
    scale = long_side / max(h, w)
    size = [fit_side(max(8, round(h * scale))), fit_side(max(8, round(w * scale)))]
    return F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)

