"""A universal network's checkpoint: its weights, optionally Adam's state, and JSON metadata (the shape, the
training settings, the step) in one safetensors file, as network/checkpoint.py keeps a styliser's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..atomic import atomic_path
from ..errors import ModelError
from ..version import __version__
from .checkpoint import optimizer_state, optimizer_tensors
from .universal import UniversalCoder
from .universal_shape import UniversalShape

FORMAT = "nstbatch-universal"


@dataclass
class UniversalInfo:
    shape: UniversalShape
    settings: dict
    step: int = 0
    nstbatch_version: str = __version__

    def as_dict(self) -> dict:
        return {"format": FORMAT, "nstbatch_version": self.nstbatch_version, "shape": self.shape.as_dict(),
                "settings": self.settings, "step": self.step}


def read_universal(path) -> UniversalInfo:
    """A universal checkpoint's metadata, or ModelError naming the file."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = json.loads((f.metadata() or {}).get("nstbatch", "{}"))
        if meta.get("format") != FORMAT:
            raise KeyError("format")
        return UniversalInfo(UniversalShape.from_record(meta["shape"]), meta["settings"], meta["step"],
                             meta.get("nstbatch_version", "?"))
    except (SafetensorError, OSError, ValueError, KeyError, TypeError):
        raise ModelError(f"{path}: not a universal network's checkpoint (make one with `nstbatch train --universal`)") from None


def save_universal(path, model: UniversalCoder, info: UniversalInfo, optimizer=None) -> Path:
    """Weights (and Adam's state, to resume), written atomically."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = info.as_dict()
    if optimizer is not None:
        meta["optimizer"] = optimizer_tensors(optimizer, tensors)
    with atomic_path(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata={"nstbatch": json.dumps(meta, sort_keys=True)})
    return Path(path)


def load_universal(path, device="cpu") -> tuple[UniversalCoder, UniversalInfo, dict | None]:
    """(network, metadata, Adam's state or None), or ModelError naming the file."""
    info = read_universal(path)
    try:
        tensors = load_file(str(path), device=str(device))
        model = UniversalCoder(info.shape).to(device)
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise ModelError(f"{path}: damaged universal checkpoint ({str(exc).splitlines()[0][:120]})") from None
    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads(f.metadata()["nstbatch"])
    return model.eval(), info, optimizer_state(tensors, meta)
