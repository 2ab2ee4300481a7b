"""A page to look at a batch: ``OUTPUT/index.html``, each photo beside its result.

One self-contained file (styles inline, thumbnails as data URIs) that links each thumbnail to the
full picture, lists the painting(s), the losses and seconds of every result and the reason of every
failure. It is rewritten atomically as results come in (at most every few seconds), so a long batch
can be watched in a browser by reloading.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from PIL import Image

from ..atomic import atomic_path
from ..errors import ImageError
from ..media.images import opened, tensor_to_pil

log = logging.getLogger("nstbatch")

THUMBNAIL = 320  # long side of the thumbnails, in pixels
THUMBNAIL_MAX_PIXELS = 100_000_000  # a file larger than this is not decoded for its thumbnail
REWRITE_EVERY = 2.0  # seconds between rewrites while a batch runs


def thumbnail_uri(picture) -> str | None:
    """A small JPEG of ``picture`` (a file, or a 1 x 3 x H x W array or tensor in [0, 1]) as a data URI;
    None if the file cannot be read."""
    try:
        if not isinstance(picture, (str, os.PathLike)):
            img = tensor_to_pil(picture)
        else:
            with opened(picture, THUMBNAIL_MAX_PIXELS) as found:  # a regular file, not too large
                if found.width * found.height > THUMBNAIL_MAX_PIXELS:
                    return None
                found.draft("RGB", (THUMBNAIL, THUMBNAIL))
                img = found.convert("RGB")
        img.thumbnail((THUMBNAIL, THUMBNAIL))
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, ImageError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumbnails(photo, result) -> tuple[str | None, str | None]:
    """Both thumbnails of a finished result from the pictures in memory: no file is read again."""
    return thumbnail_uri(photo), thumbnail_uri(result)


@dataclass
class Entry:
    name: str  # the input, relative to the inputs root
    status: str  # done | skipped | failed
    photo: str | None  # thumbnail data URIs
    result: str | None
    photo_link: str  # relative links from the page to the full pictures
    result_link: str
    detail: str  # losses and seconds, or the reason it failed


class Gallery:
    def __init__(self, output_dir: Path, paintings: list[tuple[str, Path | None]], title: str,
                 page: str = "index.html"):
        self.folder = Path(output_dir)
        self.path = self.folder / page
        self.title = title
        # (name, thumbnail): a painting's file is shown, a network's paintings are named only.
        self.paintings = [(name, thumbnail_uri(path) if path else "") for name, path in paintings]
        self.entries: list[Entry] = []
        self.written = 0.0
        self.failed = False  # the last rewrite failed (said once until one succeeds)

    def _link(self, path: Path) -> str:
        return quote(Path(os.path.relpath(Path(path).resolve(), self.folder.resolve())).as_posix())

    def add(self, job, losses: dict | None, seconds: float, pictures: tuple | None = None) -> None:
        """One result (or failure); ``pictures`` are its thumbnails when the runner already made them."""
        if job.status == "failed":
            detail = job.error or "failed"
        else:
            shown = "".join(f"; {k} {v:.4g}" for k, v in (losses or {}).items() if k == "total" or len(losses) <= 4)
            detail = "already there" if job.status == "skipped" else f"{seconds:.2f} s{shown}"
        if pictures is None:  # skipped or failed: from the files, where they can be read
            pictures = thumbnail_uri(job.source), thumbnail_uri(job.output) if job.status != "failed" else None
        self.entries.append(Entry(job.relative, job.status, *pictures, self._link(job.source), self._link(job.output),
                                  detail))
        if time.monotonic() - self.written >= REWRITE_EVERY:
            self.write()

    def write(self) -> Path | None:
        """Rewrite the page; a page that cannot be written (a full disk) is said once, and the batch goes on."""
        self.written = time.monotonic()
        try:
            with atomic_path(self.path) as tmp:
                tmp.write_text(self.html(), encoding="utf-8")
        except OSError as exc:
            if not self.failed:
                log.error("%s: cannot write the gallery (%s); the results are not affected", self.path,
                          exc.strerror or exc)
            self.failed = True
            return None
        self.failed = False
        return self.path

    def html(self) -> str:
        counts = {s: sum(e.status == s for e in self.entries) for s in ("done", "skipped", "failed")}
        paintings = "".join(
            f'<figure>{_img(uri, name) if uri != "" else ""}<figcaption>{html.escape(name)}</figcaption></figure>'
            for name, uri in self.paintings)
        rows = []
        for e in self.entries:
            photo = f'<a href="{e.photo_link}">{_img(e.photo, e.name)}</a>'
            result = (f'<a href="{e.result_link}">{_img(e.result, "result")}</a>' if e.status != "failed"
                      else '<div class="missing">no result</div>')
            rows.append(f'<tr class="{e.status}"><td class="name">{html.escape(e.name)}</td><td>{photo}</td>'
                        f'<td>{result}</td><td class="detail">{html.escape(e.detail)}</td></tr>')
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(self.title)}</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2em; color: #222; background: #fafafa; }}
h1 {{ font-size: 1.3em; }} .paintings {{ display: flex; gap: 1em; }} figure {{ margin: 0; }}
figcaption, .detail {{ color: #555; font-size: 0.9em; }} .detail {{ max-width: 24em; }}
table {{ border-collapse: collapse; margin-top: 1em; }} td {{ padding: 6px 10px; vertical-align: middle; }}
tr {{ border-bottom: 1px solid #ddd; }} img {{ max-width: {THUMBNAIL}px; max-height: {THUMBNAIL}px; display: block; }}
tr.failed .detail {{ color: #b00020; font-weight: 600; }} .missing {{ color: #999; font-style: italic; }}
</style></head><body>
<h1>{html.escape(self.title)}</h1>
<p>{counts["done"]} done, {counts["skipped"]} already there, {counts["failed"]} failed
&middot; updated {time.strftime("%Y-%m-%d %H:%M:%S")}</p>
<div class="paintings">{paintings}</div>
<table>
<tr><th>file</th><th>photo</th><th>result</th><th></th></tr>
{chr(10).join(rows)}
</table>
</body></html>
"""


def _img(uri: str | None, alt: str) -> str:
    if uri is None:
        return '<div class="missing">cannot be shown</div>'
    return f'<img src="{uri}" alt="{html.escape(alt)}" loading="lazy">'
