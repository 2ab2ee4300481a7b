"""The nstbatch command end to end, through typer's CliRunner, on tiny images."""

import json
from pathlib import Path

import pytest

from nstbatch import __version__
from nstbatch.media.images import load_image, save_image

from conftest import invoke, photo_like

FAST = ["--size", "32", "--iterations", "3", "--device", "cpu", "--quiet"]



def manifest(out):
    return [json.loads(line) for line in (out / "nstbatch-manifest.jsonl").read_text().splitlines()]


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_run_folder_mirrors_tree_and_writes_manifest(files, tmp_path):
    inputs, style = files
    out = tmp_path / "out"
    result = invoke("run", "--inputs", inputs, "--style", style, "--output", out, *FAST)
    assert result.exit_code == 0, result.output
    assert "2 done, 0 skipped (already there), 0 failed" in result.output
    assert load_image(out / "a.png").shape == (1, 3, 27, 32)
    assert load_image(out / "sub" / "b.png").shape == (1, 3, 32, 28)
    rows = manifest(out)
    assert [r["status"] for r in rows] == ["done", "done"]
    assert rows[0]["losses"]["total"] > 0 and rows[0]["options"]["iterations"] == 3 and rows[0]["seconds"] > 0


def test_rerun_skips_and_overwrite_redoes(files, tmp_path):
    inputs, style = files
    out = tmp_path / "out"
    assert invoke("run", "-i", inputs, "-s", style, "-o", out, *FAST).exit_code == 0
    first = (out / "a.png").stat().st_mtime_ns
    again = invoke("run", "-i", inputs, "-s", style, "-o", out, *FAST)
    assert again.exit_code == 0 and "0 done, 2 skipped" in again.output
    assert (out / "a.png").stat().st_mtime_ns == first
    redo = invoke("run", "-i", inputs, "-s", style, "-o", out, "--overwrite", *FAST)
    assert redo.exit_code == 0 and "2 done, 0 skipped" in redo.output
    assert (out / "a.png").stat().st_mtime_ns != first
    # A re-run that finds its results proven adds no row: the manifest grows with results, not runs.
    assert [r["status"] for r in manifest(out)] == ["done", "done", "done", "done"]


def test_results_made_with_other_settings_are_refused_not_skipped(files, tmp_path):
    inputs, style = files
    out = tmp_path / "out"
    assert invoke("run", "-i", inputs, "-s", style, "-o", out, *FAST).exit_code == 0
    rows_before = manifest(out)
    # Same path, another painting: the content hash differs, so these are not the pictures asked for.
    other = save_image(photo_like(40, 40, seed=5), tmp_path / "style.png")
    assert other == style
    refused = invoke("run", "-i", inputs, "-s", style, "-o", out, *FAST)
    assert refused.exit_code == 2, refused.output
    assert "2 of the results this run would skip were made with other settings (style_sha256 differ" in refused.output
    assert "--overwrite" in refused.output and "Traceback" not in refused.output
    assert manifest(out) == rows_before  # refused before any work
    more = invoke("run", "-i", inputs, "-s", style, "-o", out, *FAST[:-1], "--iterations", "4")
    assert more.exit_code == 2 and "iterations, style_sha256 differ" in more.output
    # Options that do not change the picture do not count: --quiet, --providers, where it runs.
    assert invoke("run", "-i", inputs, "-s", style, "-o", out, "--overwrite", *FAST).exit_code == 0
    again = invoke("run", "-i", inputs, "-s", style, "-o", out, *FAST[:-1], "--providers", "cpu")
    assert again.exit_code == 0 and "0 done, 2 skipped" in again.output


