"""What a result is recorded as made from: the settings, compared with those asked for now (the one
comparison behind every "made with other settings" refusal: a batch's manifest, a video's record and
work folder, a training checkpoint), and the content hash of a file (paintings, photos, models)."""

from __future__ import annotations

import hashlib
import json
import os

from .files import open_regular


def as_stored(record: dict) -> dict:
    """``record`` as it reads back from JSON (tuples become lists), so a stored record compares equal."""
    return json.loads(json.dumps(record, sort_keys=True))


def differing(previous: dict, current: dict) -> list[str]:
    """The settings, sorted, whose values differ between two records (a setting only one has counts)."""
    previous, current = as_stored(previous), as_stored(current)
    return sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))


def file_sha256(path) -> str:
    """The content hash of a regular file (a FIFO or a device is an OSError, never read)."""
    digest = hashlib.sha256()
    with os.fdopen(open_regular(path), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
