"""onnxruntime sessions for nstbatch's three kinds of model (VGG-19 features, stylisers, universal networks),
each taking the path of an exported model.

Building and caching the model is the exporter's (``exporter/cache.py``); here it is only run. A
styliser and a universal network take and give numpy arrays, so a network worker needs no torch; the
feature model serves optimisation, which has torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import ModelError, NstError
from .providers import CPU, create_session
from ..network.model_file import stylizer_metadata, universal_metadata
from ..network.architecture import from_record, kind_of



def cache_dir() -> Path:
    """$NSTBATCH_CACHE, else $XDG_CACHE_HOME/nstbatch, else ~/.cache/nstbatch."""
    if os.environ.get("NSTBATCH_CACHE"):
        return Path(os.environ["NSTBATCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nstbatch"


class FeatureSession:
    """Callable like VGG19Features, ``session(image, layers) -> {layer: activation}``, forward only."""

    def __init__(self, model_path, layers, providers=None, fp16: bool = False):
        self.model_path = Path(model_path)
        self.layers = tuple(layers)
        self.session, self.providers = create_session(self.model_path, providers, cache_dir() / "tensorrt", fp16)

    def __call__(self, image, layers) -> dict:
        import torch

        missing = [name for name in layers if name not in self.layers]
        if missing:
            raise ValueError(f"the ONNX feature model has no {', '.join(missing)}; it holds {', '.join(self.layers)}")
        wanted = [name for name in self.layers if name in set(layers)]
        values = self.session.run(wanted, {"image": image.detach().float().cpu().contiguous().numpy()})
        return {name: torch.from_numpy(value).to(image.device) for name, value in zip(wanted, values)}


class StylizerSession:
    """A styliser model run by onnxruntime: ``session(images, weights) -> images``, N x 3 x H x W in [0, 1]."""

    def __init__(self, model_path, providers=None, fp16: bool = False, opened: tuple | None = None):
        """``opened``: the (session, providers) ``open_session`` made of the file already."""
        self.model_path = Path(model_path)
        self.session, self.providers = opened or open_session(self.model_path, providers, fp16)
        # Read from the session that runs it: opening the file a second time for its metadata costs a session.
        self.metadata = stylizer_metadata(self.model_path, dict(self.session.get_modelmeta().custom_metadata_map))
        self.style_names: list[str] = self.metadata["styles"]
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.takes_style_map = "style_map" in self.inputs  # exported for painting by region (a per-pixel blend)
        # Where its memory comes from, for the memory guard: a GPU provider's, or the host's.
        self.device = "cpu" if self.providers[0] == CPU else "cuda"
        try:  # exports older than the architecture's metadata are of the defaults' shape
            self.architecture = from_record(json.loads(self.metadata.get("architecture", "{}")))
        except (TypeError, ValueError):
            raise ModelError(f"{model_path}: its architecture metadata is damaged; export it again") from None
        except ModelError as exc:
            raise ModelError(f"{model_path}: {exc}") from None

    def bytes_per_pixel(self) -> int:
        """Peak memory a pixel of one pass, for the memory guard."""
        return kind_of(self.architecture).bytes_per_pixel(self.architecture)

    def __call__(self, images: np.ndarray, weights: np.ndarray | None, style_map: np.ndarray | None = None) -> np.ndarray:
        """``weights`` N x S blends each picture; ``style_map`` N x S x h x w, where the model takes one, blends
        each pixel (a model that takes one is given ``weights`` as a constant map)."""
        feed = {"image": np.ascontiguousarray(images, dtype=np.float32)}
        if "style" in self.inputs:
            feed["style"] = np.ascontiguousarray(weights, dtype=np.float32)
        if self.takes_style_map:
            if style_map is None:  # one blend a picture: a map of one pixel, resampled inside to every layer
                style_map = np.asarray(weights, np.float32)[:, :, None, None]
            feed["style_map"] = np.ascontiguousarray(style_map, dtype=np.float32)
        return self.session.run(["stylized"], feed)[0]


def open_session(model_path: Path, providers=None, fp16: bool = False):
    """(session, providers running it) for an exported model, or ModelError naming the file. What kind of
    model it is (``session.get_modelmeta().custom_metadata_map["kind"]``) decides which class runs it."""
    if not model_path.is_file():
        raise ModelError(f"{model_path}: no such model file")
    try:
        return create_session(model_path, providers, cache_dir() / "tensorrt", fp16)
    except NstError:  # a provider list this onnxruntime cannot offer says so itself
        raise
    except Exception as exc:  # onnxruntime's own error types for a file or graph it cannot load
        raise ModelError(f"{model_path}: not a readable ONNX model, or onnxruntime cannot load it "
                         f"({str(exc).splitlines()[0][:160]}); it may be damaged or truncated: export it again") from None


class UniversalSession:
    """A universal network's two halves run by onnxruntime (network/universal.py's contract): ``encode``
    a picture to its features, ``decode`` features to a picture. numpy in and out."""

    def __init__(self, model_path, providers=None, opened: tuple | None = None):
        from ..network.universal_shape import STAND_IN_SIDE, UniversalShape

        self.model_path = Path(model_path)
        self.session, self.providers = opened or open_session(self.model_path, providers)
        self.metadata = universal_metadata(self.model_path, dict(self.session.get_modelmeta().custom_metadata_map))
        self.shape = UniversalShape.from_record(self.metadata["shape"])
        self.device = "cpu" if self.providers[0] == CPU else "cuda"
        side = STAND_IN_SIDE
        self._no_photo = np.zeros((1, 3, side, side), np.float32)
        self._no_features = np.zeros((1, self.shape.feature_channels, side // 4, side // 4), np.float32)

    def encode(self, pictures: np.ndarray) -> np.ndarray:
        """N x 3 x H x W in [0, 1], H and W multiples of 4, to N x C x H/4 x W/4."""
        return self.session.run(["encoded"], {"photo": np.ascontiguousarray(pictures, dtype=np.float32),
                                              "features": self._no_features})[0]

    def decode(self, features: np.ndarray) -> np.ndarray:
        return self.session.run(["decoded"], {"photo": self._no_photo,
                                              "features": np.ascontiguousarray(features, dtype=np.float32)})[0]
