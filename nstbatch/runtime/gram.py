"""Gram matrices G = F Fᵀ / (C·H·W) of a feature map F viewed as C x (H·W).

This file holds the torch implementation every device can run; the fused Triton kernel for CUDA
(issue 4) dispatches from ``gram()`` here so callers never choose.
"""

from __future__ import annotations

import torch

BACKENDS = ("auto", "torch")


def at_least_float32(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def gram_torch(features: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, C], accumulated in float32 for half inputs, float64 for float64."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w).to(at_least_float32(features.dtype))
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def gram(features: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    if backend not in BACKENDS:
        raise ValueError(f"gram backend must be one of {BACKENDS}, not '{backend}'")
    return gram_torch(features)


def backend_in_use(device) -> str:
    """What ``gram(backend='auto')`` runs on ``device``, for logs and ``nstbatch info``."""
    return "torch"
