"""What nstbatch may open, and where it may write.

- Only regular files are read: a FIFO or a device (``/dev/zero`` behind a link named like a photo) would
  block a reading thread, or feed it forever. ``open_regular`` opens without blocking and looks at what
  it opened before reading a byte.
- nstbatch's own files (locks, manifests, plans, records) are opened without following a link: a link
  planted where one of them goes would send a truncation or an appended row to a file elsewhere.
- Results go only inside the real output folder (``inside``), and an input is never an output
  (``overlap``), however either is spelled.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotRegularFile(OSError):
    """A path that is a FIFO, a device, a socket or a folder where a file was expected."""


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _require_regular(mode: int, path) -> None:
    if not stat.S_ISREG(mode):
        raise NotRegularFile(errno.EINVAL, f"is {_kind(mode)}, not a regular file", str(path))


def _regular(fd: int, path) -> int:
    """``fd`` (opened without blocking) made blocking when it is a regular file; closed, and
    NotRegularFile, when it is not."""
    try:
        _require_regular(os.fstat(fd).st_mode, path)
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_regular(path, flags: int = os.O_RDONLY) -> int:
    """A descriptor of ``path`` (links followed, as for any input) when it is a regular file; opened
    without blocking, so a FIFO with no writer cannot hang the caller. NotRegularFile otherwise."""
    return _regular(os.open(path, flags | os.O_NONBLOCK), path)


def check_regular(path) -> None:
    """NotRegularFile unless ``path`` (links followed) is a regular file; OSError if it cannot be looked at."""
    _require_regular(os.stat(path).st_mode, path)


def open_own(path, flags: int, mode: int = 0o666) -> int:
    """Open one of nstbatch's own files without following a link at its name: a planted link is an
    OSError saying so (ELOOP), never a write to the file it points to."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "is a link; nstbatch does not follow links for its own files: remove it",
                          str(path)) from None
        raise


def read_own(path) -> str:
    """The text of one of nstbatch's own files, not through a link (``open_own``), regular files only."""
    with os.fdopen(_regular(open_own(path, os.O_RDONLY | os.O_NONBLOCK), path), "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def inside(path, folder) -> bool:
    """Whether ``path``, links resolved, is ``folder`` (links resolved) or lies inside it."""
    real, root = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return real == root or root in real.parents


def overlap(path, inputs) -> str | None:
    """How ``path`` (an output or a work folder) meets the input ``inputs``, links resolved: "is",
    "lies inside" (an input folder), "holds" (an existing folder holding the input); None when apart."""
    real, real_inputs = Path(os.path.realpath(path)), Path(os.path.realpath(inputs))
    if real == real_inputs:
        return "is"
    if real_inputs in real.parents and real_inputs.is_dir():
        return "lies inside"
    if real in real_inputs.parents and real.is_dir():
        return "holds"
    return None
