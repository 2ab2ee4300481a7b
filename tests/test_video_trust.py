"""`nstbatch video` with the trust of `run` (issue 40): a clip is never destroyed, stale frames never pass as
done, nothing is written outside where it should be, and every failure is one line. Each test failed on
749b97c. Clips are painted by the tiny exported network (fast), frames compared as decoded."""

import json
import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest
from PIL import Image

from conftest import invoke, sliding_clip
from test_encode import make_clip



def paint(clip, output, model, *more):
    return invoke("video", "-i", clip, "-m", model, "-o", output, "--quiet", *more)


def frames_of(path):
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def other_clip(path):
    """Another clip of the same length and size: the same frames flipped upside down."""
    make_clip(path)
    flipped = [frame[::-1].copy() for frame in frames_of(path)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 48, 40, "yuv420p"
        for t, picture in enumerate(flipped):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("spelling", ["same", "dotted", "link"])
def test_the_output_is_never_the_input_clip(tmp_path, tiny_onnx, spelling):
    clip = make_clip(tmp_path / "clip.mp4")
    before = clip.read_bytes()
    output = {"same": clip, "dotted": tmp_path / "sub" / ".." / "clip.mp4", "link": tmp_path / "link.mp4"}[spelling]
    (tmp_path / "sub").mkdir()
    if spelling == "link":
        output.symlink_to(clip)
    result = paint(clip, output, tiny_onnx, "--max-frames", 2)
    assert result.exit_code == 2, result.output
    assert "is the input" in result.output and "choose another --output" in result.output
    assert clip.read_bytes() == before


def test_the_frames_folder_is_never_the_input_frames_even_with_overwrite(clip_dir, tmp_path, tiny_onnx):
    before = {path.name: path.read_bytes() for path in clip_dir.iterdir()}
    for more in ([], ["--overwrite"]):
        result = paint(clip_dir, tmp_path / "out.mp4", tiny_onnx, "--frames-dir", clip_dir, *more)
        assert result.exit_code == 2 and "--frames-dir" in result.output and "is the input" in result.output
    inside = paint(clip_dir, tmp_path / "out.mp4", tiny_onnx, "--frames-dir", clip_dir / "work")
    assert inside.exit_code == 2 and "lies inside the input" in inside.output
    assert {path.name: path.read_bytes() for path in clip_dir.iterdir()} == before
    assert not (tmp_path / "out.mp4").exists()


def test_a_folder_that_is_not_a_work_folder_is_never_written_in_or_emptied(clip_dir, tmp_path, tiny_onnx):
    mine = tmp_path / "mine"
    mine.mkdir()
    Image.fromarray(sliding_clip(1)[0]).save(mine / "frame_000001.png")  # the user's, named like a painted frame
    for more in ([], ["--overwrite"]):
        result = paint(clip_dir, tmp_path / "out.mp4", tiny_onnx, "--frames-dir", mine, *more)
        assert result.exit_code == 2 and "not an nstbatch work folder" in result.output, result.output
    assert sorted(path.name for path in mine.iterdir()) == ["frame_000001.png"]


@pytest.mark.parametrize("kept", ["frames-dir", "default work folder"])
def test_a_replaced_clip_is_painted_again_not_taken_from_the_old_frames(tmp_path, tiny_onnx, kept):
    clip, output = make_clip(tmp_path / "clip.mp4"), tmp_path / "out.mp4"
    work = ["--frames-dir", output.with_name(output.name + ".frames")]  # where a SIGINTed run leaves them
    assert paint(clip, output, tiny_onnx, *work).exit_code == 0
    other_clip(clip)
    again = paint(clip, output, tiny_onnx, *(work if kept == "frames-dir" else []))
    assert again.exit_code == 0, again.output
    fresh = tmp_path / "fresh.mp4"
    assert paint(clip, fresh, tiny_onnx).exit_code == 0
    assert all(np.array_equal(a, b) for a, b in zip(frames_of(output), frames_of(fresh), strict=True))


def test_a_folder_of_frames_that_changed_is_painted_again_from_the_first_change(clip_dir, tmp_path, tiny_onnx):
    output, work = tmp_path / "out.mp4", tmp_path / "work"
    assert paint(clip_dir, output, tiny_onnx, "--frames-dir", work).exit_code == 0
    first = (work / "frame_000001.png").stat().st_mtime_ns
    Image.fromarray(sliding_clip(4)[0][::-1].copy()).save(clip_dir / "frame_3.png")
    again = invoke("video", "-i", clip_dir, "-m", tiny_onnx, "-o", output, "--frames-dir", work)
    assert again.exit_code == 0 and "already exists" not in again.output, again.output
    assert "(2 stylised now, 2 resumed" in again.output and "painted again: the input changed" in again.output
    assert (work / "frame_000001.png").stat().st_mtime_ns == first
    fresh = tmp_path / "fresh.mp4"
    assert paint(clip_dir, fresh, tiny_onnx).exit_code == 0
    assert all(np.array_equal(a, b) for a, b in zip(frames_of(output), frames_of(fresh), strict=True))
    unchanged = invoke("video", "-i", clip_dir, "-m", tiny_onnx, "-o", output, "--frames-dir", work)
    assert unchanged.exit_code == 0 and "already exists, made with these settings" in unchanged.output


def test_an_output_that_is_a_folder_or_cannot_be_made_is_refused_before_any_frame(clip_dir, tmp_path, tiny_onnx):
    (tmp_path / "folder.mp4").mkdir()
    result = paint(clip_dir, tmp_path / "folder.mp4", tiny_onnx)
    assert result.exit_code == 2 and "is a folder" in result.output
    (tmp_path / "a-file").write_text("not a folder")
    result = paint(clip_dir, tmp_path / "a-file" / "out.mp4", tiny_onnx)
    assert result.exit_code == 2 and "cannot create its folder" in result.output
    assert not (tmp_path / "folder.mp4.frames").exists()


def test_a_disk_that_fills_while_encoding_is_one_line_and_leaves_no_temporary_file(clip_dir, tmp_path, tiny_onnx,
                                                                                    monkeypatch):
    from nstbatch.media import encode

    def full(*args):  # the encoder opens on the temporary file, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(encode, "_open_encoder", full)
    result = paint(clip_dir, tmp_path / "out.mp4", tiny_onnx)
    assert result.exit_code == 1, result.output
    assert "cannot write" in result.output and "No space left on device" in result.output
    assert not (tmp_path / "out.mp4").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".nstbatch-tmp")] == []