def test_bad_inputs_fail_alone_and_exit_1(files, tmp_path):
    inputs, style = files
    (inputs / "empty.png").write_bytes(b"")
    (inputs / "words.jpg").write_text("not a picture")
    good = (inputs / "a.png").read_bytes()
    (inputs / "cut.png").write_bytes(good[: len(good) // 2])
    save_image(photo_like(60, 60), inputs / "huge.png")  # 3,600 pixels
    save_image(photo_like(4, 300), inputs / "sliver.png")  # 32x1 at the working size: nothing left at relu5_1
    out = tmp_path / "out"
    result = invoke("run", "-i", inputs, "-s", style, "-o", out, "--max-pixels", 2000, *FAST)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any("sliver.png: is 300x4, 32x1 at the working size: a side under the 16 px VGG-19 needs for relu5_1" in line
               for line in lines)
    assert any("empty.png" in line and "empty (0 bytes)" in line for line in lines)
    assert any("words.jpg" in line and "not an image" in line for line in lines)
    assert any("cut.png" in line and "truncated" in line for line in lines)
    assert any("huge.png" in line and "over the limit" in line for line in lines)
    assert "2 done, 0 skipped (already there), 5 failed" in result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.png", "index.html", "nstbatch-manifest.jsonl", "nstbatch-plan.json",
                       "sub/b.png"]  # nothing partial
    failed = [r for r in manifest(out) if r["status"] == "failed"]
    assert len(failed) == 5 and all(r["error"] for r in failed)


@pytest.mark.parametrize("args, message", [
    (["--style", "missing.jpg"], "missing.jpg: does not exist"),
    (["--style", "STYLE", "--style-blend", "abc"], "expected numbers"),
    (["--style", "STYLE", "--style-blend", "0.5,0.5"], "2 weights for 1 painting"),
    (["--style", "STYLE", "--device", "cuda"], "no CUDA GPU"),
    (["--style", "STYLE", "--format", "gif"], "--format"),
    (["--style", "STYLE", "--content-layers", "relu9_1"], "unknown VGG-19 layer"),
    (["--style", "STYLE", "--weights", "nope.pth"], "no such weights file"),
    (["--style", "STYLE", "--init", "nope.png"], "--init"),
    (["--style", "STYLE", "--scales", "8"], "16 px or more"),
    (["--style", "STYLE", "--shard", "4/4"], "--shard must be I/N"),
])
def test_usage_errors_exit_2_before_any_work(files, tmp_path, args, message):
    inputs, style = files
    args = [str(style) if a == "STYLE" else a for a in args]
    out = tmp_path / "out"
    result = invoke("run", "-i", inputs, "-o", out, "--size", 32, "--iterations", 2, "--quiet", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_bad_style_file_is_usage_error(files, tmp_path):
    inputs, _ = files
    (tmp_path / "style.txt").write_text("no")
    result = invoke("run", "-i", inputs, "-s", tmp_path / "style.txt", "-o", tmp_path / "out", *FAST)
    assert result.exit_code == 2 and "style.txt" in result.output and "not an image" in result.output


def test_no_images_found(tmp_path):
    (tmp_path / "in").mkdir()
    save_image(photo_like(), tmp_path / "s.png")
    result = invoke("run", "-i", tmp_path / "in", "-s", tmp_path / "s.png", "-o", tmp_path / "out", *FAST)
    assert result.exit_code == 2 and "no images found" in result.output


def test_blend_format_snapshots_and_progress(files, tmp_path):
    inputs, style = files
    second = save_image(photo_like(30, 30, 5), tmp_path / "style2.png")
    out = tmp_path / "out"
    result = invoke("run", "-i", inputs / "a.png", "-s", style, "-s", second, "--style-blend", "0.7,0.3",
                    "-o", out, "--format", "jpg", "--save-every", 2, "--size", 32, "--iterations", 4,
                    "--device", "cpu", "--preserve-colors")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.iter0002.jpg", "a.iter0004.jpg", "a.jpg",
                                                     "index.html", "nstbatch-manifest.jsonl", "nstbatch-plan.json"]
    assert "files" in result.output and "1 done" in result.output  # the progress display was drawn
    print16 = invoke("run", "-i", inputs / "a.png", "-s", style, "-o", out, "--format", "tif16", *FAST)
    assert print16.exit_code == 0 and (out / "a.tif").exists()


def test_reconstruct_and_texture(tmp_path):
    photo = save_image(photo_like(), tmp_path / "p.png")
    rec = invoke("reconstruct", "--content", photo, "--layer", "relu2_1", "-o", tmp_path / "r.png", *FAST)
    assert rec.exit_code == 0, rec.output
    assert load_image(tmp_path / "r.png").shape == (1, 3, 27, 32)
    tex = invoke("texture", "--style", photo, "-o", tmp_path / "t.png", *FAST)
    assert tex.exit_code == 0, tex.output
    assert load_image(tmp_path / "t.png").shape == (1, 3, 27, 32)
    bad = invoke("reconstruct", "--content", photo, "--layer", "relu7_1", "-o", tmp_path / "x.png", *FAST)
    assert bad.exit_code == 2 and "relu7_1" in bad.output and not (tmp_path / "x.png").exists()


VIDEO_FAST = ["--size", "32", "--first-iterations", "4", "--iterations", "2", "--device", "cpu", "--quiet"]


def frame_count(path):
    from nstbatch.media.frames import open_frames

    return len(list(open_frames(path).read(32)))


def test_video_from_a_frame_folder(clip_dir, files, tmp_path):
    _, style = files
    out = tmp_path / "out.mp4"
    result = invoke("video", "--input", clip_dir, "--style", style, "--output", out, "--fps", "8", *VIDEO_FAST)
    assert result.exit_code == 0, result.output
    assert frame_count(out) == 4
    assert not (tmp_path / "out.mp4.frames").exists()  # the work folder goes once the video is written
    again = invoke("video", "--input", clip_dir, "--style", style, "--output", out, *VIDEO_FAST)
    assert again.exit_code == 0 and "already exists, made with these settings" in again.output
    other = invoke("video", "--input", clip_dir, "--style", style, "--output", out, *VIDEO_FAST, "--temporal-weight", "5")
    assert other.exit_code == 2 and "already made with other settings (temporal_weight differ" in other.output


def test_a_video_is_done_only_while_its_record_proves_it(clip, files, tmp_path):
    from nstbatch.media.encode import write_video

    _, style = files
    source, out = tmp_path / "clip.mp4", tmp_path / "out.mp4"
    write_video(clip, source, 10)
    args = ["video", "-i", source, "-s", style, "-o", out, "--max-frames", "2", *VIDEO_FAST]
    assert invoke(*args).exit_code == 0
    assert "already exists, made with these settings" in invoke(*args[:-1]).output
    write_video(clip[::-1], source, 10)  # another clip under the same name: painted again
    again = invoke(*args[:-1])
    assert again.exit_code == 0 and "already exists" not in again.output and "2 stylised now" in again.output
    (tmp_path / "out.mp4.nstbatch.json").unlink()  # killed between the video and its record: nothing proves it
    redone = invoke(*args[:-1], "--temporal-weight", "5")
    assert redone.exit_code == 0 and "2 stylised now" in redone.output


def test_video_from_a_silent_video_file_keeps_frames_and_says_it_has_no_sound(clip, files, tmp_path):
    from nstbatch.media.encode import write_video

    _, style = files
    source = tmp_path / "clip.mp4"
    write_video(clip, source, 10)
    frames = tmp_path / "frames"
    out = tmp_path / "out.mp4"
    args = ["video", "-i", source, "-s", style, "-o", out, "--frames-dir", frames, "--max-frames", "3", *VIDEO_FAST]
    result = invoke(*[a for a in args if a != "--quiet"])
    assert result.exit_code == 0, result.output
    assert "3 frames" in result.output and "h264, without sound" in result.output
    assert sorted(p.name for p in frames.glob("*.png")) == ["frame_000001.png", "frame_000002.png", "frame_000003.png"]
    assert frame_count(out) == 3


def test_video_with_passes_and_frames_back_records_them_and_refuses_a_change(clip_dir, files, tmp_path):
    _, style = files
    frames = tmp_path / "frames"
    args = ["video", "-i", clip_dir, "-s", style, "--frames-dir", frames, "--max-frames", "3", *VIDEO_FAST]
    result = invoke(*[a for a in args if a != "--quiet"], "-o", tmp_path / "out.mp4", "--passes", "2",
                    "--temporal-frames", "2,1")
    assert result.exit_code == 0, result.output
    assert "towards frames t-1, t-2, 2 passes" in result.output
    assert sorted(p.name for p in (frames / "pass2").glob("*.png")) == [f"frame_00000{i}.png" for i in (1, 2, 3)]
    assert frame_count(tmp_path / "out.mp4") == 3
    changed = invoke(*args, "-o", tmp_path / "again.mp4", "--passes", "3", "--temporal-frames", "1,2")
    assert changed.exit_code == 2 and "(passes differ)" in changed.output, changed.output
    bad = invoke(*args, "-o", tmp_path / "bad.mp4", "--temporal-frames", "1,two")
    assert bad.exit_code == 2 and "--temporal-frames" in bad.output


@pytest.mark.parametrize("setup, message", [
    (lambda d: (d / "clip.mp4").write_bytes(b""), "is empty"),
    (lambda d: (d / "clip.mp4").write_text("this is a text file\n" * 50), "is not a video that can be decoded"),
])
def test_video_unreadable_input_is_one_line_exit_1_and_writes_nothing(files, tmp_path, setup, message):
    _, style = files
    setup(tmp_path)
    out = tmp_path / "out" / "out.mp4"
    result = invoke("video", "-i", tmp_path / "clip.mp4", "-s", style, "-o", out, *VIDEO_FAST)
    assert result.exit_code == 1 and message in result.output
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_video_frames_of_different_sizes_exit_2(clip_dir, clip, files, tmp_path):
    from PIL import Image

    _, style = files
    Image.fromarray(clip[0][:, :30]).save(clip_dir / "frame_9.png")
    result = invoke("video", "-i", clip_dir, "-s", style, "-o", tmp_path / "out.mp4", *VIDEO_FAST)
    assert result.exit_code == 2 and "frames differ in size" in result.output
    assert not (tmp_path / "out.mp4.frames").exists()


def test_video_output_must_be_mp4(clip_dir, files, tmp_path):
    _, style = files
    result = invoke("video", "-i", clip_dir, "-s", style, "-o", tmp_path / "out.avi", *VIDEO_FAST)
    assert result.exit_code == 2 and "must end in .mp4" in result.output


def test_video_stops_at_a_damaged_frame_and_resumes_once_it_is_fixed(clip_dir, files, tmp_path):
    _, style = files
    good = (clip_dir / "frame_3.png").read_bytes()
    (clip_dir / "frame_3.png").write_bytes(good[: len(good) // 2])
    out = tmp_path / "out.mp4"
    result = invoke("video", "-i", clip_dir, "-s", style, "-o", out, *VIDEO_FAST)
    assert result.exit_code == 1 and "frame_3.png" in result.output and "2 frames kept" in result.output
    assert not out.exists()
    (clip_dir / "frame_3.png").write_bytes(good)
    result = invoke("video", "-i", clip_dir, "-s", style, "-o", out, *[a for a in VIDEO_FAST if a != "--quiet"])
    assert result.exit_code == 0 and "2 stylised now, 2 resumed" in result.output, result.output


def test_batch_size_groups_photos_of_one_size(files, tmp_path):
    inputs, style = files
    for seed in (2, 3):  # two more of a.png's size (40x48) but mirrored, so three share a working size
        save_image(photo_like(40, 48, seed).flip(-1), inputs / f"c{seed}.png")
    (inputs / "broken.png").write_bytes(b"")
    out = tmp_path / "out"
    result = invoke("run", "-i", inputs, "-s", style, "-o", out, "--batch-size", "2", "--save-every", "3", *FAST)
    assert result.exit_code == 1, result.output
    assert "4 done, 0 skipped (already there), 1 failed" in result.output and "broken.png" in result.output
    rows = {Path(r["input"]).name: r for r in manifest(out)}
    assert {name: r["status"] for name, r in rows.items()} == {
        "a.png": "done", "c2.png": "done", "c3.png": "done", "b.jpg": "done", "broken.png": "failed"}
    # Each photo is stylised from itself and carries its own losses, even when optimised together.
    losses = [rows[name]["losses"]["total"] for name in ("a.png", "c2.png")]
    assert losses[0] != losses[1] and all(loss > 0 for loss in losses)
    a, c2 = load_image(inputs / "a.png", 32), load_image(inputs / "c2.png", 32)
    result_a = load_image(out / "a.png")
    assert (result_a - a).abs().mean() < (result_a - c2).abs().mean()
    assert rows["a.png"]["options"]["batch_size"] == 2
    for name in ("a", "c2", "c3"):
        assert load_image(out / f"{name}.png").shape == (1, 3, 27, 32)
        assert (out / f"{name}.iter0003.png").exists()


def test_help_shows_device_dependent_defaults():
    # Square brackets in help text are rich markup and vanish; the defaults must survive.
    result = invoke(*["video", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    for shown in ("256 CPU, 512 GPU", "50 CPU, 150 GPU", "OUTPUT.frames"):
        assert shown in result.output


def test_video_reports_a_stored_frame_that_vanished_before_encoding(clip_dir, files, tmp_path, monkeypatch):
    from nstbatch.batch import video_optimisation, video_work

    _, style = files
    real = video_optimisation.stylize_video

    def then_lose_a_frame(*args, **kwargs):
        run = real(*args, **kwargs)
        video_work.frame_path(args[3], 1).unlink()
        return run

    monkeypatch.setattr(video_optimisation, "stylize_video", then_lose_a_frame)
    out = tmp_path / "out.mp4"
    result = invoke("video", "-i", clip_dir, "-s", style, "-o", out, *VIDEO_FAST)
    assert result.exit_code == 1 and "frame_000002.png: is missing or unreadable" in result.output
    assert not out.exists()


def test_a_picture_too_large_for_memory_is_refused_in_one_line_and_the_batch_goes_on(files, tmp_path):
    from nstbatch.runtime.memory import HEADROOM, HISTORIES, Needs, activation_bytes_per_pixel
    from nstbatch.runtime.stylize import DEFAULT_STYLE_LAYERS
    from nstbatch.runtime.vgg import load_vgg19

    inputs, style = files
    for old in inputs.rglob("*.*"):
        old.unlink()
    save_image(photo_like(16, 32), inputs / "thin.png")  # 32x16 at --size 32
    save_image(photo_like(32, 32), inputs / "square.png")  # 32x32: twice the pixels
    layers = (*DEFAULT_STYLE_LAYERS, "relu4_2")
    needs = Needs(layers, {"relu4_2": 512}, activation_bytes_per_pixel(load_vgg19(), layers, None))
    # room for the thin one at the shortest history, not for the square one
    room = (needs.peak(1, 16, 32, None, HISTORIES[-1]) + needs.peak(1, 32, 32, None, HISTORIES[-1])) / 2 / HEADROOM
    out = tmp_path / "out"
    result = invoke("run", "-i", inputs, "-s", style, "-o", out, *FAST, "--max-memory", room / 2**30)
    assert result.exit_code == 1, result.output
    refused = [line for line in result.output.splitlines() if "square.png" in line]
    assert len(refused) == 1 and "32x32 needs about" in refused[0] and "the largest that fits is about --size" in refused[0]
    assert "1 done, 0 skipped (already there), 1 failed" in result.output and (out / "thin.png").exists()


def test_a_photo_too_large_for_the_network_in_memory_is_refused_and_the_batch_goes_on(tmp_path, tiny_model):
    from nstbatch.network.checkpoint import read_info
    from nstbatch.runtime.free_memory import HEADROOM, OVERHEAD, network_bytes_per_pixel

    model = tiny_model[0] / "model.safetensors"
    inputs = tmp_path / "in"
    save_image(photo_like(30, 40), inputs / "small.png")
    save_image(photo_like(120, 160), inputs / "large.png")  # 16x the pixels
    per_pixel = network_bytes_per_pixel(read_info(model)[0].architecture.channels)
    room = (OVERHEAD + 4 * per_pixel * 30 * 40) / HEADROOM  # the small one, with room to spare; not the large
    out = tmp_path / "out"
    result = invoke("run", "-i", inputs, "--model", model, "-o", out, "--device", "cpu", "--max-memory", room / 2**30)
    assert result.exit_code == 1, result.output
    refused = [line for line in result.output.splitlines() if "large.png" in line]
    assert len(refused) == 1 and "160x120 needs about" in refused[0] and "through the network" in refused[0]
    assert "1 done, 0 skipped (already there), 1 failed" in result.output and (out / "small.png").exists()


def test_texture_in_forced_blocks_says_so_and_a_zero_memory_limit_is_a_usage_error(tmp_path, files):
    _, style = files
    out = tmp_path / "t.png"
    result = invoke("texture", "-s", style, "-o", out, "--size", 32, "--iterations", 2, "--device", "cpu",
                    "--style-layers", "relu1_1,relu2_1", "--block-size", 16)
    assert result.exit_code == 0, result.output
    assert "blocks of 16 px" in result.output and out.exists()
    refused = invoke("reconstruct", "-c", style, "-o", tmp_path / "r.png", "--size", 32, "--device", "cpu",
                     "--max-memory", 0)
    assert refused.exit_code == 2 and "--max-memory must be > 0" in refused.output


def test_texture_and_reconstruct_go_coarse_to_fine_and_video_refuses_scales_with_a_model(tmp_path, files, tiny_model):
    _, style = files
    for command, source in (("texture", ["-s", style]), ("reconstruct", ["-c", style])):
        result = invoke(command, *source, "-o", tmp_path / f"{command}.png", "--size", 32, "--iterations", 12,
                        "--device", "cpu", "--scales", 16)
        assert result.exit_code == 0, result.output
    clip = tmp_path / "clip"
    clip.mkdir()
    save_image(photo_like(32, 32), clip / "frame_1.png")
    refused = invoke("video", "--model", tiny_model[0] / "model.safetensors", "--input", clip, "--output",
                     tmp_path / "out.mp4", "--scales", 16)
    assert refused.exit_code == 2 and "--scales" in refused.output


def test_run_goes_coarse_to_fine_by_default_above_the_devices_start_size(files, tmp_path, monkeypatch):
    from nstbatch import engines

    inputs, style = files
    # the CPU's start size (256 px) brought down to the tiny test pictures'
    monkeypatch.setitem(engines.DEFAULTS, "cpu", {**engines.DEFAULTS["cpu"], "first_scale": 16})
    common = ("run", "-i", inputs, "-s", style, "--size", 32, "--iterations", 12, "--device", "cpu")
    result = invoke(*common, "-o", tmp_path / "auto")
    assert result.exit_code == 0, result.output
    assert "12 iterations in 2 scales from 23 px (7+5)" in result.output
    off = invoke(*common, "-o", tmp_path / "off", "--scales", "off")
    assert off.exit_code == 0 and "12 iterations, device" in off.output


# Runs the command line with torch (and cv2) made unimportable: what must start without them.
WITHOUT_TORCH = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "cv2", "onnx", "onnxruntime"):
            raise ImportError(f"{name} was imported")
sys.meta_path.insert(0, Refuse())
from nstbatch.cli import app
sys.argv[0] = "nstbatch"
app()
"""


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["video", "--help"], ["train", "--help"],
                                  ["status", "FOLDER"]])
def test_help_and_status_start_without_loading_torch(tmp_path, args):
    import subprocess
    import sys

    plan = {"shard": [0, 1], "found": 1, "inputs": [{"input": "in/a.png", "output": "out/a.png", "result": "a.png"}]}
    (tmp_path / "nstbatch-plan.json").write_text(json.dumps(plan))
    args = [str(tmp_path) if a == "FOLDER" else a for a in args]
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, *args], capture_output=True, text=True, timeout=60)
    assert "was imported" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    expected = "all: 0 done, 0 failed, 1 to do (of 1)" if args[0] == "status" else "Usage: nstbatch"
    assert expected in done.stdout and done.returncode == (1 if args[0] == "status" else 0)
