"""The batch runner with a stand-in engine: reading ahead and writing behind keep results, failures
and the manifest exactly as a one-at-a-time loop would."""

import json

import pytest
import torch

from nstbatch.batch import runner
from nstbatch.batch.discover import discover
from nstbatch.batch.images import load_image, save_image
from nstbatch.batch.manifest import MANIFEST_NAME
from nstbatch.batch.runner import Settings, run_batch
from nstbatch.runtime.stylize import Result

from conftest import photo_like


class Inverter:
    """Paints a photo as its negative, so every output can be checked against its own input."""

    item_steps = 0

    def __init__(self):
        self.calls = []

    def __call__(self, content, init=None, callback=None):
        return self.stylise_batch(content)[0]

    def stylise_batch(self, contents, init=None, callback=None):
        self.calls.append(contents.shape[0])
        return [Result(1 - contents[i:i + 1], {"total": float(i)}, 1, 0.0) for i in range(contents.shape[0])]


@pytest.fixture
def folder(tmp_path):
    """Twelve photos (two sizes) with an unreadable file in the middle."""
    inputs = tmp_path / "in"
    for i in range(12):
        save_image(photo_like(24, 32 if i % 3 else 40, seed=i), inputs / f"p{i:02d}.png")
    (inputs / "p05b.png").write_bytes(b"not a picture")
    return inputs


def manifest_rows(out):
    return [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]


@pytest.mark.parametrize("batch_size", [1, 3])
def test_every_photo_is_painted_once_and_recorded_after_its_file(folder, tmp_path, batch_size):
    out = tmp_path / "out"
    jobs = discover(folder, out)
    engine = Inverter()
    summary = run_batch(jobs, engine, Settings(size=None, max_pixels=None, batch_size=batch_size), out)
    assert (summary.done, summary.failed) == (12, 1)
    assert sum(engine.calls) == 12 and max(engine.calls) <= batch_size
    rows = manifest_rows(out)
    assert sorted(r["input"] for r in rows) == sorted(str(j.source) for j in jobs)
    failed = [r for r in rows if r["status"] == "failed"]
    assert [r["input"] for r in failed] == [str(folder / "p05b.png")] and failed[0]["output"]
    for job in jobs:
        if job.status == "done":
            painted = load_image(job.output)
            assert torch.allclose(painted, 1 - load_image(job.source), atol=1 / 255)


def test_a_file_that_cannot_be_written_fails_alone(folder, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_save = runner.save_image

    def save_or_fill_the_disk(image, path):
        if path.name == "p07.png":
            raise OSError(28, "No space left on device")
        return real_save(image, path)

    monkeypatch.setattr(runner, "save_image", save_or_fill_the_disk)
    summary = run_batch(discover(folder, out), Inverter(), Settings(size=None, max_pixels=None), out)
    assert (summary.done, summary.failed) == (11, 2)
    assert any("p07.png" in line and "No space left" in line for line in summary.failures)
    rows = {r["input"].rsplit("/", 1)[1]: r for r in manifest_rows(out)}
    assert rows["p07.png"]["status"] == "failed" and rows["p07.png"]["losses"] is None
    assert rows["p08.png"]["status"] == "done" and not (out / "p07.png").exists()
