"""onnxruntime execution providers: which to ask for, and which really run.

onnxruntime-gpu lists TensorRT and CUDA even where their libraries cannot load, and then silently
runs on the CPU. So a session is created with the wanted list and ``get_providers()`` is read back:
that, not the list asked for, is what is reported and logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import UsageError

log = logging.getLogger("nstbatch")

TENSORRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"
PREFERENCE = (TENSORRT, CUDA, CPU)
ALIASES = {"tensorrt": TENSORRT, "trt": TENSORRT, "cuda": CUDA, "cpu": CPU}
_logged: set = set()
_loadable: dict = {}


def parse(text: str | None) -> list[str] | None:
    """'tensorrt,cuda,cpu' -> onnxruntime names; None stays None (meaning: the best available)."""
    if not text:
        return None
    names = []
    for word in text.split(","):
        word = word.strip().lower()
        if word not in ALIASES:
            raise UsageError(f"unknown execution provider '{word}'; choose from tensorrt, cuda, cpu")
        names.append(ALIASES[word])
    return list(dict.fromkeys(names))


def wanted(explicit: list[str] | None, available: list[str]) -> list[str]:
    """The list to ask onnxruntime for: the explicit one as given, else the preferred ones on offer.

    The CPU is always last, so a session can always be made: an explicit list that names a provider
    this onnxruntime build lacks is a usage error, said before any work.
    """
    if explicit is not None:
        missing = [name for name in explicit if name not in available]
        if missing:
            raise UsageError(f"onnxruntime here offers {', '.join(available)}; not {', '.join(missing)}")
        order = [name for name in explicit if name != CPU]
    else:
        order = [name for name in PREFERENCE if name in available and name != CPU]
    return order + [CPU]


def provider_options(name: str, cache_dir: Path | None, fp16: bool) -> dict:
    if name == TENSORRT:
        options = {"trt_fp16_enable": fp16}
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            options.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(cache_dir))
        return options
    return {}


def loadable(ort) -> list[str]:
    """The listed providers that really load, probed once per process with a one-node model."""
    key = id(ort)
    if key not in _loadable:
        from .info import provider_status

        _loadable[key] = [name for name, state in provider_status(ort).items() if state == "loads"]
    return _loadable[key]


def create_session(model_path, explicit: list[str] | None = None, cache_dir: Path | None = None, fp16: bool = False,
                   ort=None):
    """(session, providers that really run). ``ort`` is the onnxruntime module (replaceable in tests).

    Without an explicit list only providers that load are asked for, so onnxruntime-gpu on a machine
    without CUDA goes straight to the CPU instead of printing a fallback for every session.
    """
    if ort is None:
        import onnxruntime as ort
    asked = wanted(explicit, ort.get_available_providers() if explicit is not None else loadable(ort))
    session = ort.InferenceSession(
        str(model_path), providers=[(name, provider_options(name, cache_dir, fp16)) for name in asked]
    )
    running = list(session.get_providers())
    key = (tuple(asked), tuple(running))
    if key not in _logged:  # once per combination, not once per image
        _logged.add(key)
        dropped = [name for name in asked if name not in running]
        note = f" ({', '.join(dropped)} could not load)" if dropped else ""
        log.info("onnxruntime runs on %s%s", ", ".join(running), note)
    return session, running
