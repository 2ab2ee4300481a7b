"""Training a feed-forward styliser with nstbatch's own objective (Johnson et al.; Dumoulin et al.).

Each step paints a batch of random crops with one painting's (γ, β) and minimises exactly what the
optimisation loop minimises for a photo (``objective.loss_terms``' content, style and smoothness: the same VGG-19,
layers, normalised content and style terms, Gram kernel and TV), so the network learns the picture
``nstbatch run`` would make. Steps cycle through the paintings.

The loop reports each step through a callback and writes into the model folder: ``checkpoint.safetensors``
(weights + Adam's state, to resume), ``model.safetensors`` (weights only, to export and ship),
``previews/stepNNNNNN.png`` and ``log.jsonl``, every ``save_every`` steps and at the end, atomically.
With ``ema_decay``, what ships is a moving average of the weights rather than the last step's: Adam's
last steps move a network by more than its paintings should differ from one checkpoint to the next.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..atomic import atomic_path
from ..media.images import save_image
from ..errors import UsageError
from ..records import differing
from ..runtime.losses import values_of
from ..runtime.objective import Targets, loss_terms
from ..runtime.stylize import PRECISIONS, style_targets
from ..network.architecture import Architecture, build
from ..network.stylizer import Stylizer, one_hot
from ..runtime.transfer import resize_long_side, resolve_device
from ..runtime.vgg import load_vgg19
from ..network.checkpoint import CheckpointInfo, load_average, load_checkpoint, read_info, save_checkpoint
from ..records import file_sha256
from .clips import ClipPairs, frame_consistency, pair_crops
from .motion import Motion, consistency, move, noisy, random_motion
from .photos import PhotoSet, crops, preview_photo, step_generator
from .settings import TrainSettings

CHECKPOINT = "checkpoint.safetensors"
MODEL = "model.safetensors"
LOG = "log.jsonl"
PREVIEW_SIZE = 256


@dataclass
class Painting:
    name: str  # the file's stem: what --style-blend calls it
    image: torch.Tensor  # 1 x 3 x H x W in [0, 1]
    sha256: str


@dataclass
class TrainStep:
    step: int  # 1-based
    total: int
    losses: dict[str, float]
    style: str
    seconds: float  # of this step


@dataclass
class TrainResult:
    checkpoint: Path
    model: Path
    step: int
    resumed_from: int
    seconds_per_step: float | None
    previews: list[Path] = field(default_factory=list)


def _start_record(start: Path, paintings: list[Painting]) -> dict:
    """What a run going on from ``start`` records: its hash and architecture; refused (UsageError) unless
    it holds exactly ``paintings``, in their order."""
    info, _ = read_info(start)
    if [s["sha256"] for s in info.styles] != [p.sha256 for p in paintings]:
        raise UsageError(f"{start} holds {', '.join(info.style_names)}: --start-from goes on training the "
                         f"paintings a network holds, so give those (the same files, in that order) as --style, "
                         f"or add new ones with --from")
    return {"start": file_sha256(start), "channels": info.architecture.channels,
            "residual_blocks": info.architecture.residual_blocks}


def _run_from(path: Path, sha256: str, info: CheckpointInfo) -> dict:
    """The history entry of a run that began from the network in ``path``."""
    return {"from": str(path), "sha256": sha256, "step": info.step, "styles": info.style_names}


class Trainer:
    """One training run into ``model_dir``: fresh, resumed from its checkpoint, fine-tuning ``base`` (new
    paintings' (γ, β) only), or going on from ``start`` (the same paintings, every weight, a fresh Adam)."""

    def __init__(self, photos: PhotoSet, paintings: list[Painting], settings: TrainSettings, model_dir: Path,
                 device: str = "auto", base: Path | None = None, weights=None, clips: ClipPairs | None = None,
                 start: Path | None = None):
        settings.check()
        if not paintings:
            raise UsageError("give at least one painting with --style")
        if base is not None and start is not None:
            raise UsageError("--from adds paintings to a network, --start-from goes on training its own: give one")
        if clips is not None and not settings.temporal_weight:
            raise UsageError("--clips trains steadiness on their frames: give a --temporal-weight above 0 too")
        self.photos, self.settings, self.model_dir, self.clips = photos, settings, Path(model_dir), clips
        self.device = resolve_device(device)
        self.options = settings.options()
        record = {**settings.record(), "photos": photos.fingerprint(), "styles": [p.sha256 for p in paintings],
                  "weights": str(weights) if weights else "caffe"}
        if clips is not None:  # only when given, so checkpoints from before --clips still resume
            record["clips"] = clips.fingerprint()
        if base is not None:
            base_info, _ = read_info(base)
            first = len(base_info.styles)
            record.update({"from": file_sha256(base), "channels": base_info.architecture.channels,
                           "residual_blocks": base_info.architecture.residual_blocks})
        else:
            first = 0
        if start is not None:
            record.update(_start_record(start, paintings))
        record["trained_styles"] = list(range(first, first + len(paintings)))
        checkpoint = self.model_dir / CHECKPOINT
        if checkpoint.exists():
            self.model, self.info, optimizer_state = load_checkpoint(checkpoint, self.device)
            average = load_average(checkpoint, self.device) if settings.ema_decay else None
            if optimizer_state is None:
                raise UsageError(f"{checkpoint}: holds no optimiser state, so it cannot resume; use another --output")
            stored = self.info.settings
            differ = [f"{k}: {stored.get(k)!r} before, {record.get(k)!r} now" for k in differing(stored, record)]
            if differ:
                raise UsageError(f"{checkpoint} was trained with other settings ({'; '.join(differ)}); "
                                 f"run with the same settings to resume, or give another --output")
        else:
            optimizer_state = average = None
            self.model, self.info = self._new_model(paintings, record, base, start)
        self.resumed_from = self.info.step
        # Fine-tuning trains only the new paintings' (γ, β); the convolutions stay as they were.
        self.trained_styles = record["trained_styles"]
        trainable = self.model.style_parameters() if base is not None else list(self.model.parameters())
        for p in self.model.parameters():
            p.requires_grad_(False)
        for p in trainable:
            p.requires_grad_(True)
        self.optimizer = torch.optim.Adam(trainable, lr=settings.learning_rate)
        self.average = None
        if settings.ema_decay:  # a fresh run's average starts at its first weights
            self.average = (average or copy.deepcopy(self.model)).requires_grad_(False).eval()
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
        self.model.train()
        self.vgg = load_vgg19(weights, "max", self.device)
        self.style_grams = self._style_grams(paintings)

    @property
    def shipped(self) -> Stylizer:
        """The network ``model.safetensors`` holds: the moving average of the weights, or the weights."""
        return self.average if self.average is not None else self.model

    def start_from(self, network: Stylizer) -> None:
        """Begin a fresh run from ``network``'s weights (its average too)."""
        self.model.load_state_dict(network.state_dict())
        if self.average is not None:
            self.average.load_state_dict(network.state_dict())

    def _update_average(self, step: int) -> None:
        """Fold the weights after step ``step`` (0-based) into their moving average. Early steps use a
        smaller decay (as TensorFlow's ExponentialMovingAverage with num_updates does), so a short run
        is not held near its start."""
        decay = min(self.settings.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for averaged, current in zip(self.average.state_dict().values(), self.model.state_dict().values()):
                if averaged.is_floating_point():
                    averaged.lerp_(current, 1 - decay)
                else:
                    averaged.copy_(current)

    def _new_model(self, paintings: list[Painting], record: dict, base: Path | None, start: Path | None):
        s = self.settings
        if start is not None:
            model, start_info, _ = load_checkpoint(start)
            styles = start_info.styles
            history = start_info.history + [_run_from(start, record["start"], start_info)]
        elif base is None:
            architecture = Architecture(s.channels, s.residual_blocks, len(paintings), s.kind)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(s.seed)
                model = build(architecture)
            styles = [{"name": p.name, "sha256": p.sha256} for p in paintings]
            history = []
        else:
            model, base_info, _ = load_checkpoint(base)
            known = {st["sha256"]: st["name"] for st in base_info.styles}
            repeated = [p.name for p in paintings if p.sha256 in known]
            if repeated:
                raise UsageError(f"{base} already holds {', '.join(repeated)}; --style with --from adds new paintings only")
            for _ in paintings:
                model.add_style()
            styles = base_info.styles + [{"name": p.name, "sha256": p.sha256} for p in paintings]
            history = base_info.history + [_run_from(base, record["from"], base_info)]
        return model.to(self.device), CheckpointInfo(model.architecture, styles, record, 0, history)

    def _style_grams(self, paintings: list[Painting]) -> dict[int, dict[str, torch.Tensor]]:
        """The Gram targets of each painting trained here, at ``style_scale`` x the crop size."""
        long_side = max(16, round(self.settings.crop_size * self.settings.style_scale))
        grams = {}
        for index, painting in zip(self.trained_styles, paintings):
            image = resize_long_side(painting.image, long_side).to(self.device)
            grams[index] = style_targets(self.vgg, [image], [1.0], self.options.style_layers)
        return grams

    def step_losses(self, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor], int]:
        """The objective of step ``step`` (0-based) and its parts, with the painting it trained."""
        s, opts = self.settings, self.options
        batch = crops(self.photos, s.seed, step, s.batch_size, s.crop_size).to(self.device)
        style = self.trained_styles[step % len(self.trained_styles)]
        half = PRECISIONS[s.precision]
        painting = one_hot(style, self.model.styles, batch.shape[0]).to(self.device)
        with torch.autocast(self.device.type, dtype=half or torch.float32, enabled=half is not None):
            painted = self.model(batch, painting)
            layers = list(dict.fromkeys([*opts.content_layers, *opts.style_layers]))
            features = self.vgg(painted, layers)
            with torch.no_grad():
                content = {n: a.float() for n, a in self.vgg(batch, opts.content_layers).items()}
            painted_moved, grid = self._moved_and_painted(batch, painting, step) if s.temporal_weight else (None, None)
            clip_pair = self._painted_clip_pair(step, style) if self.clips is not None else None
        terms = loss_terms(opts, Targets(content, self.style_grams[style]), self.device)
        parts = values_of(terms, features, painted.float())
        if s.temporal_weight:
            parts["temporal"] = s.temporal_weight * consistency(painted, painted_moved, grid, s.temporal_block)
        if clip_pair is not None:
            parts["clips"] = s.temporal_weight * frame_consistency(*clip_pair)
        return sum(parts.values()), parts, style

    def _painted_clip_pair(self, step: int, style: int) -> tuple[torch.Tensor, ...]:
        """The network's pictures of step ``step``'s crops of two consecutive clip frames (clips.py), with
        the flow's sampling grid and trust: what ``clips.frame_consistency`` compares."""
        s = self.settings
        earlier, later, grid, weight = (t.to(self.device) for t in pair_crops(self.clips, s.seed, step, s.batch_size,
                                                                            s.crop_size))
        frames = torch.cat([earlier, later])
        before, after = self.model(frames, one_hot(style, self.model.styles, frames.shape[0]).to(self.device)).chunk(2)
        return before, after, grid, weight

    def _moved_and_painted(self, batch, painting: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's picture (with the one-hot ``painting``) of the crops moved by a little and noised,
        and the motion (motion.py)."""
        generator = step_generator(self.settings.seed, 2, step)
        grid = random_motion(batch.shape[0], batch.shape[-1], generator, Motion()).to(self.device)
        moved = noisy(move(batch, grid), generator)
        return self.model(moved, painting), grid

    def run(self, callback: Callable[[TrainStep], None] | None = None) -> TrainResult:
        s = self.settings
        self.model_dir.mkdir(parents=True, exist_ok=True)
        trim_log(self.model_dir / LOG, self.info.step)
        previews, times = [], []
        try:
            for step in range(self.info.step, s.steps):
                started = time.perf_counter()
                self.optimizer.zero_grad(set_to_none=True)
                total, parts, style = self.step_losses(step)
                total.backward()
                self.optimizer.step()
                if self.average is not None:
                    self._update_average(step)
                losses = {k: float(v.detach()) for k, v in parts.items()}
                losses["total"] = float(total.detach())
                if not math.isfinite(losses["total"]):
                    raise FloatingPointError(f"the training loss became {losses['total']} at step {step + 1}; "
                                             f"lower --learning-rate or the weights")
                self.info.step = step + 1
                times.append(time.perf_counter() - started)
                append_log(self.model_dir / LOG, {"step": step + 1, "painting": self.info.styles[style]["name"], "seconds": round(times[-1], 4),
                           **{k: round(v, 6) for k, v in losses.items()}})
                if callback is not None:
                    callback(TrainStep(step + 1, s.steps, losses, self.info.styles[style]["name"], times[-1]))
                if (step + 1) % s.save_every == 0 and step + 1 < s.steps:
                    previews.append(self.save())
        except KeyboardInterrupt:
            if self.info.step > self.resumed_from:
                self.save()  # everything after this step is a function of the step: resuming here is exact
            raise
        if self.info.step > self.resumed_from or not (self.model_dir / MODEL).exists():
            previews.append(self.save())
        return TrainResult(self.model_dir / CHECKPOINT, self.model_dir / MODEL, self.info.step, self.resumed_from,
                           sum(times) / len(times) if times else None, previews)

    def save(self) -> Path:
        """Checkpoint (with optimiser state), shippable weights and a preview, each written atomically."""
        self.model.eval()
        save_checkpoint(self.model_dir / CHECKPOINT, self.model, self.info, self.optimizer, self.average)
        save_checkpoint(self.model_dir / MODEL, self.shipped, self.info)
        preview = self.preview(self.model_dir / "previews" / f"step{self.info.step:06d}.png")
        self.model.train()
        return preview

    def preview(self, path: Path) -> Path:
        """The fixed photo, then the current network's painting of it with each painting, side by side."""
        photo = preview_photo(self.photos, PREVIEW_SIZE).to(self.device)
        with torch.no_grad():
            painted = [self.shipped(photo, one_hot(i, self.model.styles).to(self.device)).float()
                       for i in range(self.model.styles)]
        gap = photo.new_ones(1, 3, photo.shape[2], 4)
        row = [photo]
        for image in painted:
            row += [gap, image]
        return save_image(torch.cat(row, dim=3).cpu(), path)



def append_log(path: Path, row: dict) -> None:
    """One step's row at the end of a training run's log."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def trim_log(path: Path, step: int) -> None:
    """Drop a log's rows past the checkpoint's step: a run interrupted after its last save logged steps it
    will redo."""
    if not path.exists():
        return
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in rows if json.loads(line).get("step", 0) <= step]
    if len(kept) != len(rows):
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
