"""Shared fixtures: tiny synthetic pictures, clips cut from a bundled photo (no test depends on
../shared/data) and one loaded VGG-19."""

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# Without a GPU, Triton kernels run under Triton's interpreter. The variable must be set before
# anything imports triton: torch's optimisers and torchvision pull it in through torch._dynamo, and
# Triton's own helpers (tl.sum's combiner, ...) are fixed as compiled or interpreted at that import.
# With a GPU the same tests run the compiled kernels on CUDA tensors.
if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"

import pytest  # noqa: E402

from nstbatch.media.images import save_image  # noqa: E402
from nstbatch.runtime.vgg import load_vgg19  # noqa: E402


def invoke(*args, **kwargs):
    """`nstbatch ARGS` in this process (CliRunner). An exception nstbatch did not turn into an exit code
    and a line propagates and fails the test, so a crash never passes for an expected exit 1."""
    from typer.testing import CliRunner

    from nstbatch.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False, **kwargs)


def photo_like(h=40, w=48, seed=0):
    """A smooth picture with edges: gradients, a disc and a bar, like a tiny photo."""
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    disc = (((x - 0.35) ** 2 + (y - 0.5) ** 2) < 0.05).float()
    bar = ((x > 0.65) & (x < 0.8)).float()
    g = torch.Generator().manual_seed(seed)
    img = torch.stack([0.2 + 0.6 * x * (1 - disc) + 0.7 * disc, 0.3 + 0.5 * y - 0.2 * bar, 0.5 + 0.4 * bar - 0.3 * disc])
    return (img + 0.02 * torch.randn(img.shape, generator=g)).clamp(0, 1).unsqueeze(0)


def painting_like(h=40, w=40):
    """Diagonal coloured stripes: a strong, easily recognised texture."""
    y, x = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    s = torch.sin((x + y) * 2 * math.pi / 7)
    return torch.stack([0.5 + 0.5 * s, 0.5 - 0.4 * s, 0.3 + 0.2 * torch.cos(x * 0.9)]).clamp(0, 1).unsqueeze(0)


@pytest.fixture(scope="session")
def vgg():
    return load_vgg19()


@pytest.fixture
def photo():
    return photo_like()


@pytest.fixture
def painting():
    return painting_like()


@pytest.fixture
def files(tmp_path):
    """A photo folder with a subfolder, and a painting, as files."""
    inputs = tmp_path / "in"
    save_image(photo_like(40, 48, 0), inputs / "a.png")
    save_image(photo_like(36, 32, 1), inputs / "sub" / "b.jpg")
    style = save_image(painting_like(), tmp_path / "style.png")
    return inputs, style


EXAMPLE_PHOTO = Path(__file__).resolve().parent.parent / "examples" / "photos" / "chelsea_cat.jpg"


def sliding_clip(frames=4, height=40, width=48, dx=3, dy=2):
    """A clip whose true motion is known: a window sliding by (dx, dy) pixels a frame across a real
    photo, as H x W x 3 uint8 RGB frames. Frame t's pixel p is frame t-1's pixel p + (dx, dy)."""
    photo = np.asarray(Image.open(EXAMPLE_PHOTO).convert("RGB"))
    top, left = 60, 120
    return [photo[top + t * dy: top + t * dy + height, left + t * dx: left + t * dx + width].copy() for t in range(frames)]


def clip_folders(root, names=("forward", "backward")):
    """Clips of known motion as folders of frames under ``root``: the sliding window forward, and the
    same frames backward; and a file that is not a clip."""
    frames = sliding_clip(frames=4)
    for name in names:
        (root / name).mkdir(parents=True)
        for t, frame in enumerate(frames if name == "forward" else frames[::-1]):
            Image.fromarray(frame).save(root / name / f"frame_{t + 1}.png")
    (root / "notes.txt").write_text("not a clip")
    return root


@pytest.fixture
def clip():
    return sliding_clip()


@pytest.fixture
def clip_dir(tmp_path, clip):
    """The sliding clip as a folder of numbered PNG frames."""
    folder = tmp_path / "clip"
    folder.mkdir()
    for t, frame in enumerate(clip):
        Image.fromarray(frame).save(folder / f"frame_{t + 1}.png")
    return folder


def photo_folder(root, count=3):
    """A folder of small photo-like pictures to train on."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        save_image(photo_like(48 + 8 * i, 56, seed=i), root / f"p{i}.png")
    return root


# A network small enough to train in a fraction of a second a step on 32 px crops.
TINY_TRAINING = dict(crop_size=32, batch_size=2, channels=4, residual_blocks=1, save_every=2)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A two-painting network trained for 2 steps by `nstbatch train`: (model folder, painting paths)."""


    root = tmp_path_factory.mktemp("tiny-model")
    photos = photo_folder(root / "photos")
    stripes = save_image(painting_like(), root / "stripes.png")
    dots = save_image(painting_like(40, 40).flip(1).roll(7, dims=3), root / "dots.png")
    args = ["train", "--photos", photos, "--style", stripes, "--style", dots, "--output", root / "model", "--steps", 2,
            "--device", "cpu", "--quiet"]
    for key, value in TINY_TRAINING.items():
        args += [f"--{key.replace('_', '-')}", value]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return root / "model", (stripes, dots)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model, tmp_path_factory):
    """The tiny two-painting network exported by `nstbatch export model`: what a network worker runs."""


    model_dir, _ = tiny_model
    path = tmp_path_factory.mktemp("tiny-onnx") / "tiny.onnx"
    result = invoke("export", "model", model_dir / "model.safetensors", "-o", path)
    assert result.exit_code == 0, result.output
    return path



@pytest.fixture(scope="session")
def tiny_universal(tmp_path_factory):
    """A universal network of width 4 trained for 2 steps by `nstbatch train --universal` and exported:
    (the .onnx, its model folder)."""
    root = tmp_path_factory.mktemp("tiny-universal")
    photos = photo_folder(root / "photos")
    result = invoke("train", "--universal", "--photos", photos, "--output", root / "model", "--steps", 2, "--crop-size", 16,
                    "--batch-size", 2, "--channels", 4, "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.output
    path = root / "universal.onnx"
    result = invoke("export", "model", root / "model" / "model.safetensors", "-o", path)
    assert result.exit_code == 0, result.output
    return path, root / "model"
