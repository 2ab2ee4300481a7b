"""One writer per output folder (per shard): a second run into the same folder refuses at once.

Locks are ``flock``s on hidden files in the folder, so the kernel releases them when a process dies
however it dies, and a crash never leaves a folder locked. Every run holds ``.nstbatch.lock``: a
whole run exclusively, a shard shared (shards of one folder run side by side), and a shard also holds
its own ``.nstbatch.shard-I-of-N.lock`` exclusively. Each lock file says who holds it, so a refusal
names the other process, and is removed by the last run to let go of it, so a finished folder keeps none.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from ..errors import UsageError
from ..files import open_own, read_own

FOLDER_LOCK = ".nstbatch.lock"


class FolderBusy(UsageError):
    """Another nstbatch run is writing to the folder (or this shard of it)."""


def _holder() -> str:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                       "command": " ".join(["nstbatch", *sys.argv[1:]])[:300]})


def _describe(path: Path) -> str:
    try:
        held = json.loads(read_own(path))
        return f"pid {held['pid']} on {held['host']}, since {held['since']}: {held['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _open(path: Path, option: str = "--output folder") -> int:
    """The lock file, never through a link planted at its name (a link is refused with one line)."""
    try:
        return open_own(path, os.O_RDWR | os.O_CREAT)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{path}: {exc.strerror}") from None
        raise UsageError(f"{path.parent}: cannot write to this {option} ({exc.strerror})") from None


class _NoLocks(Exception):
    """The file system cannot lock (an old NFS without a lock daemon, some FUSE mounts)."""


def _try(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise _NoLocks from None
        raise


SHARD_START_SECONDS = 2.0  # how long a shard waits out another shard starting (which takes milliseconds)


def _try_for(fd: int, mode: int, seconds: float) -> bool:
    """``_try`` again every 20 ms for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while not _try(fd, mode):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _sign(fd: int) -> None:
    """Write who holds the lock into its file (best effort: the lock itself is what counts)."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder().encode(), 0)
    except OSError:
        pass


def _holders(folder: Path) -> str:
    """Who is writing to ``folder`` now: the shards that hold their locks (a lock file nobody holds is
    an old one), else the whole run that signed the folder's lock."""
    held = []
    for path in sorted(folder.glob(".nstbatch.shard-*.lock")):
        try:
            fd = open_own(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            if not _try(fd, fcntl.LOCK_SH):
                held.append(f"{path.name[len('.nstbatch.'):-len('.lock')]}: {_describe(path)}")
        finally:
            os.close(fd)
    return "; ".join(held) or _describe(folder / FOLDER_LOCK)


def _locked(path: Path, mode: int, seconds: float = 0.0, option: str = "--output folder") -> int | None:
    """A descriptor of the lock file ``path`` holding ``mode``, trying for up to ``seconds``; None when another
    process holds it. A lock taken on a file that a finishing run removed meanwhile (its path now another
    file, or none) is no lock: it is taken again on the file that is there now."""
    for _ in range(8):
        fd = _open(path, option)
        try:
            if not _try_for(fd, mode, seconds):
                os.close(fd)
                return None
            if _same_file(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise FolderBusy(f"{path}: its lock file keeps being replaced; is another program removing it?")


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
    except OSError:
        return False


class FolderLock:
    """Held from ``acquire`` until ``release`` (or the process ends). ``alone`` says whether no other
    run was writing to the folder when it was taken (so what a crash left there may be cleared);
    ``note`` says why nothing could be locked, where the file system cannot lock. A lock file is removed
    by the run that holds it exclusively when it lets go, so a finished folder keeps none."""

    def __init__(self, held: list[tuple[int, Path, bool]], alone: bool, note: str = ""):
        self.held = held  # (descriptor, lock file, whether it may be removed once held exclusively)
        self.alone = alone
        self.note = note

    @classmethod
    def acquire(cls, folder: Path, shard) -> "FolderLock":
        try:
            return cls._acquire(Path(folder), shard)
        except _NoLocks:
            return cls([], False, f"{folder}: this file system cannot lock files, so nothing stops a second run "
                                  f"into this folder: start one at a time (or one per --shard)")

    @classmethod
    def _acquire(cls, folder: Path, shard) -> "FolderLock":
        held: list[tuple[int, Path, bool]] = []  # closed again unless the lock is taken
        main_path = folder / FOLDER_LOCK
        try:
            main = _locked(main_path, fcntl.LOCK_EX)
            alone = main is not None
            if shard.count == 1:
                if not alone:
                    raise FolderBusy(f"{folder}: another nstbatch run is writing to this folder ({_holders(folder)}); "
                                     f"wait for it to end, or choose another --output")
                _sign(main)
                return cls([(main, main_path, True)], alone)
            # A shard: shared with the other shards, exclusive of a whole run. A shard that found the folder
            # empty holds it exclusively for the moment until it has its own lock: wait that out.
            if main is None:
                main = _locked(main_path, fcntl.LOCK_SH, SHARD_START_SECONDS)
                if main is None:
                    raise FolderBusy(f"{folder}: a whole (unsharded) nstbatch run is writing to this folder "
                                     f"({_describe(main_path)}); wait for it to end")
            held.append((main, main_path, True))
            own_path = folder / f".nstbatch{shard.suffix}.lock"
            own = _locked(own_path, fcntl.LOCK_EX)
            if own is None:
                raise FolderBusy(f"{folder}: shard {shard} is already running here ({_describe(own_path)}); "
                                 f"wait for it to end")
            held.insert(0, (own, own_path, True))
            _sign(own)
            if alone:
                fcntl.flock(main, fcntl.LOCK_SH)  # from exclusive to shared, so the other shards can start
            return cls(held, alone)
        except BaseException:
            for fd, _, _ in held:
                os.close(fd)
            raise

    @classmethod
    def for_file(cls, output: Path) -> "FolderLock":
        """One writer for one output file (a video): ``.NAME.nstbatch.lock`` beside it, held exclusively."""
        output = Path(output)
        path = output.with_name(f".{output.name}.nstbatch.lock")
        try:
            fd = _locked(path, fcntl.LOCK_EX, option="--output's folder")
        except _NoLocks:
            return cls([], False, f"{output.parent}: this file system cannot lock files, so nothing stops a second "
                                  f"run writing {output.name}: start one at a time")
        if fd is None:
            raise FolderBusy(f"{output}: another nstbatch run is writing it ({_describe(path)}); wait for it to "
                             f"end, or choose another --output")
        _sign(fd)
        return cls([(fd, path, True)], True)

    def release(self) -> None:
        """Let go, removing each lock file no other run holds (taken exclusively first, so no run that
        holds it loses it; one that opened it meanwhile finds it gone and takes the new one)."""
        for fd, path, removable in self.held:
            try:
                if removable and _try(fd, fcntl.LOCK_EX) and _same_file(fd, path):
                    path.unlink()
            except (OSError, _NoLocks):
                pass  # kept: it is harmless, and the next run takes it
            os.close(fd)  # closing the last descriptor releases the flock
        self.held = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False

