"""The batch runner with a stand-in engine: reading ahead and writing behind keep results, failures
and the manifest exactly as a one-at-a-time loop would."""

import json

import pytest
import torch

from nstbatch.batch import runner
from nstbatch.batch.discover import discover
from nstbatch.media.images import load_image, save_image
from nstbatch.batch.manifest import MANIFEST_NAME
from nstbatch.batch.runner import Settings, run_batch
from nstbatch.runtime.stylize import Result

from conftest import photo_like


class Inverter:
    """Paints a photo as its negative, so every output can be checked against its own input."""

    item_steps = 0
    min_side = (1, "")

    def __init__(self):
        self.calls = []

    def __call__(self, content, init=None, callback=None):
        return self.stylize_batch(content)[0]

    def stylize_batch(self, contents, init=None, callback=None):
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

    def save_or_fill_the_disk(image, path, **options):
        if path.name == "p07.png":
            raise OSError(28, "No space left on device")
        return real_save(image, path, **options)

    monkeypatch.setattr(runner, "save_image", save_or_fill_the_disk)
    summary = run_batch(discover(folder, out), Inverter(), Settings(size=None, max_pixels=None), out)
    assert (summary.done, summary.failed) == (11, 2)
    assert any("p07.png" in line and "No space left" in line for line in summary.failures)
    rows = {r["input"].rsplit("/", 1)[1]: r for r in manifest_rows(out)}
    assert rows["p07.png"]["status"] == "failed" and rows["p07.png"]["losses"] is None
    assert rows["p08.png"]["status"] == "done" and not (out / "p07.png").exists()


class Broken(Inverter):
    """Raises the given exceptions for the first photos it is given, then paints the rest."""

    def __init__(self, failures):
        super().__init__()
        self.failures = failures  # exception to raise, in order, for the first photos painted

    def stylize_batch(self, contents, init=None, callback=None):
        if self.failures:
            raise self.failures.pop(0)
        return super().stylize_batch(contents)


def test_no_library_error_text_reaches_the_user_and_the_batch_goes_on(folder, tmp_path):
    out = tmp_path / "out"
    failures = [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), KeyError("relu9_9"),
                ZeroDivisionError("division by zero"), FloatingPointError("the objective became nan; lower the weights")]
    summary = run_batch(discover(folder, out), Broken(failures), Settings(size=None, max_pixels=None), out)
    assert (summary.done, summary.failed) == (8, 5)
    reasons = [line.split(": ", 1)[1] for line in summary.failures]
    assert "ran out of memory at 40x24: give a smaller --size, or --batch-size 1" in reasons
    assert "internal error in nstbatch, please report it with this line: KeyError: 'relu9_9'" in reasons
    assert any(r.startswith("internal error in nstbatch") and "ZeroDivisionError" in r for r in reasons)
    assert "the objective became nan; lower the weights" in reasons
    assert not any("Traceback" in r or "CUDA out of memory" in r for r in reasons)


def test_a_picture_too_thin_for_the_engine_fails_with_its_sizes(tmp_path):
    inputs = tmp_path / "in"
    save_image(photo_like(4, 300), inputs / "sliver.png")
    save_image(photo_like(24, 32), inputs / "fine.png")
    engine = Inverter()
    engine.min_side = (16, "VGG-19 needs for relu5_1")
    out = tmp_path / "out"
    summary = run_batch(discover(inputs, out), engine, Settings(size=64, max_pixels=None), out)
    assert (summary.done, summary.failed) == (1, 1)
    assert summary.failures == [f"{inputs / 'sliver.png'}: is 300x4, 64x1 at the working size: a side under the 16 px "
                                "VGG-19 needs for relu5_1; crop it, or give a larger --size"]


class Sequential:
    """A second executor over the batch's steps, one job at a time, no threads: what a cluster backend
    does per item on its workers, with the driver recording (``runner.drive``)."""

    abandoned = "the job being painted was abandoned"

    def __init__(self, engine):
        self.engine = engine

    def run(self, jobs, settings, record, reporter):
        for job in jobs:
            content, seconds = runner.load_photo(job, settings, self.engine.min_side)
            results = None
            if content is not None:
                results, seconds = runner.paint_group([(job, content)], self.engine, settings, reporter)
            if results is None:
                record(job, seconds)
                continue
            record(job, seconds, *runner.written(job, lambda: runner.write_result(results[0].image, job, None),
                                                 {"total": 0.0}))


def sequential(jobs, engine, settings, output_dir):
    return runner.drive(Sequential(engine), jobs, settings, output_dir)


def test_a_second_executor_over_the_same_steps_makes_the_same_batch(folder, tmp_path):
    made = {}
    for name, execute in [("threads", run_batch), ("sequential", sequential)]:
        out = tmp_path / name
        summary = execute(discover(folder, out), Broken([KeyError("relu9_9")]), Settings(size=None, max_pixels=None),
                          out)
        rows = [{k: v for k, v in r.items() if k not in ("output", "seconds", "finished", "written", "losses")}
                for r in manifest_rows(out)]
        pictures = {p.name: load_image(p) for p in out.glob("*.png")}
        made[name] = (summary.line(), summary.failures, sorted(rows, key=lambda r: r["input"]), pictures)
    threads, alone = made["threads"], made["sequential"]
    assert threads[:3] == alone[:3] and threads[0] == "11 done, 0 skipped (already there), 2 failed"
    assert threads[3].keys() == alone[3].keys() and all(torch.equal(threads[3][k], alone[3][k]) for k in threads[3])
