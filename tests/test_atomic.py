"""Atomic writes: temporary names that fit the file system, and what a killed writer left is cleared."""

import os
from pathlib import Path

import pytest

from nstbatch.atomic import NAME_MAX, STALE_TEMP, atomic_path, remove_stale_temps


@pytest.mark.parametrize("name", ["a" * 251 + ".png", "é" * 125 + ".png", "写" * 83 + ".png"])
def test_a_name_at_the_limit_can_still_be_written(tmp_path, name):
    assert NAME_MAX - 2 <= len(name.encode()) <= NAME_MAX
    with atomic_path(tmp_path / name) as tmp:
        assert len(tmp.name.encode()) <= NAME_MAX and STALE_TEMP.match(tmp.name)  # what a crash leaves is cleared
        tmp.write_bytes(b"whole")
    assert (tmp_path / name).read_bytes() == b"whole"
    assert os.listdir(tmp_path) == [name]


def test_only_nstbatchs_own_temporary_names_are_removed(tmp_path):
    (tmp_path / "sub").mkdir()
    # A user's own files that merely look like temporary ones (issue 40, item 6) are never touched.
    kept = ["a.png", ".notes.part", "photo.abcdefgh.part", ".a.png.SHORT.part", ".a.png.ABCDEFGH.part",
            ".a.png.k2_9qz0a.part", ".holiday.jpg.abcd1234.part", ".nstbatch-tmp.a.png.SHORT.part"]
    stale = ["sub/.nstbatch-tmp.a.png.k2_9qz0a.part", ".nstbatch-tmp.index.html.abc12345.part"]  # a SIGKILL's
    for name in [f"sub/{k}" for k in kept] + stale:
        (tmp_path / name).write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == 2
    assert sorted(os.listdir(tmp_path / "sub")) == sorted(kept)
    assert os.listdir(tmp_path) == ["sub"]


def test_only_one_files_temporaries_are_removed_when_it_is_named(tmp_path):
    (tmp_path / "sub").mkdir()
    names = [".nstbatch-tmp.clip.mp4.abcd1234.mp4", ".nstbatch-tmp.other.mp4.abcd1234.mp4",
             "sub/.nstbatch-tmp.clip.mp4.abcd1234.mp4"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    assert remove_stale_temps(tmp_path, "clip.mp4") == 1
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(Path(n).name for n in names[1:])


def test_links_to_folders_are_not_followed_when_clearing(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ".nstbatch-tmp.a.png.abcd1234.part").write_bytes(b"not this folder's")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(elsewhere)
    assert remove_stale_temps(tmp_path / "out") == 0
    assert (elsewhere / ".nstbatch-tmp.a.png.abcd1234.part").exists()
