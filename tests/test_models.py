"""`nstbatch run --model` end to end: checkpoints and ONNX files, blends, bad models and bad photos."""

import json

import pytest

from nstbatch.media.images import load_image, save_image
from nstbatch.engines import open_model
from nstbatch.network.model_file import describe
from nstbatch.errors import ModelError
from nstbatch.exporter import export_vgg19

from conftest import invoke, photo_like



def manifest(out):
    return [json.loads(line) for line in (out / "nstbatch-manifest.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NSTBATCH_CACHE", str(tmp_path / "cache"))


def test_run_with_a_checkpoint_paints_every_photo_at_its_own_size(tiny_model, files, tmp_path):
    model_dir, _ = tiny_model
    inputs, _ = files
    out = tmp_path / "out"
    result = invoke("run", "-i", inputs, "--model", model_dir / "model.safetensors", "-o", out,
                    "--style-blend", "dots=1", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "one pass a photo on CPUExecutionProvider" in result.output and "2 done" in result.output
    assert load_image(out / "a.png").shape == (1, 3, 40, 48)  # the photo's own size
    assert load_image(out / "sub" / "b.png").shape == (1, 3, 36, 32)
    rows = manifest(out)
    assert rows[0]["options"]["style_blend"] == {"stripes": 0.0, "dots": 1.0}
    assert len(rows[0]["options"]["model_sha256"]) == 64 and rows[0]["losses"] == {}
    assert len(list((tmp_path / "cache").glob("stylizer-*.onnx"))) == 1  # exported and validated once, cached


def test_another_blend_or_engine_into_the_same_folder_is_refused(tiny_model, files, tmp_path):
    model = tiny_model[0] / "model.safetensors"
    inputs, style = files
    out = tmp_path / "out"
    args = ["run", "-i", inputs, "--model", model, "-o", out, "--device", "cpu", "-q"]
    assert invoke(*args, "--style-blend", "dots=1").exit_code == 0
    assert "0 done, 2 skipped" in invoke(*args, "--style-blend", "dots=1").output
    blend = invoke(*args, "--style-blend", "stripes=1")
    assert blend.exit_code == 2 and "(style_blend differ" in blend.output
    optimised = invoke("run", "-i", inputs, "-s", style, "-o", out, "--size", "32", "--iterations", "2", "-q")
    assert optimised.exit_code == 2 and "engine" in optimised.output and "--overwrite" in optimised.output


def test_size_and_max_size(tiny_model, files, tmp_path):
    model_dir, _ = tiny_model
    inputs, _ = files
    assert invoke("run", "-i", inputs, "-m", model_dir / "model.safetensors", "-o", tmp_path / "a", "--size", 24,
                  "-q").exit_code == 0
    assert load_image(tmp_path / "a" / "a.png").shape == (1, 3, 20, 24)
    assert invoke("run", "-i", inputs, "-m", model_dir / "model.safetensors", "-o", tmp_path / "b", "--max-size", 36,
                  "-q").exit_code == 0
    assert load_image(tmp_path / "b" / "a.png").shape == (1, 3, 30, 36)  # shrunk to 36
    assert load_image(tmp_path / "b" / "sub" / "b.png").shape == (1, 3, 36, 32)  # already within it


def test_an_exported_model_gives_the_checkpoints_pictures(tiny_model, files, tmp_path):
    model_dir, _ = tiny_model
    inputs, _ = files
    onnx_path = tmp_path / "m.onnx"
    assert invoke("export", "model", model_dir / "model.safetensors", "-o", onnx_path).exit_code == 0
    for name, model in (("ckpt", model_dir / "model.safetensors"), ("onnx", onnx_path)):
        result = invoke("run", "-i", inputs, "-m", model, "-o", tmp_path / name, "--batch-size", 2, "-q")
        assert result.exit_code == 0, result.output
    a, b = load_image(tmp_path / "ckpt" / "a.png"), load_image(tmp_path / "onnx" / "a.png")
    assert float((a - b).abs().max()) <= 1 / 255 + 1e-6


def test_bad_photos_fail_alone(tiny_model, files, tmp_path):
    model_dir, _ = tiny_model
    inputs, _ = files
    (inputs / "empty.png").write_bytes(b"")
    (inputs / "words.jpg").write_text("not a picture")
    good = (inputs / "a.png").read_bytes()
    (inputs / "cut.png").write_bytes(good[: len(good) // 2])
    save_image(photo_like(60, 60), inputs / "huge.png")
    save_image(photo_like(3, 200), inputs / "sliver.png")
    out = tmp_path / "out"
    result = invoke("run", "-i", inputs, "-m", model_dir / "model.safetensors", "-o", out, "--max-pixels", 2000, "-q")
    assert result.exit_code == 1
    assert "2 done, 0 skipped (already there), 5 failed" in result.output
    for name, reason in (("empty.png", "empty (0 bytes)"), ("words.jpg", "not an image"), ("cut.png", "truncated"),
                         ("huge.png", "over the limit"), ("sliver.png", "is 200x3, 200x3 at the working size: a side "
                                                          "under the 5 px the network needs")):
        assert any(name in line and reason in line for line in result.output.splitlines()), name
    again = invoke("run", "-i", inputs, "-m", model_dir / "model.safetensors", "-o", out, "--max-pixels", 2000, "-q")
    assert "0 done, 2 skipped" in again.output  # a re-run resumes


def test_bad_models_are_one_line_and_exit_2(tiny_model, files, tmp_path):
    inputs, _ = files
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(b"\x08\x07garbage" * 10)
    vgg = tmp_path / "vgg.onnx"
    export_vgg19(vgg, layers=("relu1_1",), check=False)
    for model, message in ((damaged, "damaged.onnx: not a readable ONNX model"),
                           (vgg, "vgg.onnx: an nstbatch VGG-19 feature model, not a styliser"),
                           (tmp_path / "missing.onnx", "missing.onnx: no such model file")):
        result = invoke("run", "-i", inputs, "-m", model, "-o", tmp_path / "out", "-q")
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, message", [
    (["--style", "{style}"], "and --style: give one; the model already holds its paintings"),
    (["--iterations", "5"], "--iterations: only for optimisation"),
    (["--style-weight", "9", "--init", "noise"], "--style-weight, --init: only for optimisation"),
    (["--style-blend", "monet=1"], "no painting 'monet'"),
])
def test_usage_errors_with_model(tiny_model, files, tmp_path, extra, message):
    model_dir, _ = tiny_model
    inputs, style = files
    extra = [e.replace("{style}", str(style)) for e in extra]
    result = invoke("run", "-i", inputs, "-m", model_dir / "model.safetensors", "-o", tmp_path / "out", *extra)
    assert result.exit_code == 2 and message in result.output, result.output


def test_neither_style_nor_model_is_a_usage_error(files, tmp_path):
    inputs, _ = files
    result = invoke("run", "-i", inputs, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "give a painting with --style, or a trained network with --model" in result.output


def test_describe_and_info(tiny_model, tmp_path):
    model_dir, _ = tiny_model
    described = describe(model_dir / "model.safetensors")
    assert described.style_names == ["stripes", "dots"] and described.kind == "checkpoint"
    engine, _ = open_model(model_dir / "model.safetensors", "0.25,0.75", device="cpu")
    assert engine.blend == [0.25, 0.75]
    info = invoke("info", "--model", model_dir / "model.safetensors")
    assert info.exit_code == 0 and "stripes" in info.output and "style float32 [N, 2]" in info.output
    with pytest.raises(ModelError):
        describe(tmp_path / "nothing.safetensors")


def test_python_api_with_a_model(tiny_model, photo):
    import nstbatch

    model_dir, _ = tiny_model
    picture = nstbatch.stylize(photo, model=model_dir / "model.safetensors", size=None, style_blend=[1, 0], device="cpu")
    assert picture.size == (48, 40)
    with pytest.raises(Exception, match=r"give a painting with style=\.\.\., or a trained network with model="):
        nstbatch.stylize(photo)


def test_a_provider_onnxruntime_lacks_is_not_called_a_broken_model(tiny_model, tmp_path):
    from nstbatch.errors import UsageError
    from nstbatch.exporter import export_stylizer
    from nstbatch.onnx.session import StylizerSession

    model_dir, _ = tiny_model
    path = tmp_path / "m.onnx"
    export_stylizer(model_dir / "model.safetensors", path, check=False)
    with pytest.raises(UsageError, match="onnxruntime here offers") as info:
        StylizerSession(path, ["FooExecutionProvider"])
    assert not isinstance(info.value, ModelError)
