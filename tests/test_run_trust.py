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

from nstbatch.batch import gallery, manifest, shards
from nstbatch.media.images import load_image, save_image
from nstbatch import engines
from nstbatch.runtime.stylize import Result

from conftest import invoke, photo_like



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

    def network_engine(settings):
        return engines.Chosen(engine, settings.size, None, {"model": str(settings.model)}, "a stand-in network",
                              "stand-in", {"engine": "stand-in", "size": settings.size})

    monkeypatch.setitem(engines.ENGINES, engines.NetworkSettings, network_engine)
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
    (out / "sub" / ".nstbatch-tmp.b.png.x7k2_q9a.part").write_bytes(b"half a picture")
    result = run(photos, out, "--no-gallery")
    assert result.exit_code == 0 and "removed 1 unfinished temporary file" in result.output
    assert sorted(p.name for p in out.rglob("*") if p.name.startswith(".")) == []


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


# Issue 40: the edges of `run` and `status` a hostile but realistic user finds. Each test failed on 749b97c.

def bomb_png(path, side=40_000):
    """A PNG that says it is side x side pixels in a few bytes: Pillow refuses it as a decompression bomb."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("planted", [".nstbatch.lock", manifest.MANIFEST_NAME])
def test_a_link_planted_for_nstbatchs_own_files_is_refused_and_nothing_outside_changes(photos, tmp_path, network,
                                                                                      planted):
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    victim.write_text("the user's own file\n")
    out.mkdir()
    (out / planted).symlink_to(victim)
    result = run(photos, out)
    assert result.exit_code == 2 and no_traceback(result), result.output
    assert "is a link" in result.output and "remove it" in result.output
    assert victim.read_text() == "the user's own file\n"


def test_a_planted_shard_lock_link_is_refused(photos, tmp_path, network):
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    victim.write_text("kept\n")
    out.mkdir()
    (out / ".nstbatch.shard-0-of-2.lock").symlink_to(victim)
    result = run(photos, out, "--shard", "0/2")
    assert result.exit_code == 2 and "is a link" in result.output and victim.read_text() == "kept\n"


def test_results_never_go_through_a_linked_subfolder_out_of_the_output(photos, tmp_path, network):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "sub").symlink_to(elsewhere)
    result = run(photos, out)
    assert result.exit_code == 1 and no_traceback(result), result.output
    assert "is a link leading out of the output folder" in result.output
    assert list(elsewhere.iterdir()) == [] and (out / "a.png").is_file()


def test_a_users_file_that_looks_like_a_temporary_one_is_never_removed(photos, tmp_path, network):
    out = tmp_path / "out"
    out.mkdir()
    own = out / ".holiday.jpg.abcd1234.part"  # the shape 749b97c removed anywhere under --output
    own.write_bytes(b"a download in progress")
    assert run(photos, out).exit_code == 0
    assert own.read_bytes() == b"a download in progress"


def test_a_rerun_with_nothing_to_do_adds_no_rows(photos, tmp_path, network):
    out = tmp_path / "out"
    assert run(photos, out).exit_code == 0
    before = (out / manifest.MANIFEST_NAME).read_bytes()
    for _ in range(3):
        again = run(photos, out)
        assert again.exit_code == 0 and "0 done, 3 skipped" in again.output
    assert (out / manifest.MANIFEST_NAME).read_bytes() == before
    assert invoke("status", out).exit_code == 0


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_a_device_named_like_a_photo_fails_in_one_line_without_hanging(tmp_path, kind):
    import subprocess
    import sys

    inputs = tmp_path / "in"
    save_image(photo_like(30, 40), inputs / "a.png")
    if kind == "fifo":
        os.mkfifo(inputs / "b.jpg")
    else:
        (inputs / "b.jpg").symlink_to("/dev/zero")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "nstbatch", "run", "-i", str(inputs), "-m",
               str(engines_model()), "-o", str(out), "--size", "20", "--quiet"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a {kind} named b.jpg hung the run")
    assert done.returncode == 1, done.stderr + done.stdout
    assert "b.jpg" in done.stdout + done.stderr and "not a regular file" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr and (out / "a.png").is_file()
    status = subprocess.run([sys.executable, "-m", "nstbatch", "status", str(out)], capture_output=True, text=True,
                            timeout=60)
    assert status.returncode == 1 and "Traceback" not in status.stderr


def engines_model():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "nstbatch" / "models" / "starry_night" / "model.onnx"


def written_now(path):
    return {"size": path.stat().st_size, "mtime_ns": path.stat().st_mtime_ns}


def test_status_does_not_hang_on_a_row_whose_source_is_a_fifo(photos, tmp_path, network):
    import threading

    out = tmp_path / "out"
    assert run(photos, out).exit_code == 0
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with open(out / manifest.MANIFEST_NAME, "a") as f:  # a row whose source has a FIFO's size, not its time
        f.write(json.dumps({"input": str(fifo), "output": str(out / "a.png"), "result": "a.png", "status": "done",
                            "source": {"path": str(fifo), "size": 0, "mtime_ns": 1, "sha256": "0" * 64},
                            "written": written_now(out / "a.png")}) + "\n")
    answer = {}
    worker = threading.Thread(target=lambda: answer.update(result=invoke("status", out)), daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():
        with open(fifo, "wb"):  # let the stuck reader go, so the test process can end
            pass
        pytest.fail("status hung on a FIFO")
    assert answer["result"].exit_code == 1 and "2 done, 0 failed, 1 to do" in answer["result"].output


def test_hostile_rows_and_plans_in_status_are_one_line_each(photos, tmp_path, network):
    out = tmp_path / "out"
    assert run(photos, out).exit_code == 0
    with open(out / manifest.MANIFEST_NAME, "a") as f:
        f.write(json.dumps({"input": "x", "output": "a.png", "result": "a.png", "status": "done",
                            "source": {"path": 7, "size": 1, "mtime_ns": 1, "sha256": "x"},
                            "written": written_now(out / "a.png")}) + "\n")
    plan = json.loads((out / shards.PLAN_NAME).read_text())
    for name, change in [("nstbatch-plan.shard-0-of-2.json", {"shard": "0/2"}),
                         ("nstbatch-plan.shard-1-of-2.json", {"shard": [1, 2], "inputs": [{"input": 3, "result": 4}]}),
                         ("nstbatch-plan.shard-0-of-9.json", {"shard": [0, 100_000_000]})]:
        (out / name).write_text(json.dumps({**plan, **change}))
    status = invoke("status", out)
    assert no_traceback(status), status.output
    assert status.exit_code == 0 and "all: 3 done, 0 failed, 0 to do (of 3)" in status.output
    assert "'source.path' is not text" in status.output
    assert status.output.count("damaged plan file") == 3


def test_status_says_failed_when_the_latest_run_failed_a_photo_an_older_row_proved(tmp_path):
    from conftest import painting_like

    from test_regions_batch import left_half, save_mask

    inputs = tmp_path / "in"
    save_image(photo_like(32, 48, 0), inputs / "a.png")
    save_image(photo_like(32, 32, 1), inputs / "b.png")
    masks = tmp_path / "masks"
    save_mask(left_half(32, 48), masks / "a.png")
    save_mask(left_half(32, 32), masks / "b.png")
    style = save_image(painting_like(), tmp_path / "style.png")
    out = tmp_path / "out"
    args = ("run", "-i", inputs, "-o", out, "--region", f"{masks}=photo", "--style", style, "--size", 32,
            "--iterations", 2, "--scales", "off", "--quiet")
    assert invoke(*args).exit_code == 0
    assert invoke("status", out).exit_code == 0
    save_mask(left_half(32, 32), masks / "a.png")  # another shape now: a's run fails, its old result stays
    assert invoke(*args).exit_code == 1
    status = invoke("status", out)
    assert status.exit_code == 1 and "all: 1 done, 1 failed, 0 to do (of 2)" in status.output, status.output
    save_mask(left_half(32, 48), masks / "a.png")  # as it was: the old result is proven again, and said so
    assert invoke(*args).exit_code == 0
    assert invoke("status", out).exit_code == 0
    save_mask(1 - left_half(32, 48), masks / "a.png")  # changed with no run since: no longer done
    status = invoke("status", out)
    assert status.exit_code == 1 and "all: 1 done, 0 failed, 1 to do (of 2)" in status.output, status.output


def test_decompression_bombs_as_masks_and_frames_are_one_line_each(tmp_path):
    from conftest import painting_like

    from test_regions_batch import left_half, save_mask

    inputs = tmp_path / "in"
    save_image(photo_like(32, 48, 0), inputs / "a.png")
    save_image(photo_like(32, 48, 1), inputs / "b.png")
    style = save_image(painting_like(), tmp_path / "style.png")
    bomb = bomb_png(tmp_path / "bomb.png")
    common = ("--style", style, "--size", 32, "--iterations", 2, "--scales", "off", "--quiet")
    single = invoke("run", "-i", inputs, "-o", tmp_path / "o1", "--region", f"{bomb}=photo", *common)
    assert single.exit_code == 2 and no_traceback(single) and "bomb.png" in single.output, single.output
    assert "over the limit" in single.output
    segmented = invoke("run", "-i", inputs, "-o", tmp_path / "o2", "--regions", bomb, "--region-style", "red=photo",
                       *common)
    assert segmented.exit_code == 2 and no_traceback(segmented) and "bomb.png" in segmented.output
    assert "over the limit" in segmented.output
    masks = tmp_path / "masks"
    bomb_png(masks / "a.png")
    save_mask(left_half(32, 48), masks / "b.png")
    out = tmp_path / "o3"
    folder = invoke("run", "-i", inputs, "-o", out, "--region", f"{masks}=photo", *common)
    assert folder.exit_code == 1 and no_traceback(folder), folder.output
    assert "a.png" in folder.output and "over the limit" in folder.output
    assert [(row["result"], row["status"]) for row in rows(out)] == [("a.png", "failed"), ("b.png", "done")]
    frames = tmp_path / "frames"
    save_image(photo_like(32, 48, 0), frames / "frame_1.png")
    bomb_png(frames / "frame_2.png")
    video = invoke("video", "-i", frames, "-m", engines_model(), "-o", tmp_path / "v.mp4", "--quiet")
    assert video.exit_code == 2 and no_traceback(video) and "frame_2.png" in video.output, video.output


def test_a_mask_whose_path_holds_an_equals_sign_can_be_given(photos, tmp_path):
    from conftest import painting_like

    from test_regions_batch import left_half, save_mask

    mask = save_mask(left_half(30, 40), tmp_path / "a=b" / "sky=1.png")  # a 40x30 photo, painted at 32 px
    style = save_image(painting_like(), tmp_path / "style.png")
    result = invoke("run", "-i", photos / "a.png", "-o", tmp_path / "out", "--region", f"{mask}=photo", "--style",
                    style, "--size", 32, "--iterations", 2, "--scales", "off", "--quiet")
    assert result.exit_code == 0, result.output


def test_weights_holding_python_objects_are_one_line(photos, tmp_path):
    import pickle

    weights = tmp_path / "weights.pth"
    weights.write_bytes(pickle.dumps({"features.0.weight": os.getcwd}))
    result = invoke("run", "-i", photos / "a.png", "-o", tmp_path / "out", "--style", photos / "a.png", "--weights",
                    weights, "--size", 20, "--iterations", 1, "--quiet")
    assert result.exit_code == 2 and no_traceback(result), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "weights.pth" in lines[0] and "weights_only" not in result.output, result.output
