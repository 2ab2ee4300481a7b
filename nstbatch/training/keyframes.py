"""A network for one clip, trained in a minute or two on a few of its frames painted by optimisation
(after Texler et al., "Interactive video stylization using few-shot patch-based training", 2020).

The network learns the clip's own mapping, frame to painted frame, from random crops of the keyframes
and their paintings. Each crop pair is moved alike by a small random motion (``motion.py``) and the
photo's crop gets a little noise, so what it learns does not hang on where a stroke sat to the pixel:
the other frames of the clip, which show the same things moved, are painted alike. The loss is the
mean absolute difference to the painting, a perceptual term (VGG-19 features at a few shallow layers,
each relative to the painting's own) and a style term (the Gram matrices at nstbatch's style layers
against the painted crop's), all where the moved crop saw inside the crop.

Every step's crops and motion are a function of (seed, step), and the checkpoint keeps Adam's state,
so a run resumed from its folder ends with the same weights as one that was never interrupted.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from ..errors import UsageError
from ..network.checkpoint import CheckpointInfo, load_checkpoint, save_checkpoint
from ..runtime.gram import gram_torch
from ..runtime.stylize import DEFAULT_STYLE_LAYERS
from ..network.architecture import Architecture, build
from ..network.stylizer import Stylizer
from ..runtime.vgg import load_vgg19
from .motion import Motion, inside, move, noisy, random_motion
from .photos import step_generator

CHECKPOINT = "checkpoint.safetensors"
MODEL = "model.safetensors"
PERCEPTUAL_LAYERS = ("relu1_1", "relu2_1", "relu3_1")  # shallow: the strokes and colours, not the objects
STYLE_NAME = "keyframes"


@dataclass
class KeyframeSettings:
    """What decides the clip's network; recorded in its checkpoint and compared on resume."""

    # Chosen by scratch runs on cockatoo.mp4 frames 0-7 at 256x144, one keyframe (2026-11-23, 2 CPU
    # cores): crops as large as the frame learnt as well as 96 px crops x 8 in 0.6x the time, and the
    # Gram term took the style distance over the 8 frames from 0.40 to 0.29 in 300 steps (0.28 in 900
    # without it); the keyframe itself was at 0.044.
    steps: int = 300
    crop_size: int = 256
    batch_size: int = 2
    learning_rate: float = 2e-3
    perceptual_weight: float = 5.0
    style_weight: float = 5.0  # Gram matrices of the output against the painted keyframe's, crop by crop
    channels: int = 16
    residual_blocks: int = 5
    seed: int = 0
    save_every: int = 100

    def check(self) -> None:
        if self.steps < 1:
            raise UsageError(f"--keyframe-steps must be at least 1, not {self.steps}")
        if self.batch_size < 1 or self.save_every < 1 or self.crop_size < 16:
            raise UsageError(f"a keyframe network needs a batch and a save interval of at least 1 and crops of "
                             f"at least 16 px, not {self.batch_size}, {self.save_every} and {self.crop_size}")

    def record(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("steps", "save_every")}


def keyframe_indices(frames: int, keyframes: int) -> list[int]:
    """``keyframes`` frames of ``frames``, each in the middle of an equal share of the clip, so every
    frame is at most half a share from a keyframe."""
    if keyframes < 1:
        raise UsageError(f"--keyframes must be at least 1, not {keyframes}")
    keyframes = min(keyframes, frames)
    return sorted({min(frames - 1, int((k + 0.5) * frames / keyframes)) for k in range(keyframes)})


