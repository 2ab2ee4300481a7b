"""What a quiet one-photo `run --model` loads: a network paints a photo in tens of milliseconds, so modules
it does not need (rich's console, every image plugin Pillow has) are a visible share of the command."""

import subprocess
import sys

# The installed command's entry point, reporting at exit which of the watched modules were imported.
REPORT_IMPORTS = """
import atexit, sys
WATCHED = ("rich.console", "rich.progress", "PIL.PdfImagePlugin", "PIL.DdsImagePlugin")
atexit.register(lambda: print("loaded:", ",".join(m for m in WATCHED if m in sys.modules)))
from nstbatch.cli import main
sys.argv[0] = "nstbatch"
main()
"""


def loaded_by(*args) -> tuple[subprocess.CompletedProcess, list[str]]:
    done = subprocess.run([sys.executable, "-c", REPORT_IMPORTS, *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    line = [text for text in done.stdout.splitlines() if text.startswith("loaded:")][-1]
    return done, [name for name in line.removeprefix("loaded:").strip().split(",") if name]


def test_a_quiet_run_through_a_network_loads_no_console_library_and_no_rare_image_plugins(tiny_onnx, files, tmp_path):
    inputs, _ = files
    done, loaded = loaded_by("run", "-i", inputs, "-m", tiny_onnx, "-o", tmp_path / "out", "-q", "--device", "cpu")
    assert done.returncode == 0 and "2 done" in done.stdout + done.stderr, done.stdout + done.stderr
    assert loaded == []
    # with bars, rich is what draws them
    shown, loaded = loaded_by("run", "-i", inputs, "-m", tiny_onnx, "-o", tmp_path / "shown", "--device", "cpu")
    assert shown.returncode == 0 and "rich.progress" in loaded, shown.stderr
