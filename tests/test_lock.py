"""One writer per output folder and shard; shards of one folder side by side; a dead holder holds nothing."""

import os
import subprocess
import sys

import pytest

from nstbatch.batch.lock import FolderBusy, FolderLock
from nstbatch.batch.shards import WHOLE, Shard


def test_a_whole_run_excludes_every_other_run(tmp_path):
    with FolderLock.acquire(tmp_path, WHOLE) as held:
        assert held.alone
        for shard in (WHOLE, Shard(0, 2)):
            with pytest.raises(FolderBusy, match=f"pid {os.getpid()} on "):
                FolderLock.acquire(tmp_path, shard)
    FolderLock.acquire(tmp_path, WHOLE).release()  # free again


def test_shards_run_side_by_side_but_each_once(tmp_path):
    first = FolderLock.acquire(tmp_path, Shard(0, 2))
    assert first.alone  # nobody else was there: what a crash left may be cleared
    second = FolderLock.acquire(tmp_path, Shard(1, 2))
    assert not second.alone  # shard 0 is writing: its temporary files are not to be touched
    with pytest.raises(FolderBusy, match="shard 0/2 is already running here"):
        FolderLock.acquire(tmp_path, Shard(0, 2))
    with pytest.raises(FolderBusy, match="another nstbatch run is writing to this folder \\(shard-0-of-2: pid"):
        FolderLock.acquire(tmp_path, WHOLE)
    first.release()
    second.release()
    FolderLock.acquire(tmp_path, WHOLE).release()


def test_a_killed_holder_leaves_the_folder_free(tmp_path):
    code = ("import sys, os; from nstbatch.batch.lock import FolderLock; from nstbatch.batch.shards import WHOLE; "
            "FolderLock.acquire(sys.argv[1], WHOLE); print('held', flush=True); os._exit(9)")
    child = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert child.stdout == "held\n" and child.returncode == 9
    FolderLock.acquire(tmp_path, WHOLE).release()


def test_a_file_system_that_cannot_lock_is_said_not_fatal(tmp_path, monkeypatch):
    from nstbatch.batch import lock

    def unsupported(fd, mode):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(lock.fcntl, "flock", unsupported)
    held = FolderLock.acquire(tmp_path, WHOLE)
    assert not held.alone and held.held == [] and "cannot lock files" in held.note


def test_a_shard_waits_out_another_shard_starting(tmp_path):
    # A shard that finds the folder empty holds its lock exclusively for the moment it takes to get its own;
    # another shard starting then must wait, not take it for a whole run and refuse (as four shards started
    # together once did).
    import fcntl
    import threading

    from nstbatch.batch.lock import FOLDER_LOCK

    fd = os.open(tmp_path / FOLDER_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    threading.Timer(0.3, lambda: fcntl.flock(fd, fcntl.LOCK_SH)).start()  # the other shard, ready
    lock = FolderLock.acquire(tmp_path, Shard(1, 2))
    assert not lock.alone
    lock.release()
    os.close(fd)


def test_a_finished_run_leaves_no_lock_file(tmp_path):
    FolderLock.acquire(tmp_path, WHOLE).release()
    assert os.listdir(tmp_path) == []
    first, second = FolderLock.acquire(tmp_path, Shard(0, 2)), FolderLock.acquire(tmp_path, Shard(1, 2))
    first.release()  # the folder's lock stays while shard 1 holds it, and shard 1's own
    assert sorted(os.listdir(tmp_path)) == [".nstbatch.lock", ".nstbatch.shard-1-of-2.lock"]
    second.release()
    assert os.listdir(tmp_path) == []
    video = tmp_path / "clip.mp4"
    FolderLock.for_file(video).release()
    assert os.listdir(tmp_path) == []


def test_a_lock_taken_on_a_lock_file_removed_meanwhile_is_taken_again(tmp_path, monkeypatch):
    # A run that opened the lock file just before its finishing holder removed it would lock a file no one
    # else can see; it must notice and take the lock file that is there now (held here by another run).
    from nstbatch.batch import lock

    holder = FolderLock.acquire(tmp_path, WHOLE)
    orphan = os.open(tmp_path / "removed", os.O_RDWR | os.O_CREAT)
    os.unlink(tmp_path / "removed")
    real_open, opened = lock._open, []

    def first_the_removed_file(path, option="--output folder"):
        opened.append(path)
        return orphan if len(opened) == 1 else real_open(path, option)

    monkeypatch.setattr(lock, "_open", first_the_removed_file)
    with pytest.raises(FolderBusy, match="another nstbatch run is writing to this folder"):
        FolderLock.acquire(tmp_path, WHOLE)
    assert len(opened) == 2
    holder.release()