def crop_pairs(photos: torch.Tensor, paintings: torch.Tensor, seed: int, step: int, batch_size: int,
               crop_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Step ``step``'s crops: the same random square of a random keyframe from ``photos`` and from its
    painting (K x 3 x H x W each), ``crop_size`` a side or the frame's short side if smaller."""
    generator = step_generator(seed, 3, step)
    height, width = photos.shape[-2:]
    side = min(crop_size, height, width)
    which = torch.randint(photos.shape[0], (batch_size,), generator=generator).tolist()
    tops = torch.randint(height - side + 1, (batch_size,), generator=generator).tolist()
    lefts = torch.randint(width - side + 1, (batch_size,), generator=generator).tolist()
    cut = lambda images: torch.stack([images[k, :, top:top + side, left:left + side]  # noqa: E731
                                      for k, top, left in zip(which, tops, lefts)])
    return cut(photos), cut(paintings)


def _fingerprint(*images: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for image in images:
        digest.update((image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _relative(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error in units of the target's mean square, so layers of any scale count alike."""
    return ((value - target) ** 2).mean() / (target**2).mean().clamp_min(1e-8)


class KeyframeTrainer:
    """Trains (or resumes) the clip's network in ``folder`` on ``photos`` and their ``paintings``."""

    def __init__(self, photos: torch.Tensor, paintings: torch.Tensor, settings: KeyframeSettings, folder: Path,
                 device: torch.device, weights=None):
        settings.check()
        if photos.shape != paintings.shape or photos.dim() != 4:
            raise ValueError(f"keyframes and paintings must both be K x 3 x H x W, not {tuple(photos.shape)} "
                             f"and {tuple(paintings.shape)}")
        self.photos, self.paintings = photos.to(device), paintings.to(device)
        self.settings, self.folder, self.device = settings, Path(folder), device
        # A network trained on other keyframes (another painting, --overwrite) is not resumed.
        record = {**settings.record(), "keyframes": _fingerprint(photos, paintings)}
        checkpoint = self.folder / CHECKPOINT
        state = None
        if checkpoint.exists():
            model, info, state = load_checkpoint(checkpoint, device)
            if info.settings != record or state is None:  # another run's network: start again
                state = None
        if state is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(settings.seed)
                model = build(Architecture(settings.channels, settings.residual_blocks, 1))
            info = CheckpointInfo(model.architecture, [{"name": STYLE_NAME, "sha256": ""}], record)
        self.model, self.info = model.to(device).train(), info
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=settings.learning_rate)
        if state is not None:
            self.optimizer.load_state_dict(state)
        self.vgg = load_vgg19(weights, "max", device)

    @property
    def step(self) -> int:
        return self.info.step

    def step_loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        s = self.settings
        photos, paintings = crop_pairs(self.photos, self.paintings, s.seed, step, s.batch_size, s.crop_size)
        generator = step_generator(s.seed, 4, step)
        grid = random_motion(photos.shape[0], photos.shape[-1], generator, Motion()).to(self.device)
        seen = inside(grid)
        moved_photos = noisy(move(photos, grid), generator)
        wanted = move(paintings, grid) * seen
        painted = self.model(moved_photos) * seen
        pixels = (painted - wanted).abs().mean()
        layers = list(dict.fromkeys(PERCEPTUAL_LAYERS + (DEFAULT_STYLE_LAYERS if s.style_weight else ())))
        with torch.no_grad():
            targets = self.vgg(wanted, layers)
        features = self.vgg(painted, layers)
        perceptual = sum(_relative(features[n], targets[n]) for n in PERCEPTUAL_LAYERS) / len(PERCEPTUAL_LAYERS)
        total = pixels + s.perceptual_weight * perceptual
        losses = {"pixels": pixels.item(), "perceptual": perceptual.item()}
        if s.style_weight:
            style = sum(_relative(gram_torch(features[n]), gram_torch(targets[n])) for n in DEFAULT_STYLE_LAYERS)
            total = total + s.style_weight * style / len(DEFAULT_STYLE_LAYERS)
            losses["style"] = style.item() / len(DEFAULT_STYLE_LAYERS)
        return total, {**losses, "total": total.item()}

    def run(self, callback: Callable[[int, dict], None] | None = None) -> Stylizer:
        """Train to ``settings.steps`` (nothing if already there); the network, in eval mode."""
        s = self.settings
        self.folder.mkdir(parents=True, exist_ok=True)
        first = self.info.step
        try:
            while self.info.step < s.steps:
                started = time.perf_counter()
                self.optimizer.zero_grad(set_to_none=True)
                total, losses = self.step_loss(self.info.step)
                total.backward()
                self.optimizer.step()
                self.info.step += 1
                losses["seconds"] = time.perf_counter() - started
                if callback is not None:
                    callback(self.info.step, losses)
                if self.info.step % s.save_every == 0 and self.info.step < s.steps:
                    self.save()
        except KeyboardInterrupt:
            self.save()  # the steps so far are kept; the same command resumes from here
            raise
        if self.info.step > first or not (self.folder / MODEL).exists():
            self.save()
        return self.model.eval()

    def save(self) -> None:
        save_checkpoint(self.folder / CHECKPOINT, self.model, self.info, self.optimizer)
        save_checkpoint(self.folder / MODEL, self.model, self.info)
