#!/usr/bin/env bash
# The batch gallery in a real browser: paint the bundled photos with the bundled network (plus one
# damaged file, so a failure shows), open OUTPUT/index.html in headless Chromium, check what it
# rendered, and save the screenshot the README shows (docs/images/gallery.jpg).
#
#   scripts/gallery_screenshot.sh        # needs Debian's Chromium: sudo apt-get install chromium
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_browser.sh
mkdir -p "$work/photos"
cp examples/photos/* "$work/photos/"
head -c 2000 examples/photos/coffee.jpg > "$work/photos/cut off.jpg"  # a truncated download
"$NSTBATCH" run -i "$work/photos" -m nstbatch/models/starry_night/model.safetensors \
  -o "$work/stylised" --max-size 512 --device cpu -q || true  # exit 1: the damaged file failed, as intended
page="file://$work/stylised/index.html"
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --allow-file-access-from-files)
# What the browser built: one row per input, every thumbnail an image it decoded.
"$CHROMIUM" "${flags[@]}" --dump-dom "$page" 2>/dev/null > "$work/dom.html"
"$PYTHON" - "$work/dom.html" <<'PY'
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
rows = re.findall(r'<tr class="(done|skipped|failed)"', dom)
images = re.findall(r'<img src="data:image/jpeg;base64,', dom)
assert rows.count("done") == 2 and rows.count("failed") == 1, rows
assert len(images) == 2 * 2, len(images)  # photo and result for each painted photo
assert "cut off.jpg" in dom and "truncated" in dom
print(f"chromium rendered {len(rows)} rows and {len(images)} thumbnails")
PY
"$CHROMIUM" "${flags[@]}" --window-size=1000,780 --screenshot="$work/shot.png" "$page" 2>/dev/null
"$PYTHON" - "$work/shot.png" docs/images/gallery.jpg <<'PY'
import sys
from PIL import Image, ImageStat
shot = Image.open(sys.argv[1]).convert("RGB")
assert max(ImageStat.Stat(shot).stddev) > 20, "the screenshot is blank"
shot.save(sys.argv[2], quality=88, optimize=True)
print(f"wrote {sys.argv[2]} ({shot.width}x{shot.height})")
PY
