"""The bundled networks ship twice, as a checkpoint and as its ONNX export: the export must be of that
checkpoint, and paint what the checkpoint paints."""

from pathlib import Path

import numpy as np
import pytest
import torch

from nstbatch.network.checkpoint import load_checkpoint
from nstbatch.network.model_file import describe, stylizer_metadata
from nstbatch.onnx.providers import CPU
from nstbatch.onnx.session import StylizerSession
from nstbatch.records import file_sha256

from conftest import photo_like

MODELS = Path(__file__).resolve().parent.parent / "nstbatch" / "models"


@pytest.mark.parametrize("name", ["starry_night", "starry_night_steady", "starry_kandinsky"])
def test_each_bundled_export_is_its_checkpoint(name):
    checkpoint, exported = MODELS / name / "model.safetensors", MODELS / name / "model.onnx"
    described = describe(exported)
    assert described.kind == "onnx"
    assert described.training.get("step") is not None
    assert stylizer_metadata(exported)["checkpoint_sha256"] == file_sha256(checkpoint)
    network, info, _ = load_checkpoint(checkpoint)
    assert described.style_names == info.style_names
    photo = photo_like(48, 64)
    weights = np.ones((1, len(info.style_names)), np.float32) / len(info.style_names)
    painted = StylizerSession(exported, [CPU])(photo.numpy(), weights)
    with torch.no_grad():
        want = network(photo, torch.from_numpy(weights)).numpy()
    np.testing.assert_allclose(painted, want, rtol=0, atol=1e-4)


def test_the_two_painting_network_paints_by_region_as_its_checkpoint_does():
    checkpoint, exported = MODELS / "starry_kandinsky" / "model.safetensors", MODELS / "starry_kandinsky" / "model.onnx"
    session = StylizerSession(exported, [CPU])
    assert session.inputs == ["image", "style_map"] and session.style_names[1] == "composition_vii_kandinsky"
    photo = photo_like(48, 64)
    style_map = np.zeros((1, 2, 48, 64), np.float32)
    style_map[:, 0, :, :32], style_map[:, 1, :, 32:] = 1, 1  # Starry Night left, Kandinsky right
    network = load_checkpoint(checkpoint)[0].float().eval()
    with torch.no_grad():
        want = network(photo, torch.from_numpy(style_map)).numpy()
    np.testing.assert_allclose(session(photo.numpy(), None, style_map), want, rtol=0, atol=1e-4)
