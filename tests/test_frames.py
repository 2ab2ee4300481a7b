"""Reading frames from video files and folders, refusing bad input up front, writing mp4 atomically."""

import re

import numpy as np
import pytest
from PIL import Image

from nstbatch.media.encode import write_video
from nstbatch.media.frames import DEFAULT_FOLDER_FPS, open_frames, working_size
from nstbatch.errors import ImageError, UsageError


def read_all(source, long_side):
    return [frame for _, frame in source.read(long_side)]


def test_folder_frames_come_in_numeric_order(tmp_path, clip):
    folder = tmp_path / "frames"
    folder.mkdir()
    # Written out of order, with numbers that sort wrongly as text (10 before 2).
    for number, t in ((10, 3), (2, 1), (1, 0), (3, 2)):
        Image.fromarray(clip[t]).save(folder / f"f{number}.png")
    (folder / "notes.txt").write_text("not a frame")
    source = open_frames(folder)
    assert (source.count, source.fps, source.width, source.height) == (4, DEFAULT_FOLDER_FPS, 48, 40)
    assert [name for name, _ in source.read(48)] == ["f1.png", "f2.png", "f3.png", "f10.png"]
    for got, want in zip(read_all(source, 48), clip):
        np.testing.assert_array_equal(got, want)


def test_frames_are_read_at_the_working_size_with_even_sides(clip_dir):
    frames = read_all(open_frames(clip_dir, fps=12), 25)
    assert frames[0].shape == (20, 24, 3) and frames[0].dtype == np.uint8
    assert working_size(1280, 720, 256) == (256, 144)
    assert working_size(451, 300, 100) == (100, 66)
    assert all(side % 2 == 0 for side in working_size(333, 101, 97))


def test_max_frames_caps_the_count(clip_dir):
    assert len(read_all(open_frames(clip_dir, max_frames=2), 48)) == 2


def test_video_round_trip(tmp_path, clip):
    path = tmp_path / "clip.mp4"
    assert write_video(clip, path, fps=12.0) == (len(clip), False)
    assert not [p for p in tmp_path.iterdir() if p.name != "clip.mp4"]  # no temporary file left
    source = open_frames(path)
    assert (source.count, source.fps, source.width, source.height) == (4, 12.0, 48, 40)
    frames = read_all(source, 48)
    assert len(frames) == 4
    for got, want in zip(frames, clip):  # mp4 is lossy, but not by much
        assert np.mean(np.abs(got.astype(float) - want)) < 12


def test_a_failed_write_leaves_no_file(tmp_path, clip):
    def frames_then_crash():
        yield clip[0]
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        write_video(frames_then_crash(), tmp_path / "out.mp4", 10)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, reason", [
    (b"", "is empty"),
    (b"this is not a video at all" * 40, "is not a video that can be decoded (Invalid data"),
])
def test_unreadable_videos_are_failed_inputs(tmp_path, content, reason):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=re.escape(reason)) as info:
        open_frames(path)
    assert str(path) in str(info.value) and info.value.exit_code == 1


def test_missing_input_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        open_frames(tmp_path / "nowhere.mp4")


def test_a_folder_without_frames_is_a_usage_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(UsageError, match="no frames found"):
        open_frames(tmp_path)


def test_frames_of_different_sizes_are_a_usage_error(clip_dir, clip):
    Image.fromarray(clip[0][:30]).save(clip_dir / "frame_5.png")
    with pytest.raises(UsageError, match=r"frames differ in size \(frame_1.png is 48x40, frame_5.png is 48x30\)"):
        open_frames(clip_dir)


def test_a_frame_that_is_not_an_image_is_a_usage_error(clip_dir):
    (clip_dir / "frame_9.png").write_bytes(b"garbage")
    with pytest.raises(UsageError, match="frame_9.png: not a frame"):
        open_frames(clip_dir)
