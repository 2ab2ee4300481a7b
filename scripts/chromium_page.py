"""Drive a page in headless Chromium over its DevTools pipe (no websocket library, no real-time loss):
open it, evaluate a script that may wait for a promise, take a screenshot, evaluate another. Used by
scripts/video_playback_check.sh, where media must play in real time (the --dump-dom and --screenshot
modes run on virtual time, in which a <video> does not advance).

    python scripts/chromium_page.py PAGE_URL SCREENSHOT.png 'BEFORE_SCREENSHOT_JS' 'AFTER_JS'

Prints the two scripts' values, one JSON line each.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys


class Browser:
    def __init__(self, *flags: str):
        chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
        if not chromium:
            raise SystemExit("error: no Chromium found; install it with: sudo apt-get install chromium")
        to_browser, self._from_us = os.pipe()
        self._to_us, from_browser = os.pipe()

        def pipes_on_3_and_4():  # where --remote-debugging-pipe looks for them, inherited across exec
            a, b = os.dup(to_browser), os.dup(from_browser)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.process = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                         "--remote-debugging-pipe", *flags, "about:blank"], close_fds=False,
                                        preexec_fn=pipes_on_3_and_4, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer, self._next = b"", 0
        page = next(t["targetId"] for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", {"targetId": page, "flatten": True})["sessionId"]

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._from_us, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._to_us, 1 << 20)
                if not chunk:
                    raise SystemExit("error: Chromium closed its DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise SystemExit(f"error: {method}: {reply['error'].get('message')}")
                return reply["result"]

    def page(self, method: str, params: dict | None = None) -> dict:
        return self.send(method, params, self.session)

    def evaluate(self, script: str):
        result = self.page("Runtime.evaluate", {"expression": script, "awaitPromise": True, "returnByValue": True})
        return result["result"].get("value")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def main() -> None:
    url, screenshot, before, after = sys.argv[1:5]
    browser = Browser("--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files")
    try:
        browser.page("Page.enable")
        browser.page("Emulation.setDeviceMetricsOverride", {"width": 640, "height": 400, "deviceScaleFactor": 1,
                                                            "mobile": False})
        browser.page("Page.navigate", {"url": url})
        print(json.dumps(browser.evaluate(before)))
        shot = browser.page("Page.captureScreenshot", {"format": "png"})
        with open(screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(json.dumps(browser.evaluate(after)))
    finally:
        browser.close()


if __name__ == "__main__":
    main()
