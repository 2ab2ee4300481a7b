"""`nstbatch run` as a hostile but realistic user meets it: a re-run never passes off a wrong picture as
done, and no failure (a full disk, a torn manifest, a signal, a second run) ends in a traceback.

Most tests paint with a stand-in network (each result the photo's negative), so every result can be
checked against the photo it must have been made from."""

import fcntl
import json
import os
import signal

import pytest
import torch
from typer.testing import CliRunner

from nstbatch.batch import gallery, manifest, shards
from nstbatch.media.images import load_image, save_image
from nstbatch import engines
from nstbatch.cli import app
from nstbatch.runtime.stylize import Result

from conftest import photo_like


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


class Negative:
    """A stand-in network: paints each photo as its negative; ``on_call(n)`` runs before the n-th pass."""

    item_steps = 0
    min_side = (1, "")

    def __init__(self):
        self.calls = 0
        self.on_call = None

    def __call__(self, content, init=None, callback=None):
        return self.stylize_batch(content)[0]

    def stylize_batch(self, contents, init=None, callback=None):
        self.calls += 1
        if self.on_call is not None:
            self.on_call(self.calls)
        return [Result(1 - contents[i:i + 1], {"total": 0.0}, 1, 0.0) for i in range(contents.shape[0])]


@pytest.fixture
def network(monkeypatch):
    """`run -m ANY` paints with a Negative; its made_with is the working size."""
    engine = Negative()

    def network_engine(model, size, max_size, *rest):
        return engines.Chosen(engine, size, None, {"model": str(model)}, "a stand-in network", "stand-in",
                              {"engine": "stand-in", "size": size})

    monkeypatch.setattr(engines, "network_engine", network_engine)
    return engine


@pytest.fixture
def photos(tmp_path):
    inputs = tmp_path / "in"
    for i, name in enumerate(["a.png", "sub/b.png", "sub/c.jpg"]):
        save_image(photo_like(30, 40, seed=i), inputs / name)
    return inputs


def run(inputs, out, *more, size=20):
    return invoke("run", "-i", inputs, "-m", "net.onnx", "-o", out, "--size", size, "--quiet", *more)


def rows(out, name=manifest.MANIFEST_NAME):
    return [json.loads(line) for line in (out / name).read_text().splitlines()]


def negative_of(result, photo, size):
    return torch.allclose(load_image(result), 1 - load_image(photo, size), atol=1.5 / 255)


def no_traceback(result):
    return result.exception is None or isinstance(result.exception, SystemExit)


