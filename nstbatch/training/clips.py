"""Consecutive frames of real clips, for the temporal term on real motion (`nstbatch train --clips DIR`;
after Huang et al. 2017 and ReCoNet, 2018).

Each clip in the folder (a video file, or a folder of numbered frames) is read at a long side of twice
the crop's side, and each pair of consecutive frames keeps where every pixel of the later frame lies
in the earlier one (DIS flow) and how far that can be trusted: the reliability weight `nstbatch video`
uses (``media/flow.py``), 0 where the pixel was hidden or left the frame. Flows are computed once,
when the clips are loaded. The term then holds the network's picture of the later frame to its
picture of the earlier one carried along the flow, where the flow is trusted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..media.flow import optical_flow, reliability
from ..media.frames import open_frames
from ..media.images import IMAGE_SUFFIXES
from ..errors import ImageError, UsageError
from .photos import step_generator

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
READ_SCALE = 2  # clips are read at this many crop sides, so a crop sees part of the frame, as photo crops do


@dataclass
class FramePair:
    earlier: torch.Tensor  # 3 x H x W uint8
    later: torch.Tensor  # 3 x H x W uint8
    source: torch.Tensor  # H x W x 2 float32: where each pixel (x, y) of ``later`` lies in ``earlier``, in pixels
    weight: torch.Tensor  # H x W float32 in [0, 1]: how far the flow is trusted there


@dataclass
class ClipPairs:
    pairs: list[FramePair]
    names: list[str]  # the clips, relative to the folder
    skipped: list[str] = field(default_factory=list)  # "path: why", clips that could not be read

    @property
    def side(self) -> int:
        """The largest square every pair can give."""
        return min(min(p.later.shape[-2:]) for p in self.pairs)

    def fingerprint(self) -> str:
        """Changes with any frame, so a checkpoint trained on other clips does not resume."""
        digest = hashlib.sha256("\n".join(self.names).encode())
        for pair in self.pairs:
            digest.update(pair.later.numpy().tobytes())
        return digest.hexdigest()


def _clips_in(folder: Path) -> list[Path]:
    """Video files anywhere under ``folder`` and folders that hold frames (``folder`` itself included)."""
    found = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    for candidate in [folder, *sorted(p for p in folder.rglob("*") if p.is_dir())]:
        if any(f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES for f in candidate.iterdir()):
            found.append(candidate)
    return found


def load_clips(folder: Path, crop_size: int, on_skip=None) -> ClipPairs:
    """Every clip under ``folder`` as pairs of consecutive frames with their flow; UsageError when none
    has two readable frames. A clip that cannot be read is skipped, said through ``on_skip``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--clips {folder}: not a folder (give a folder of video files or of frame folders)")
    long_side = READ_SCALE * crop_size
    pairs, names, skipped = [], [], []
    for path in _clips_in(folder):
        name = path.relative_to(folder).as_posix() if path != folder else path.name
        try:
            frames = [frame for _, frame in open_frames(path).read(long_side)]
        except (UsageError, ImageError) as exc:
            skipped.append(f"{name}: {exc}")
            if on_skip is not None:
                on_skip(skipped[-1])
            continue
        for earlier, later in zip(frames, frames[1:]):
            pairs.append(_pair(earlier, later))
        if len(frames) > 1:
            names.append(name)
    if not pairs:
        raise UsageError(f"--clips {folder}: no clip with two readable frames (looked for "
                         f"{' '.join(VIDEO_SUFFIXES)} and folders of frames)")
    return ClipPairs(pairs, names, skipped)


def _pair(earlier: np.ndarray, later: np.ndarray) -> FramePair:
    backward, forward = optical_flow(later, earlier), optical_flow(earlier, later)
    trust = reliability(backward, forward)
    h, w = later.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    source = np.stack([xs + backward[..., 0], ys + backward[..., 1]], axis=-1)
    as_tensor = lambda frame: torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).contiguous()  # noqa: E731
    return FramePair(as_tensor(earlier), as_tensor(later), torch.from_numpy(source), torch.from_numpy(trust.weight))


def pair_crops(clips: ClipPairs, seed: int, step: int, batch_size: int, crop_size: int):
    """Step ``step``'s crops of random pairs, the same square of both frames: (earlier, later) as
    B x 3 x S x S floats in [0, 1], the sampling grid that carries a picture of the earlier crop to the
    later one (B x S x S x 2, grid_sample's coordinates), and the weight (B x 1 x S x S), 0 where the
    flow is not trusted or leads out of the crop."""
    generator = step_generator(seed, 5, step)
    side = min(crop_size, clips.side)
    earlier, later, grids, weights = [], [], [], []
    for _ in range(batch_size):
        pair = clips.pairs[int(torch.randint(len(clips.pairs), (1,), generator=generator))]
        h, w = pair.later.shape[-2:]
        top = int(torch.randint(h - side + 1, (1,), generator=generator))
        left = int(torch.randint(w - side + 1, (1,), generator=generator))
        rows, cols = slice(top, top + side), slice(left, left + side)
        earlier.append(pair.earlier[:, rows, cols])
        later.append(pair.later[:, rows, cols])
        source = pair.source[rows, cols] - torch.tensor([left, top], dtype=torch.float32)  # in the crop's pixels
        within = ((source >= 0) & (source <= side - 1)).all(-1)
        grids.append((2 * source + 1) / side - 1)  # pixel centres, as align_corners=False reads them
        weights.append(pair.weight[rows, cols] * within)
    as_unit = lambda frames: torch.stack(frames).float() / 255.0  # noqa: E731
    return as_unit(earlier), as_unit(later), torch.stack(grids), torch.stack(weights).unsqueeze(1)


def carried(painted: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """The pictures of the earlier crops carried to the later crops' place along the flow."""
    return F.grid_sample(painted, grid.to(painted.dtype), mode="bilinear", padding_mode="border", align_corners=False)


def frame_consistency(before: torch.Tensor, after: torch.Tensor, grid: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between the picture of the later crops and that of the earlier ones
    carried along the flow, weighted by the trust in it; divided by all values, so its weight does not
    depend on the crop size."""
    return torch.sum(weight * (after.float() - carried(before.float(), grid)) ** 2) / after.numel()
