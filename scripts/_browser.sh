# Sourced by the scripts that look at nstbatch's output in headless Chromium (gallery_screenshot.sh,
# video_playback_check.sh): finds Chromium (or exits 2 saying how to install it), names the Python and
# the nstbatch to run, and makes a work folder ($work) removed on exit.
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
  echo "error: no Chromium found; install it with: sudo apt-get install chromium (or set CHROMIUM=...)" >&2
  exit 2
fi
PYTHON=${PYTHON:-.venv/bin/python}
NSTBATCH=${NSTBATCH:-.venv/bin/nstbatch}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
