"""A trained styliser run by torch, for where onnxruntime cannot: on CUDA without an onnxruntime GPU
provider, and in training's previews and a clip's own network. The feed-forward engine
(``feedforward.FeedForward``) takes it in place of an onnxruntime session."""

from __future__ import annotations

import numpy as np
import torch

from .architecture import kind_of
from .stylizer import Stylizer


class TorchPainter:
    """A styliser run by torch: ``painter(images, weights) -> images``, numpy arrays in and out, on the
    CPU; on CUDA in bf16 and channels-last, the fast path there when onnxruntime has no GPU provider."""

    def __init__(self, network: Stylizer, device: torch.device):
        self.device = torch.device(device)
        self.dtype = torch.bfloat16 if self.device.type == "cuda" else None
        self.network = network.to(self.device).eval()
        if self.device.type == "cuda":
            self.network = self.network.to(memory_format=torch.channels_last)
        self.providers = [f"torch {self.device}{' bf16' if self.dtype else ''}"]
        self.architecture = network.architecture

    takes_style_map = True  # the network in torch blends per pixel as well as per picture

    def bytes_per_pixel(self) -> int:
        """Peak memory a pixel of one pass, for the memory guard."""
        return kind_of(self.architecture).bytes_per_pixel(self.architecture)

    def __call__(self, images: np.ndarray, weights: np.ndarray | None, style_map: np.ndarray | None = None) -> np.ndarray:
        blend = weights if style_map is None else style_map
        with torch.no_grad(), torch.autocast(self.device.type, dtype=self.dtype or torch.float32,
                                             enabled=self.dtype is not None):
            painted = self.network(torch.tensor(images, device=self.device), torch.tensor(blend, device=self.device))
            return painted.float().cpu().numpy()