def test_a_clip_cut_short_is_said_and_not_recorded_as_made(tmp_path, tiny_onnx):
    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "+faststart"}) as container:  # the index first, as phones do
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 48, 40, "yuv420p"
        for t in range(40):
            picture = np.random.default_rng(t).integers(0, 255, (40, 48, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.7)])
    result = paint(cut, tmp_path / "out.mp4", tiny_onnx)
    assert result.exit_code == 1, result.output
    assert "cut.mp4" in result.output and "frames decoded of the 40 the file declares" in result.output
    again = paint(cut, tmp_path / "out.mp4", tiny_onnx)
    assert again.exit_code == 1 and "already exists" not in again.output


def test_what_a_killed_encoder_or_removal_left_is_cleared_and_never_trusted(clip_dir, tmp_path, tiny_onnx):
    output = tmp_path / "out.mp4"
    temp = tmp_path / ".nstbatch-tmp.out.mp4.k2_9qz0a.mp4"  # what SIGKILL while encoding leaves
    temp.write_bytes(b"half an mp4")
    aside = tmp_path / ".nstbatch-tmp.out.mp4.frames.removing"  # a work folder being removed when killed
    aside.mkdir()
    (aside / "frame_000001.png").write_bytes(b"x")
    assert paint(clip_dir, output, tiny_onnx).exit_code == 0
    assert not temp.exists() and not aside.exists() and not output.with_name("out.mp4.frames").exists()
    # A work folder whose record is gone (cut short while being removed, by an older version) is not trusted.
    work = tmp_path / "work"
    assert paint(clip_dir, tmp_path / "kept.mp4", tiny_onnx, "--frames-dir", work).exit_code == 0
    (work / "nstbatch-video.json").unlink()
    result = paint(clip_dir, tmp_path / "kept.mp4", tiny_onnx, "--frames-dir", work, "--overwrite")
    assert result.exit_code == 2 and "not an nstbatch work folder" in result.output


