"""Models by name (issue 44): `--model NAME` reaches the bundled networks from any folder, then the user's
own ($NSTBATCH_MODELS), which `nstbatch models add` fills and `nstbatch models` lists; a name that reaches
nothing says which there are."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nstbatch.records import file_sha256

from conftest import invoke

BUNDLED = Path(__file__).resolve().parent.parent / "nstbatch" / "models"


@pytest.fixture
def yours(tmp_path, monkeypatch):
    """An empty models folder of the user's own, and a working folder away from the clone."""
    folder = tmp_path / "my-models"
    monkeypatch.setenv("NSTBATCH_MODELS", str(folder))
    away = tmp_path / "away"
    away.mkdir()
    monkeypatch.chdir(away)
    return folder


def rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "nstbatch-manifest.jsonl").read_text().splitlines()]


def test_a_bundled_network_by_name_paints_what_its_file_paints(files, tmp_path, yours):
    inputs, _ = files
    by_name = invoke("run", "-i", inputs, "-m", "starry_night", "-o", tmp_path / "by-name", "--size", 32, "-q",
                     "--device", "cpu")
    painted_with = BUNDLED / "starry_night" / "model.int8.onnx"  # on a CPU, a name's int8 copy (test_int8.py)
    by_path = invoke("run", "-i", inputs, "-m", painted_with, "-o", tmp_path / "by-path",
                     "--size", 32, "-q", "--device", "cpu")
    assert by_name.exit_code == 0 and by_path.exit_code == 0, by_name.output + by_path.output
    for name in ("a.png", "sub/b.png"):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "by-name" / name)),
                                      np.asarray(Image.open(tmp_path / "by-path" / name)))
    made_with = rows(tmp_path / "by-name")[0]["made_with"]
    assert made_with["model_sha256"] == file_sha256(painted_with)
    again = invoke("run", "-i", inputs, "-m", "starry_night", "-o", tmp_path / "by-name", "--size", 32, "--device", "cpu")
    assert again.exit_code == 0 and "0 done, 2 skipped" in again.output  # a name resumes like its file


def test_a_name_that_reaches_nothing_says_what_there_is(files, tmp_path, yours):
    inputs, _ = files
    result = invoke("run", "-i", inputs, "-m", "starry", "-o", tmp_path / "out", "--device", "cpu")
    assert result.exit_code == 2
    assert "starry: no model of that name (there are: starry_kandinsky, starry_night, starry_night_steady" in result.output
    assert not (tmp_path / "out").exists()
    missing = invoke("run", "-i", inputs, "-m", tmp_path / "gone.onnx", "-o", tmp_path / "out", "--device", "cpu")
    assert missing.exit_code == 2 and "gone.onnx: no such model file" in missing.output


def test_models_lists_the_bundled_networks_with_their_paintings(yours):
    listed = invoke("models")
    assert listed.exit_code == 0, listed.output
    assert "starry_kandinsky (bundled" in listed.output and "starry_night_steady (bundled" in listed.output
    assert "starry_night_vangogh, composition_vii_kandinsky" in listed.output  # the names --style-blend takes
    assert "regions in one pass" in listed.output and "steady on video" in listed.output
    assert str(yours) in listed.output  # where the user's own go


def test_a_model_added_is_found_by_name_from_anywhere_and_names_are_not_taken_twice(tiny_onnx, files, tmp_path, yours):
    inputs, _ = files
    added = invoke("models", "add", tiny_onnx, "--name", "mine")
    assert added.exit_code == 0, added.output
    assert (yours / "mine.onnx").read_bytes() == tiny_onnx.read_bytes()
    assert "mine (yours" in invoke("models").output
    painted = invoke("run", "-i", inputs, "-m", "mine", "-o", tmp_path / "out", "--size", 32, "-q", "--device", "cpu",
                     "--style-blend", "dots=1")
    assert painted.exit_code == 0, painted.output
    assert rows(tmp_path / "out")[0]["made_with"]["model_sha256"] == file_sha256(tiny_onnx)
    twice = invoke("models", "add", tiny_onnx, "--name", "mine")
    assert twice.exit_code == 2 and "there is a model of that name already" in twice.output
    assert invoke("models", "add", tiny_onnx, "--name", "mine", "--overwrite").exit_code == 0
    bundled = invoke("models", "add", tiny_onnx, "--name", "starry_night", "--overwrite")
    assert bundled.exit_code == 2 and "choose another --name" in bundled.output
    assert not (yours / "starry_night.onnx").exists()
    (tmp_path / "photo.onnx").write_bytes(b"not a model")
    foreign = invoke("models", "add", tmp_path / "photo.onnx")
    assert foreign.exit_code == 2 and "photo.onnx" in foreign.output and not (yours / "photo.onnx").exists()


def test_a_name_travels_to_ray_workers_as_its_file(yours):
    from nstbatch.engines import NetworkSettings, build

    chosen = build(NetworkSettings(Path("starry_night"), device="cpu"))
    # not ./starry_night; on a CPU its int8 copy, so every worker paints with the file the driver chose
    assert chosen.settings.model == (BUNDLED / "starry_night" / "model.int8.onnx").absolute()
    assert chosen.record["model"] == "starry_night"


def test_info_describes_a_model_by_name(yours):
    result = invoke("info", "--model", "starry_night_steady")
    assert result.exit_code == 0 and "starry_night_vangogh" in result.output
    assert str(BUNDLED / "starry_night_steady" / "model.onnx") in result.output


def test_a_folder_called_after_a_model_does_not_hide_its_name(files, tmp_path, yours):
    inputs, _ = files
    Path("starry_night").mkdir()  # e.g. the output of an earlier run, named after the model
    result = invoke("run", "-i", inputs, "-m", "starry_night", "-o", "starry_night", "--size", 32, "-q", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert (Path("starry_night") / "a.png").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = invoke("run", "-i", inputs, "-m", empty, "-o", tmp_path / "out", "--device", "cpu")
    assert refused.exit_code == 2 and "a folder without a model" in refused.output
