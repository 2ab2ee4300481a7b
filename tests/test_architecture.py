"""Kinds of network (issue 41): each checkpoint and export names its kind, a registry builds it, a file of a
kind this version does not know is one line, files from before kinds are the residual network, and a new
kind is its module and one registry entry (here a toy one, trained, exported and run)."""

import json

import numpy as np
import torch
from torch import nn

from conftest import TINY_TRAINING, invoke, painting_like, photo_folder, photo_like
from nstbatch.media.images import save_image
from nstbatch.network import architecture
from nstbatch.network.checkpoint_info import read_info
from nstbatch.network.stylizer import ConditionalInstanceNorm

BUNDLED = architecture.__file__.rsplit("/nstbatch/", 1)[0] + "/nstbatch/models/starry_night/model.safetensors"


class Toy(nn.Module):
    """The smallest network of the contract a kind's layers keep (network/architecture.py): built from an
    Architecture, ``architecture`` and ``styles``, ``forward(images, weights=None)``, ``style_parameters()``."""

    def __init__(self, shape: architecture.Architecture):
        super().__init__()
        self.architecture = shape
        self.conv = nn.Conv2d(3, 3, 3, padding=1, padding_mode="reflect")
        self.norm = ConditionalInstanceNorm(3, shape.styles)

    @property
    def styles(self) -> int:
        return self.architecture.styles

    def style_parameters(self) -> list:
        return [self.norm.scale, self.norm.shift]

    def forward(self, images, weights=None):
        if weights is None:  # a network of one painting is exported without a blend input
            weights = torch.ones(images.shape[0], self.styles, dtype=images.dtype, device=images.device)
        return torch.sigmoid(self.norm(self.conv(images), weights))


def test_files_from_before_kinds_are_the_residual_network(tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    # the bundled network as a version before kinds wrote it: its architecture without "kind"
    with safe_open(BUNDLED, framework="numpy") as f:
        metadata, tensors = f.metadata(), {name: f.get_tensor(name) for name in f.keys()}
    meta = json.loads(metadata["nstbatch"])
    meta["architecture"].pop("kind", None)
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old), metadata={**metadata, "nstbatch": json.dumps(meta)})
    info, _ = read_info(old)
    assert info.architecture.kind == architecture.RESIDUAL
    assert type(architecture.build(info.architecture)).__name__ == "Stylizer"


def test_a_kind_this_version_does_not_know_is_one_line_naming_the_file(tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(BUNDLED, framework="numpy") as f:
        metadata, tensors = f.metadata(), {name: f.get_tensor(name) for name in f.keys()}
    meta = json.loads(metadata["nstbatch"])
    meta["architecture"]["kind"] = "from-the-future"
    future = tmp_path / "future.safetensors"
    save_file(tensors, str(future), metadata={**metadata, "nstbatch": json.dumps(meta)})
    save_image(photo_like(), tmp_path / "in" / "a.png")
    result = invoke("run", "-i", tmp_path / "in", "-m", future, "-o", tmp_path / "out", "--device", "cpu", "-q")
    assert result.exit_code == 2, result.output
    assert "future.safetensors" in result.output and "kind 'from-the-future'" in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_a_new_kind_is_its_module_and_one_registry_entry(tmp_path, monkeypatch):
    monkeypatch.setitem(architecture.KINDS, "toy", architecture.Kind(f"{__name__}:Toy", lambda shape: 3 * 4 * 4))
    photos = photo_folder(tmp_path / "photos")
    style = save_image(painting_like(), tmp_path / "style.png")
    args = ["train", "--photos", photos, "--style", style, "--output", tmp_path / "toy", "--steps", 2, "--kind", "toy",
            "--device", "cpu", "--quiet"]
    for key, value in TINY_TRAINING.items():
        args += [f"--{key.replace('_', '-')}", value]
    assert invoke(*args).exit_code == 0
    info, _ = read_info(tmp_path / "toy" / "model.safetensors")
    assert info.architecture.kind == "toy"
    exported = invoke("export", "model", tmp_path / "toy" / "model.safetensors", "-o", tmp_path / "toy.onnx")
    assert exported.exit_code == 0 and "valid:" in exported.output, exported.output
    save_image(photo_like(), tmp_path / "in" / "a.png")
    painted = invoke("run", "-i", tmp_path / "in", "-m", tmp_path / "toy.onnx", "-o", tmp_path / "out", "-q")
    assert painted.exit_code == 0, painted.output
    from nstbatch.media.images import read_picture

    assert not np.allclose(read_picture(tmp_path / "out" / "a.png"), read_picture(tmp_path / "in" / "a.png"), atol=0.05)
    unknown = invoke(*[a if a != "toy" else "nonesuch" for a in args[:-2]], "--output", tmp_path / "x")
    assert unknown.exit_code == 2 and "--kind must be one of" in unknown.output


def test_the_registry_estimates_a_kinds_memory_from_its_shape():
    narrow, wide = architecture.Architecture(channels=8), architecture.Architecture(channels=16)
    kind = architecture.kind_of(narrow)
    assert 0 < kind.bytes_per_pixel(narrow) < kind.bytes_per_pixel(wide)
