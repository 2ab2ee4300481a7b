"""Atomic writes: temporary names that fit the file system, and what a killed writer left is cleared."""

import os

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
    kept = ["a.png", ".notes.part", "photo.abcdefgh.part", ".a.png.SHORT.part", ".a.png.ABCDEFGH.part"]
    stale = ["sub/.a.png.k2_9qz0a.part", ".index.html.abc12345.part"]  # what a SIGKILL mid-write leaves
    for name in [f"sub/{k}" for k in kept] + stale:
        (tmp_path / name).write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == 2
    assert sorted(os.listdir(tmp_path / "sub")) == sorted(kept)
    assert os.listdir(tmp_path) == ["sub"]
