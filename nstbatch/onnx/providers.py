"""onnxruntime execution providers: which to ask for, and which really run.

onnxruntime-gpu lists TensorRT and CUDA even where their libraries cannot load, and then silently
runs on the CPU. So a session is created with the wanted list and ``get_providers()`` is read back:
that, not the list asked for, is what is reported and logged.
"""

from __future__ import annotations

import contextlib
import io
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
    """The listed providers nstbatch uses that really load, probed once per process with a one-node model.
    The CPU is not probed: it always runs, and a session costs as much as painting a small photo."""
    key = id(ort)
    if key not in _loadable:
        _loadable[key] = [name for name in ort.get_available_providers()
                          if name == CPU or (name in PREFERENCE and _probe(ort, name) == "loads")]
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


# A one-node ONNX model (y = Relu(x), x of 1 x 4 floats, opset 17, IR version 8 so older runtimes take it):
# enough to see whether a provider's libraries load. Kept serialised so probing needs no onnx package;
# tests/test_models.py checks it against onnx.helper's build of the same graph.
PROBE_MODEL = (b'\x08\x08:?\n\x0c\n\x01x\x12\x01y"\x04Relu\x12\x05probeZ\x13\n\x01x\x12\x0e\n\x0c\x08\x01\x12'
               b'\x08\n\x02\x08\x01\n\x02\x08\x04b\x13\n\x01y\x12\x0e\n\x0c\x08\x01\x12\x08\n\x02\x08\x01\n\x02'
               b'\x08\x04B\x04\n\x00\x10\x11')


def provider_status(ort=None) -> dict[str, str]:
    """For each provider onnxruntime lists: does a session on it really run on it?"""
    if ort is None:
        import onnxruntime as ort
    return {name: _probe(ort, name) if name in PREFERENCE else "listed (not used by nstbatch)"
            for name in ort.get_available_providers()}


ORT_DEFAULT_SEVERITY = 2  # onnxruntime's own default: warnings and worse


def _probe(ort, name: str) -> str:
    quiet_default = None
    try:
        # onnxruntime prints its fallback to stdout and logs load failures to stderr: a probe that is
        # expected to fail on most machines should not fill the user's terminal.
        # A provider library that cannot load is logged through the default logger, not the session's.
        quiet_default = getattr(ort, "set_default_logger_severity", None)
        if quiet_default is not None:
            quiet_default(4)
        options = ort.SessionOptions()
        options.log_severity_level = 4  # fatal only
        with contextlib.redirect_stdout(io.StringIO()):
            session = ort.InferenceSession(PROBE_MODEL, sess_options=options, providers=[name] if name == CPU else [name, CPU])
        return "loads" if session.get_providers()[0] == name else "listed, but cannot load here"
    except Exception as exc:  # a provider that fails to initialise raises its own error types
        return f"listed, but fails: {str(exc).splitlines()[0][:80]}"
    finally:
        if quiet_default is not None:
            quiet_default(ORT_DEFAULT_SEVERITY)
