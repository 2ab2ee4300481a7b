"""int8 copies of a styliser (`export model --int8`): made only when faithful to the float file and faster,
stamped, described, and painted with on a CPU when a run names the model's folder or name."""

import json
import shutil

import numpy as np
import onnx
import pytest

from nstbatch.engines import open_model
from nstbatch.errors import ModelError
from nstbatch.exporter import quantise as quantise_module
from nstbatch.exporter.quantise import HELD_OUT, Int8Error, quantise
from nstbatch.media.images import read_picture, save_image
from nstbatch.network.model_file import BUNDLED_MODELS, describe, int8_path, named_models

from conftest import invoke, photo_like

SMALL = dict(CALIBRATION_SIDE=32, VALIDATION_SIDE=48, TIMING_SIDE=64, TIMING_REPEATS=1)


def photos(folder, count=8):
    folder.mkdir(parents=True, exist_ok=True)
    return [save_image(photo_like(36 + 4 * (i % 3), 48, seed=i), folder / f"p{i}.png") for i in range(count)]


def small(monkeypatch, faster: float | None = 0.5, **more):
    """Tiny pictures; the copy's speed as given (what a machine measures is the benchmark's business)."""
    for name, value in {**SMALL, **more}.items():
        monkeypatch.setattr(quantise_module, name, value)
    if faster is not None:
        monkeypatch.setattr(quantise_module.Judge, "time_ratio", lambda self, path: faster)


@pytest.fixture(scope="module")
def folder_with_copy(tiny_onnx, tmp_path_factory):
    """A model folder holding the tiny network and an int8 copy (its tolerance opened: the tiny network is
    barely trained, and this fixture is about what a run does with a copy)."""
    root = tmp_path_factory.mktemp("int8")
    folder = root / "tiny"
    folder.mkdir()
    shutil.copyfile(tiny_onnx, folder / "model.onnx")
    with pytest.MonkeyPatch.context() as patch:
        small(patch, MEAN_TOLERANCE=255.0, DISTANCE_TOLERANCE=10.0)
        quantise(folder / "model.onnx", photos(root / "photos"), say=lambda line: None)
    return folder


def test_the_bundled_network_gets_a_copy_within_the_tolerance_on_photos_it_was_not_calibrated_on(tmp_path, monkeypatch):
    small(monkeypatch)
    model = tmp_path / "sn" / "model.onnx"
    model.parent.mkdir()
    shutil.copyfile(BUNDLED_MODELS / "starry_night" / "model.onnx", model)
    files = photos(tmp_path / "photos")
    report = quantise(model, files, say=lambda line: None)

    copy = int8_path(model)
    assert copy.name == "model.int8.onnx" and copy.is_file()
    graph = onnx.load(str(copy)).graph
    assert sum(node.op_type == "QuantizeLinear" for node in graph.node) >= len(report.quantised) > 0
    # The report is honest: the held-out photos (the last ones) painted again by both files.
    import onnxruntime as ort

    sessions = [ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]) for path in (model, copy)]
    worst = 0.0
    for path in sorted(files)[-HELD_OUT:]:
        picture = read_picture(path, SMALL["VALIDATION_SIDE"])
        painted = [session.run(None, {"image": picture})[0] for session in sessions]
        worst = max(worst, float(np.abs(painted[0] - painted[1]).mean() * 255))
    assert worst == pytest.approx(report.worst_mean, rel=1e-4) and worst <= quantise_module.MEAN_TOLERANCE
    described = describe(copy)
    assert described.int8["quantised"] == report.quantised and "int8" in described.description
    meta = {prop.key: prop.value for prop in onnx.load(str(copy)).metadata_props}
    assert meta["precision"] == "int8" and meta["kind"] == "nstbatch-stylizer"
    assert len(json.loads(meta["int8_calibration"])["sha256"]) == len(files)
    assert not any(key.startswith("onnx.") for key in meta)


def test_no_copy_is_written_when_every_convolution_costs_too_much(tiny_onnx, tmp_path, monkeypatch):
    small(monkeypatch, MEAN_TOLERANCE=1e-9)
    model = tmp_path / "model.onnx"
    shutil.copyfile(tiny_onnx, model)
    with pytest.raises(Int8Error, match="every convolution alone moves the picture"):
        quantise(model, photos(tmp_path / "photos"), say=lambda line: None)
    assert not int8_path(model).exists()


def test_no_copy_is_written_when_it_is_no_faster(tiny_onnx, tmp_path, monkeypatch):
    small(monkeypatch, faster=1.1, MEAN_TOLERANCE=255.0, DISTANCE_TOLERANCE=10.0)
    model = tmp_path / "model.onnx"
    shutil.copyfile(tiny_onnx, model)
    with pytest.raises(Int8Error, match="no faster on this machine"):
        quantise(model, photos(tmp_path / "photos"), say=lambda line: None)
    assert not int8_path(model).exists()


def test_too_few_photos_an_int8_copy_and_a_universal_network_are_one_line_each(tiny_onnx, tiny_universal, tmp_path,
                                                                               folder_with_copy):
    few = photos(tmp_path / "few", count=5)
    with pytest.raises(Int8Error, match="at least 8"):
        quantise(tiny_onnx, few)
    enough = photos(tmp_path / "enough")
    with pytest.raises(Int8Error, match="already an int8 copy"):
        quantise(int8_path(folder_with_copy / "model.onnx"), enough)
    with pytest.raises(Int8Error, match="a universal network"):
        quantise(tiny_universal[0], enough)


