"""Gram matrices G = F Fᵀ / (C·H·W) of a feature map F viewed as C x (H·W), and where they run.

``gram()`` and ``style_loss()`` dispatch: the fused Triton kernels (gram_triton.py) on CUDA, torch
everywhere else, so callers never choose. The choice is visible through ``backend_in_use``.
"""

from __future__ import annotations

import functools
import importlib.util

import torch

BACKENDS = ("auto", "triton", "torch")


def at_least_float32(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def gram_torch(features: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, C], accumulated in float32 for half inputs, float64 for float64."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w).to(at_least_float32(features.dtype))
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


@functools.lru_cache(maxsize=None)
def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def resolve_backend(backend: str, features: torch.Tensor) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"gram backend must be one of {', '.join(BACKENDS)}, not '{backend}'")
    if backend == "auto":
        usable = features.is_cuda and triton_available() and features.dtype != torch.float64
        return "triton" if usable else "torch"
    return backend


def _triton_ops():
    # Imported on first use only: the kernels' decorator reads TRITON_INTERPRET at import.
    from . import gram_triton

    return gram_triton


def gram(features: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    if resolve_backend(backend, features) == "triton":
        return _triton_ops().gram(features)
    return gram_torch(features)


def style_loss(features: torch.Tensor, target: torch.Tensor, weight: float, backend: str = "auto") -> torch.Tensor:
    """weight · mean((gram(features) − target)²): one fused op on Triton, three torch ops otherwise."""
    if resolve_backend(backend, features) == "triton":
        return _triton_ops().style_loss(features, target, weight)
    return weight * torch.mean((gram_torch(features) - target) ** 2)


def backend_in_use(device) -> str:
    """What ``backend='auto'`` runs on ``device``, for logs and ``nstbatch info``."""
    device = torch.device(device)
    if device.type == "cuda" and triton_available():
        return "triton"
    if device.type == "cuda":
        return "torch (Triton is not installed)"
    return "torch (Triton needs CUDA)"
