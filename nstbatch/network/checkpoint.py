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
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..atomic import atomic_path
from ..errors import ModelError
from .checkpoint_info import CheckpointInfo, read_info
from .architecture import build
from .stylizer import Stylizer


def save_checkpoint(path, model: Stylizer, info: CheckpointInfo, optimizer: torch.optim.Optimizer | None = None,
                    average: Stylizer | None = None) -> Path:
    """Write atomically: a crash mid-write leaves the previous checkpoint in place."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if average is not None:
        tensors.update({f"average.{k}": v.detach().cpu().contiguous() for k, v in average.state_dict().items()})
    meta = info.as_dict()
    if optimizer is not None:
        meta["optimizer"] = optimizer_tensors(optimizer, tensors)
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"nstbatch": json.dumps(meta, sort_keys=True)})
    return path


def _tensors(path, device) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: damaged checkpoint ({str(exc).splitlines()[0][:120]})") from None


def _network(path, info: CheckpointInfo, tensors: dict, prefix: str, what: str, device) -> Stylizer:
    """The network whose weights are the tensors named ``prefix``.*, or ModelError naming the file."""
    model = build(info.architecture).to(device)
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
    return model, info, optimizer_state(tensors, meta)


def optimizer_tensors(optimizer: torch.optim.Optimizer, tensors: dict) -> dict:
    """Put the optimiser's state into ``tensors`` (``optimizer.INDEX.NAME``); what the metadata keeps of it."""
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return {"param_groups": state["param_groups"]}


def optimizer_state(tensors: dict, meta: dict) -> dict | None:
    """The optimiser's state dict that ``optimizer_tensors`` stored, or None for a file without one."""
    if "optimizer" not in meta:
        return None
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["optimizer"]["param_groups"]}


def load_average(path, device="cpu") -> Stylizer | None:
    """The moving average of the weights a training checkpoint holds, or None where it holds none."""
    info, _ = read_info(path)
    tensors = _tensors(path, device)
    if not any(k.startswith("average.") for k in tensors):
        return None
    return _network(path, info, tensors, "average.", "averaged weights", device)