def test_export_asks_for_calibration_photos_and_refuses_them_alone(tiny_onnx, tmp_path):
    result = invoke("export", "model", tiny_onnx, "--int8")
    assert result.exit_code == 2 and "--calibration FOLDER" in result.output
    result = invoke("export", "model", tiny_onnx, "--calibration", tmp_path)
    assert result.exit_code == 2 and "--calibration is for --int8" in result.output
    result = invoke("export", "model", tiny_onnx, "--int8", "--calibration", tmp_path / "nowhere")
    assert result.exit_code == 2 and "nowhere: no such folder" in result.output


def test_export_int8_of_an_exported_file_writes_the_copy_beside_it(tiny_onnx, tmp_path, monkeypatch):
    small(monkeypatch, MEAN_TOLERANCE=255.0, DISTANCE_TOLERANCE=10.0)
    model = tmp_path / "m" / "model.onnx"
    model.parent.mkdir()
    shutil.copyfile(tiny_onnx, model)
    photos(tmp_path / "photos")
    result = invoke("export", "model", model, "--int8", "--calibration", tmp_path / "photos")
    assert result.exit_code == 0, result.output
    assert "convolutions quantised" in result.output and f"wrote {int8_path(model)}" in result.output
    assert describe(int8_path(model)).int8 is not None


def test_a_name_or_folder_paints_with_the_copy_on_a_cpu_and_a_file_given_with_itself(folder_with_copy, monkeypatch):
    copy = int8_path(folder_with_copy / "model.onnx")
    engine, described = open_model(folder_with_copy, device="cpu")
    assert described.path == copy and described.int8 is not None
    engine, described = open_model(folder_with_copy / "model.onnx", device="cpu")
    assert described.path == folder_with_copy / "model.onnx" and described.int8 is None
    monkeypatch.setattr("nstbatch.engines._gpu_provider_loads", lambda: True)  # a GPU provider: the float file
    engine, described = open_model(folder_with_copy, device="auto")
    assert described.path == folder_with_copy / "model.onnx"


def test_a_run_with_the_copy_says_so_in_its_rows_and_gallery_and_models_lists_it_once(folder_with_copy, files,
                                                                                      tmp_path, monkeypatch):
    inputs, _ = files
    out = tmp_path / "out"
    result = invoke("run", "-i", inputs, "--model", folder_with_copy, "-o", out, "--device", "cpu",
                    "--style-blend", "stripes=1")
    assert result.exit_code == 0, result.output
    assert "int8 copy" in result.output
    rows = [json.loads(line) for line in (out / "nstbatch-manifest.jsonl").read_text().splitlines()]
    assert all(row["made_with"]["int8"] is True for row in rows if row.get("made_with"))
    assert "int8 copy" in (out / "index.html").read_text()

    mine = tmp_path / "mine"
    shutil.copytree(folder_with_copy, mine / "tiny")
    shutil.copyfile(folder_with_copy / "model.onnx", mine / "solo.onnx")  # a model as a file, its copy beside it
    shutil.copyfile(int8_path(folder_with_copy / "model.onnx"), mine / "solo.int8.onnx")
    monkeypatch.setenv("NSTBATCH_MODELS", str(mine))
    names = [model.name for model in named_models()]
    assert names.count("tiny") == 1 and names.count("solo") == 1 and not any("int8" in name for name in names)
    engine, described = open_model("solo", device="cpu")
    assert described.path == mine / "solo.int8.onnx"
    listed = invoke("models")
    assert "an int8 copy for CPUs" in listed.output


def test_a_network_painting_by_region_gets_a_copy_and_nothing_is_left_in_the_working_folder(tiny_model, tmp_path,
                                                                                            monkeypatch):
    from nstbatch.exporter import export_stylizer

    small(monkeypatch, MEAN_TOLERANCE=255.0, DISTANCE_TOLERANCE=10.0)
    model = tmp_path / "map.onnx"
    export_stylizer(tiny_model[0] / "model.safetensors", model, check=False, style_map=True)
    files = photos(tmp_path / "photos")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    quantise(model, files, say=lambda line: None)
    assert describe(int8_path(model)).style_map and list(here.iterdir()) == []


def test_a_copy_of_a_replaced_float_file_is_refused_and_export_removes_it(folder_with_copy, tiny_model, tmp_path):
    folder = tmp_path / "tiny"
    shutil.copytree(folder_with_copy, folder)
    checkpoint = tiny_model[0] / "model.safetensors"
    from nstbatch.exporter import export_stylizer

    export_stylizer(checkpoint, folder / "model.onnx", style_map=True, check=False)  # replaced by another network
    with pytest.raises(ModelError, match="an int8 copy made from another model.onnx"):
        open_model(folder, device="cpu")
    result = invoke("export", "model", checkpoint, "-o", folder / "model.onnx", "--no-validate", "--style-map")
    assert result.exit_code == 0, result.output
    assert f"removed {int8_path(folder / 'model.onnx')}" in result.output
    engine, described = open_model(folder, device="cpu")
    assert described.path == folder / "model.onnx"


def test_models_add_takes_the_copy_along_and_a_replacement_without_one_drops_it(folder_with_copy, tiny_model, tmp_path,
                                                                                monkeypatch):
    mine = tmp_path / "mine"
    monkeypatch.setenv("NSTBATCH_MODELS", str(mine))
    added = invoke("models", "add", folder_with_copy, "--name", "tiny")
    assert added.exit_code == 0 and "with its int8 copy" in added.output, added.output
    engine, described = open_model("tiny", device="cpu")
    assert described.path == mine / "tiny.int8.onnx" and described.int8 is not None
    other = tmp_path / "other.onnx"
    from nstbatch.exporter import export_stylizer

    export_stylizer(tiny_model[0] / "model.safetensors", other, style_map=True, check=False)
    replaced = invoke("models", "add", other, "--name", "tiny", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert not (mine / "tiny.int8.onnx").exists()
    engine, described = open_model("tiny", device="cpu")
    assert described.path == mine / "tiny.onnx" and described.style_map
