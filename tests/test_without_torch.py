"""A network worker's install: an exported network (.onnx) runs through `run` and `video`, and `status` and
`info` answer, in a process where torch, torchvision, triton and onnx cannot be imported; what needs them
says so in one line."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import invoke


# The installed command's entry point, with the full install's packages made unimportable, as on a
# machine where they were never installed (ModuleNotFoundError, named).
WITHOUT_FULL_INSTALL = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "triton", "onnx"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Refuse())
from nstbatch.cli import main
sys.argv[0] = "nstbatch"
main()
"""


def without_torch(*args, cwd=None):
    return subprocess.run([sys.executable, "-c", WITHOUT_FULL_INSTALL, *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_an_exported_network_paints_a_folder_without_torch_and_the_same_pictures(tiny_onnx, files, tmp_path):
    inputs, _ = files
    done = without_torch("run", "-i", inputs, "-m", tiny_onnx, "-o", tmp_path / "worker", "--style-blend", "0.3,0.7")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr + done.stdout
    with_torch = invoke(*["run", "-i", str(inputs), "-m", str(tiny_onnx), "-o", str(tmp_path / "full"),
                                          "--style-blend", "0.3,0.7", "--device", "cpu", "-q"])
    assert with_torch.exit_code == 0, with_torch.output
    names = sorted(str(p.relative_to(tmp_path / "full")) for p in (tmp_path / "full").rglob("*.png"))
    assert names and names == sorted(str(p.relative_to(tmp_path / "worker")) for p in (tmp_path / "worker").rglob("*.png"))
    for name in names:
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "worker" / name)),
                                      np.asarray(Image.open(tmp_path / "full" / name)))
    again = without_torch("run", "-i", inputs, "-m", tiny_onnx, "-o", tmp_path / "worker", "--style-blend", "0.3,0.7")
    assert again.returncode == 0 and f"0 done, {len(names)} skipped" in again.stdout + again.stderr, again.stderr
    status = without_torch("status", tmp_path / "worker")
    assert status.returncode == 0 and f"{len(names)} done" in status.stdout, status.stdout + status.stderr


def test_an_exported_network_paints_a_clip_without_torch(tiny_onnx, clip_dir, tmp_path):
    out = tmp_path / "clip.mp4"
    done = without_torch("video", "-i", clip_dir, "-m", tiny_onnx, "-o", out, "--temporal-blend", "0.5")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr + done.stdout
    assert out.stat().st_size > 0 and "4 frames" in done.stdout


def test_info_answers_without_torch(tiny_onnx):
    done = without_torch("info")
    assert done.returncode == 0, done.stderr
    assert "torch                  not installed" in done.stdout and "CPUExecutionProvider   loads" in done.stdout
    described = without_torch("info", "--model", tiny_onnx)
    assert described.returncode == 0 and "ONNX styliser" in described.stdout, described.stderr


@pytest.mark.parametrize("engine", ["style", "checkpoint"])
def test_what_needs_torch_says_so_in_one_line(engine, tiny_model, files, tmp_path):
    inputs, style = files
    model_dir, _ = tiny_model
    chosen = ["-s", style] if engine == "style" else ["-m", model_dir / "model.safetensors"]
    done = without_torch("run", "-i", inputs, *chosen, "-o", tmp_path / "out")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: this needs torch, which is not installed here; exported networks run without it (run or video "
        "--model NAME or NET.onnx), everything else needs the full install: the wheel with its dependencies, or "
        "pip install . in a clone"]
    assert not (tmp_path / "out").exists()  # refused before any work: the folder it made is gone again


def test_the_provider_probe_model_is_the_one_node_graph_onnx_builds():
    from onnx import TensorProto, helper

    from nstbatch.onnx.providers import PROBE_MODEL

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    assert model.SerializeToString() == PROBE_MODEL


def test_keeping_colours_gives_arrays_and_tensors_the_same_picture():
    import torch

    from nstbatch.runtime.color import preserve_colors

    rng = np.random.default_rng(0)
    stylised, photo = (rng.random((2, 3, 5, 7), dtype=np.float32) for _ in range(2))
    from_arrays = preserve_colors(stylised, photo)
    from_tensors = preserve_colors(torch.from_numpy(stylised), torch.from_numpy(photo))
    assert isinstance(from_arrays, np.ndarray) and isinstance(from_tensors, torch.Tensor)
    np.testing.assert_allclose(from_arrays, from_tensors.numpy(), rtol=0, atol=1e-6)


def test_a_network_paints_by_region_without_torch(tiny_onnx, files, tmp_path):
    inputs, _ = files
    masks = tmp_path / "masks"
    for source in sorted(inputs.rglob("*.*")):
        width, height = Image.open(source).size
        mask = np.zeros((height, width), np.uint8)
        mask[:, : width // 2] = 255
        target = (masks / source.relative_to(inputs)).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(target)
    done = without_torch("run", "-i", inputs, "-m", tiny_onnx, "-o", tmp_path / "worker", "--region", f"{masks}=photo",
                         "--match-colors")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr + done.stdout
    assert "2 done" in done.stdout + done.stderr


def test_a_universal_network_paints_any_painting_without_torch(files, tmp_path):
    from test_universal import BUNDLED

    inputs, style = files
    done = without_torch("run", "-i", inputs, "-m", BUNDLED, "--style", style, "--strength", "0.8", "-o", tmp_path / "w")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "w" / "a.png").is_file() and (tmp_path / "w" / "sub" / "b.png").is_file()
    with_torch = invoke("run", "-i", inputs, "-m", BUNDLED, "--style", style, "--strength", "0.8", "-o", tmp_path / "f")
    assert with_torch.exit_code == 0, with_torch.output
    a, b = (np.asarray(Image.open(tmp_path / name / "a.png"), float) for name in ("w", "f"))
    assert np.abs(a - b).max() == 0
