"""Checkpoints of a feed-forward styliser: weights, optional optimiser state, and JSON metadata in one
safetensors file, which loads without executing code.

Metadata (under the key ``nstbatch``): the format, the architecture, the paintings' names and content
hashes, the training settings, the step reached, the nstbatch version. A checkpoint with optimiser
state resumes training exactly; one without (``model.safetensors``) is what gets exported and shipped.
A training checkpoint may also hold the moving average of the weights (``average.*``, training with
--ema-decay), which is what its ``model.safetensors`` ships.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ..version import __version__
from ..atomic import atomic_path
from ..errors import ModelError
from .stylizer import Architecture, Stylizer

FORMAT = "nstbatch-stylizer"
FORMAT_VERSION = 1


@dataclass
class CheckpointInfo:
    architecture: Architecture
    styles: list[dict]  # [{"name": stem, "sha256": of the painting file}], in the network's order
    settings: dict  # the training settings that made it
    step: int = 0
    history: list[dict] = field(default_factory=list)  # where each run of training started from (fine-tuning)
    nstbatch_version: str = __version__

    @property
    def style_names(self) -> list[str]:
        return [s["name"] for s in self.styles]

    def as_dict(self) -> dict:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "nstbatch_version": self.nstbatch_version,
            "architecture": self.architecture.as_dict(), "styles": self.styles, "settings": self.settings,
            "step": self.step, "history": self.history,
        }


def save_checkpoint(path, model: Stylizer, info: CheckpointInfo, optimizer: torch.optim.Optimizer | None = None,
                    average: Stylizer | None = None) -> Path:
    """Write atomically: a crash mid-write leaves the previous checkpoint in place."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if average is not None:
        tensors.update({f"average.{k}": v.detach().cpu().contiguous() for k, v in average.state_dict().items()})
    meta = info.as_dict()
    if optimizer is not None:
        state = optimizer.state_dict()
        for index, values in state["state"].items():
            for key, value in values.items():
                tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        meta["optimizer"] = {"param_groups": state["param_groups"]}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"nstbatch": json.dumps(meta, sort_keys=True)})
    return path


def read_info(path) -> tuple[CheckpointInfo, dict]:
    """The metadata alone (cheap), or ModelError naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable safetensors checkpoint ({str(exc).splitlines()[0][:120]}); "
                         f"it may be damaged or truncated: train again or copy it anew") from None
    try:
        meta = json.loads(metadata["nstbatch"])
        if meta.get("format") != FORMAT:
            raise KeyError("format")
        info = CheckpointInfo(Architecture(**meta["architecture"]), meta["styles"], meta["settings"], meta["step"],
                              meta.get("history", []), meta.get("nstbatch_version", "?"))
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{path}: a safetensors file, but not an nstbatch styliser checkpoint "
                         f"(no '{FORMAT}' metadata); make one with `nstbatch train`") from None
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{path}: checkpoint format {meta['format_version']} is newer than this nstbatch "
                         f"({__version__}) reads; upgrade nstbatch")
    return info, meta


def _tensors(path, device) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: damaged checkpoint ({str(exc).splitlines()[0][:120]})") from None


def _network(path, info: CheckpointInfo, tensors: dict, prefix: str, what: str, device) -> Stylizer:
    """The network whose weights are the tensors named ``prefix``.*, or ModelError naming the file."""
    model = Stylizer(info.architecture).to(device)
    weights = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise ModelError(f"{path}: {what} do not fit the architecture it names ({str(exc).splitlines()[0][:120]})") from None
    return model.eval()


def load_checkpoint(path, device="cpu") -> tuple[Stylizer, CheckpointInfo, dict | None]:
    """(network, metadata, optimiser state dict or None)."""
    info, meta = read_info(path)
    tensors = _tensors(path, device)
    model = _network(path, info, tensors, "model.", "weights", device)
    optimizer_state = None
    if "optimizer" in meta:
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        optimizer_state = {"state": state, "param_groups": meta["optimizer"]["param_groups"]}
    return model, info, optimizer_state


def load_average(path, device="cpu") -> Stylizer | None:
    """The moving average of the weights a training checkpoint holds, or None where it holds none."""
    info, _ = read_info(path)
    tensors = _tensors(path, device)
    if not any(k.startswith("average.") for k in tensors):
        return None
    return _network(path, info, tensors, "average.", "averaged weights", device)
