"""What a styliser checkpoint says about itself (its JSON metadata under the key ``nstbatch``), read
without torch: `info`, `run` and `video` describe a checkpoint before deciding whether torch is needed.
Weights and saving are ``checkpoint.py``'s."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from safetensors import SafetensorError, safe_open

from ..errors import ModelError
from ..version import __version__
from .architecture import Architecture, from_record

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


def read_info(path) -> tuple[CheckpointInfo, dict]:
    """The metadata alone (cheap), or ModelError naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable safetensors checkpoint ({str(exc).splitlines()[0][:120]}); "
                         f"it may be damaged or truncated: train again or copy it anew") from None
    try:
        meta = json.loads(metadata["nstbatch"])
        if meta.get("format") == "nstbatch-universal":  # network/universal_checkpoint.FORMAT (that module needs torch)
            raise ModelError(f"{path}: a universal network's checkpoint; export it (`nstbatch export model {path.name}`) "
                             f"and give the .onnx with --style")
        if meta.get("format") != FORMAT:
            raise KeyError("format")
        info = CheckpointInfo(from_record(meta["architecture"]), meta["styles"], meta["settings"], meta["step"],
                              meta.get("history", []), meta.get("nstbatch_version", "?"))
    except ModelError as exc:  # a kind of network this version does not know, or a universal one
        raise ModelError(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{path}: a safetensors file, but not an nstbatch styliser checkpoint "
                         f"(no '{FORMAT}' metadata); make one with `nstbatch train`") from None
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{path}: checkpoint format {meta['format_version']} is newer than this nstbatch "
                         f"({__version__}) reads; upgrade nstbatch")
    return info, meta
