"""Writing a file so that readers see the old one or the whole new one, never half of either.

The temporary file is ``.nstbatch-tmp.NAME.XXXXXXXX.part`` beside the file it becomes (NAME cut short
where the whole would pass the file system's 255-byte limit on a name): the prefix is nstbatch's own,
so what a crash leaves behind is recognisable and ``remove_stale_temps`` clears it on the next run,
while a user's file that merely looks like a temporary one is never touched.
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

NAME_MAX = 255  # bytes in one file name, on every file system nstbatch writes to
TEMP_SUFFIX = ".part"
TEMP_PREFIX = ".nstbatch-tmp."
# What mkstemp adds is 8 characters of [a-z0-9_]; only names of this shape are ever removed as stale.
STALE_TEMP = re.compile("^" + re.escape(TEMP_PREFIX) + r".+\.[a-z0-9_]{8}\.[A-Za-z0-9]+$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_prefix(name: str, suffix: str) -> str:
    """``.nstbatch-tmp.NAME.``, with NAME cut (on a character boundary) so the whole temporary name fits in
    NAME_MAX."""
    room = NAME_MAX - len(TEMP_PREFIX) - len(".") - 8 - len(suffix.encode())
    encoded = name.encode()
    if len(encoded) > room:
        name = encoded[:room].decode(errors="ignore")
    return f"{TEMP_PREFIX}{name}."


@contextmanager
def atomic_path(path, suffix: str = TEMP_SUFFIX):
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on failure remove it.

    ``suffix`` ends the temporary name: writers that pick the format by extension (OpenCV's video
    writer) need the real one.

    The temporary file lies in the same folder (a rename across file systems is not atomic) and gets
    the permissions an ordinary new file would have, not mkstemp's private 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name, suffix), suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(folder, name: str | None = None) -> int:
    """Remove the temporary files a killed writer left anywhere under ``folder`` (links to folders are not
    followed); with ``name``, only those of that file, in ``folder`` itself. How many were removed.

    Only for a folder no other process is writing to: another writer's temporary file is in use."""
    removed = 0
    for here, dirs, files in os.walk(folder):
        if name is not None:
            dirs[:] = []
        for found in files:
            if STALE_TEMP.match(found) and (name is None or found.startswith(temp_prefix(name, ""))):
                try:
                    os.unlink(os.path.join(here, found))
                    removed += 1
                except OSError:  # gone already, or not ours to remove: leave it
                    pass
    return removed