def test_another_spelling_of_the_output_folder_still_finds_what_made_its_results(photos, tmp_path, network,
                                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("in", "out").exit_code == 0
    for spelling in [tmp_path / "out", "./out/", "in/../out"]:
        refused = run("in", spelling, size=16)
        assert refused.exit_code == 2 and "were made with other settings (size differ" in refused.output
    again = run("in", tmp_path / "out")
    assert again.exit_code == 0 and "0 done, 3 skipped" in again.output


def test_the_inputs_folder_is_never_the_output_and_photos_are_never_replaced(photos, network):
    before = {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()}
    for extra in [[], ["--overwrite"]]:
        result = run(photos, photos, *extra)
        assert result.exit_code == 2 and "--output is the --inputs folder" in result.output
    result = run(photos / "a.png", photos, "--overwrite")
    assert result.exit_code == 2 and "would replace the input" in result.output
    assert {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()} == before and network.calls == 0


def test_a_photo_replaced_since_its_result_was_made_is_painted_again(photos, tmp_path, network):
    out = tmp_path / "out"
    assert run(photos, out).exit_code == 0
    (photos / "sub" / "b.png").write_bytes((photos / "a.png").read_bytes())  # another photo copied over it
    again = run(photos, out)
    assert again.exit_code == 0 and "1 done, 2 skipped" in again.output
    assert negative_of(out / "sub" / "b.png", photos / "a.png", 20)
    os.utime(photos / "a.png", ns=(10**18, 10**18))  # touched, not changed: the content says it is the same
    assert "0 done, 3 skipped" in run(photos, out).output


def test_a_result_without_a_row_is_redone_and_a_torn_row_is_named(photos, tmp_path, network):
    out = tmp_path / "out"
    assert run(photos, out).exit_code == 0
    path = out / manifest.MANIFEST_NAME
    path.write_bytes(path.read_bytes()[:-40])  # the last row torn, as a full disk or a kill leaves it
    again = run(photos, out, size=16)  # other settings: two results are refused...
    assert again.exit_code == 2 and "2 of the results this run would skip were made with other settings" in again.output
    assert f"{path}, line 3: not a whole JSON row" in again.output
    path.unlink()  # ...and with no rows at all, nothing proves any result: all are painted again
    redo = run(photos, out, size=16)
    assert redo.exit_code == 0 and "3 done, 0 skipped" in redo.output and "3 existing results" in redo.output
    assert load_image(out / "a.png").shape[-1] == 16 and negative_of(out / "sub" / "c.png", photos / "sub" / "c.jpg", 16)


def test_a_second_run_into_a_folder_in_use_refuses_at_once(photos, tmp_path, network):
    out = tmp_path / "out"
    out.mkdir()
    held = os.open(out / ".nstbatch.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)  # as a run in another process holds it
    try:
        busy = run(photos, out)
        assert busy.exit_code == 2 and "another nstbatch run is writing to this folder" in busy.output
        assert network.calls == 0 and sorted(os.listdir(out)) == [".nstbatch.lock"]
    finally:
        os.close(held)
    assert run(photos, out).exit_code == 0  # released when the other process ends


def test_a_full_disk_for_the_manifest_stops_the_run_in_one_line_with_whole_rows(photos, tmp_path, network,
                                                                                   monkeypatch):
    out = tmp_path / "out"
    real_write, written = os.write, []

    def fill_up_after_one_row(fd, data):
        if b'"status"' in data and written:
            real_write(fd, data[:10])
            raise OSError(28, "No space left on device")
        written.append(data)
        return real_write(fd, data)

    monkeypatch.setattr(manifest.os, "write", fill_up_after_one_row)
    stopped = run(photos, out)
    assert stopped.exit_code == 1 and no_traceback(stopped), stopped.output
    assert "1 done, 0 skipped (already there), 0 failed; stopped:" in stopped.output
    assert "No space left on device" in stopped.output and (out / "index.html").exists()
    assert [r["result"] for r in rows(out)] == ["a.png"]  # whole rows only
    monkeypatch.setattr(manifest.os, "write", real_write)
    resumed = run(photos, out)
    assert resumed.exit_code == 0 and "2 done, 1 skipped" in resumed.output


def test_the_gallery_plan_and_output_folder_failing_are_one_line_each(photos, tmp_path, network, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gallery, "atomic_path", no_space)
    out = tmp_path / "out"
    result = run(photos, out)
    assert result.exit_code == 0 and no_traceback(result) and "3 done" in result.output
    assert result.output.count("cannot write the gallery") == 1
    monkeypatch.setattr(shards, "atomic_path", no_space)
    result = run(photos, tmp_path / "out2")
    assert result.exit_code == 1 and no_traceback(result) and "cannot write the plan (No space left on device)" in result.output
    assert network.calls == 3 and not list((tmp_path / "out2").glob("*.png"))  # nothing more painted
    (tmp_path / "file").write_text("x")
    result = run(photos, tmp_path / "file" / "sub")
    assert result.exit_code == 2 and no_traceback(result) and "cannot create the --output folder" in result.output


def test_names_at_the_length_limit_are_painted(tmp_path, network):
    name = "é" * 100 + "x" * 47 + ".png"  # 251 bytes
    save_image(photo_like(20, 20), tmp_path / "in" / name)
    result = run(tmp_path / "in", tmp_path / "out")
    assert result.exit_code == 0 and "1 done" in result.output, result.output
    assert negative_of(tmp_path / "out" / name, tmp_path / "in" / name, 20)


def test_manifest_rows_of_the_wrong_shape_crash_neither_run_nor_status(photos, tmp_path, network):
    out = tmp_path / "out"
    assert run(photos, out).exit_code == 0
    with open(out / manifest.MANIFEST_NAME, "a") as f:
        f.write(json.dumps({"input": ["x"], "output": "a.png", "status": "done"}) + "\n")
        f.write(json.dumps({"input": "x", "output": "a.png", "status": "done", "made_with": "junk"}) + "\n")
    again = run(photos, out)
    assert again.exit_code == 0 and no_traceback(again) and "0 done, 3 skipped" in again.output
    assert "line 4: 'input' is not a path" in again.output and "line 5: 'made_with' is not an object" in again.output
    status = invoke("status", out)
    assert status.exit_code == 0 and no_traceback(status) and "all: 3 done, 0 failed, 0 to do (of 3)" in status.output


def test_what_a_killed_run_left_half_written_is_cleared_at_the_start(photos, tmp_path, network):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / ".b.png.x7k2_q9a.part").write_bytes(b"half a picture")
    result = run(photos, out, "--no-gallery")
    assert result.exit_code == 0 and "removed 1 unfinished temporary file" in result.output
    assert sorted(p.name for p in out.rglob("*") if p.name.startswith(".")) == [".nstbatch.lock"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_batch_cleanly_and_the_next_run_resumes(photos, tmp_path, network, sig):
    out = tmp_path / "out"

    def unhandled(signum, frame):  # what a run that does not handle the signal would meet (here: a failure)
        raise RuntimeError(f"{signal.Signals(signum).name} was not handled")

    before = signal.signal(sig, unhandled)
    try:
        network.on_call = lambda n: os.kill(os.getpid(), sig) if n == 2 else None
        stopped = run(photos, out)
    finally:
        signal.signal(sig, before)
    assert stopped.exit_code == 128 + sig and no_traceback(stopped), stopped.output
    assert f"1 done, 0 skipped (already there), 0 failed; stopped: {sig.name}" in stopped.output
    assert "run the same command again" in stopped.output and "1 done" in (out / "index.html").read_text()
    assert [r["result"] for r in rows(out)] == ["a.png"] and not (out / "sub" / "b.png").exists()
    assert signal.getsignal(sig) is before  # the handler is the run's alone
    network.on_call = None
    resumed = run(photos, out)
    assert resumed.exit_code == 0 and "2 done, 1 skipped" in resumed.output
    assert sorted(r["result"] for r in rows(out) if r["status"] == "done") == ["a.png", "sub/b.png", "sub/c.png"]


def test_a_cpu_run_through_a_new_model_prints_no_provider_noise(tmp_path, tiny_model, capfd, monkeypatch):
    from nstbatch.onnx import providers

    monkeypatch.setenv("NSTBATCH_CACHE", str(tmp_path / "cache"))  # exported and validated by this run
    monkeypatch.setattr(providers, "_loadable", {})
    save_image(photo_like(20, 20), tmp_path / "in" / "a.png")
    result = invoke("run", "-i", tmp_path / "in", "-m", tiny_model[0] / "model.safetensors", "-o", tmp_path / "out",
                    "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.output
    printed = capfd.readouterr()
    assert "onnxruntime" not in printed.err + printed.out and "ExecutionProvider" not in printed.err + printed.out
