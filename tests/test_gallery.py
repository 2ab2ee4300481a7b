"""The batch's gallery page, checked as HTML (a real browser renders it in scripts/gallery_screenshot.sh)."""

import html
import re
from html.parser import HTMLParser
from urllib.parse import unquote


from nstbatch.media.images import save_image

from conftest import invoke, painting_like, photo_like


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.images, self.cells = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.hrefs.append(unquote(attrs["href"]))
        if tag == "img":
            self.images.append(attrs["src"])

    def handle_data(self, data):
        self.cells.append(data)


def test_the_gallery_links_every_result_lists_failures_and_escapes_odd_names(tmp_path):
    inputs = tmp_path / "in"
    odd = 'a <b>&"quoted" photo.png'
    save_image(photo_like(24, 32, seed=1), inputs / odd)
    save_image(photo_like(24, 32, seed=2), inputs / "sub dir" / "été.png")
    (inputs / "broken.png").write_bytes(b"not a picture")
    style = save_image(painting_like(), tmp_path / "style.png")
    out = tmp_path / "out"
    result = invoke(*["run", "-i", str(inputs), "-s", str(style), "-o", str(out), "--size", "32",
                                      "--iterations", "2", "--device", "cpu", "-q"])
    assert result.exit_code == 1
    page = (out / "index.html").read_text(encoding="utf-8")
    parsed = Links()
    parsed.feed(page)
    # Each result linked by a relative path that resolves to the file, and each photo beside it.
    for name in (odd, "sub dir/été.png"):
        assert name in parsed.hrefs and any(h.endswith(name) and h.startswith("..") for h in parsed.hrefs)
        assert (out / name).exists()
    assert all((out / h).resolve().exists() for h in parsed.hrefs if "broken" not in h)
    # Thumbnails are inside the page: the photos, the results and the painting.
    assert len(parsed.images) == 2 * 2 + 1 and all(src.startswith("data:image/jpeg;base64,") for src in parsed.images)
    # The failure is listed with its reason; the odd name is escaped, never raw markup.
    text = " ".join(parsed.cells)
    assert "broken.png" in text and "is not an image Pillow can read" in text
    assert html.escape(odd) in page and "<b>&" not in page
    assert re.search(r"2 done, 0 already there, 1 failed", page)
    # A re-run lists the skipped results too, and the page is replaced whole.
    again = invoke(*["run", "-i", str(inputs), "-s", str(style), "-o", str(out), "--size", "32",
                                     "--iterations", "2", "--device", "cpu", "-q"])
    assert again.exit_code == 1 and "0 done, 2 already there, 1 failed" in (out / "index.html").read_text()
    assert not list(out.glob(".index.html*"))  # no temporary file left behind