def test_one_writer_a_video(clip_dir, tmp_path, tiny_onnx):
    from nstbatch.batch.lock import FolderLock

    output = tmp_path / "out.mp4"
    with FolderLock.for_file(output):
        result = paint(clip_dir, output, tiny_onnx)
    assert result.exit_code == 2 and "another nstbatch run is writing it" in result.output
    assert not output.exists()
    assert paint(clip_dir, output, tiny_onnx).exit_code == 0


def _stopped_by_sigterm(command, ready):
    """Run ``command``, SIGTERM it once ``ready`` (a path) exists; its exit code and what it said."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    return process.returncode, out + err


@pytest.mark.slow
def test_sigterm_stops_video_and_train_with_one_line(tmp_path, clip_dir):
    from conftest import painting_like, photo_folder

    from nstbatch.media.images import save_image

    style = save_image(painting_like(), tmp_path / "style.png")
    work = tmp_path / "work"
    code, said = _stopped_by_sigterm(
        [sys.executable, "-m", "nstbatch", "video", "-i", str(clip_dir), "-s", str(style), "-o", str(tmp_path / "o.mp4"),
         "--frames-dir", str(work), "--size", "32", "--first-iterations", "400", "--device", "cpu"],
        work / "nstbatch-video.json")
    assert code == 143 and "stopped by SIGTERM" in said and "Traceback" not in said, said
    photos = photo_folder(tmp_path / "photos")
    model = tmp_path / "model"
    code, said = _stopped_by_sigterm(
        [sys.executable, "-m", "nstbatch", "train", "--photos", str(photos), "--style", str(style), "--output",
         str(model), "--steps", "100000", "--crop-size", "32", "--batch-size", "1", "--channels", "4",
         "--residual-blocks", "1", "--save-every", "1", "--device", "cpu"],
        model / "log.jsonl")
    assert code == 143 and "stopped by SIGTERM" in said and "checkpoint saved" in said and "Traceback" not in said, said


def test_the_video_record_names_the_input_it_was_made_from(clip_dir, tmp_path, tiny_onnx):
    output = tmp_path / "out.mp4"
    assert paint(clip_dir, output, tiny_onnx).exit_code == 0
    record = json.loads(output.with_name("out.mp4.nstbatch.json").read_text())
    assert [entry["name"] for entry in record["input"]["frames"]] == sorted(os.listdir(clip_dir))
    assert all(len(entry["sha256"]) == 64 for entry in record["input"]["frames"])


def test_the_python_api_never_writes_over_its_input_clip(tmp_path, tiny_onnx):
    import nstbatch
    from nstbatch.errors import UsageError

    clip = make_clip(tmp_path / "clip.mp4")
    before = clip.read_bytes()
    with pytest.raises(UsageError, match="is the input"):
        nstbatch.stylize_video(clip, tmp_path / "." / "clip.mp4", model=tiny_onnx, device="cpu")
    assert clip.read_bytes() == before


def test_a_disk_that_fills_while_frames_are_written_is_one_line_and_the_rest_resume(clip_dir, tmp_path, tiny_onnx,
                                                                                     monkeypatch):
    from nstbatch.batch import video_work

    real, calls = video_work.save_image, []

    def fills_up(image, path, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(image, path, **kwargs)

    monkeypatch.setattr(video_work, "save_image", fills_up)
    result = invoke("video", "-i", clip_dir, "-m", tiny_onnx, "-o", tmp_path / "out.mp4", "--batch-size", 1)
    assert result.exit_code == 1 and "cannot write" in result.output and "No space left" in result.output
    monkeypatch.setattr(video_work, "save_image", real)
    resumed = invoke("video", "-i", clip_dir, "-m", tiny_onnx, "-o", tmp_path / "out.mp4")
    assert resumed.exit_code == 0 and "(2 stylised now, 2 resumed" in resumed.output, resumed.output
