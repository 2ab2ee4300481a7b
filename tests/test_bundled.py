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

MODELS = Path(__file__).resolve().parent.parent / "examples" / "models"


@pytest.mark.parametrize("name", ["starry_night", "starry_night_steady"])
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
