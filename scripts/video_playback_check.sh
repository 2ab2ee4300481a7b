#!/usr/bin/env bash
# The painted clip as a person meets it: in a web page's <video>, in headless Chromium. Makes a clip with
# sound (the bundled clip's first 40 frames and a 440 Hz tone), paints it with the bundled network through
# `nstbatch video`, opens the result in a page, lets it play for real for three seconds, and checks what
# the browser reports: no error, its metadata loaded, its duration the source's within a frame, its
# playback clock advanced to the end, frames and sound decoded. Exit 0 only if all hold. Saves a screenshot
# of it playing, a second in, as docs/images/video_playing.jpg (the README's).
#
#   scripts/video_playback_check.sh        # needs Debian's Chromium: sudo apt-get install chromium
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_browser.sh

"$PYTHON" - "$work/source.mp4" <<'PY'
import sys
import av
import numpy as np

FRAMES, RATE = 40, 44100
with av.open("examples/video/cockatoo_3s.mp4") as clip:
    fps = clip.streams.video[0].average_rate
    frames = [frame.to_ndarray(format="rgb24") for _, frame in zip(range(FRAMES), clip.decode(video=0))]
with av.open(sys.argv[1], "w") as out:
    video = out.add_stream("libx264", rate=fps)
    video.height, video.width = frames[0].shape[:2]
    video.pix_fmt = "yuv420p"
    audio = out.add_stream("aac", rate=RATE, layout="mono")
    for t, picture in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = t
        out.mux(video.encode(frame))
    out.mux(video.encode(None))
    samples = int(RATE * FRAMES / fps)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / RATE)).astype(np.float32)
    for start in range(0, samples, 1024):
        chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = RATE, start
        out.mux(audio.encode(chunk))
    out.mux(audio.encode(None))
PY

"$NSTBATCH" video --inputs "$work/source.mp4" --model nstbatch/models/starry_night/model.onnx \
  --output "$work/painted.mp4" --size 256 --device cpu

cat > "$work/page.html" <<'HTML'
<!doctype html><html><body style="margin:0;background:#1b1b1b;color:#ddd;font:14px sans-serif">
<p style="margin:8px 12px">painted.mp4, as nstbatch video wrote it, playing in Chromium</p>
<video id="v" src="painted.mp4" autoplay muted controls playsinline style="width:600px;margin:0 12px"></video>
</body></html>
HTML

# The page is driven over Chromium's DevTools pipe, so the video plays in real time: a second of it, the
# screenshot, then on to its end (or four seconds), and what the browser saw.
before="new Promise(done => { const v = document.getElementById('v');
  const wait = () => setTimeout(() => done(v.currentTime), 1000);
  v.readyState >= 2 ? wait() : v.addEventListener('loadeddata', wait); })"
after="new Promise(done => { const v = document.getElementById('v');
  const report = () => done({readyState: v.readyState, duration: v.duration, currentTime: v.currentTime,
    width: v.videoWidth, height: v.videoHeight, error: v.error && v.error.code,
    audioBytes: v.webkitAudioDecodedByteCount, frames: v.webkitDecodedFrameCount});
  if (v.ended) report(); else { v.addEventListener('ended', report); setTimeout(report, 4000); } })"
"$PYTHON" scripts/chromium_page.py "file://$work/page.html" "$work/playing.png" "$before" "$after" \
  > "$work/browser.log"
"$PYTHON" -c "from PIL import Image; Image.open('$work/playing.png').convert('RGB').save('docs/images/video_playing.jpg', quality=88)"

"$PYTHON" - "$work/browser.log" "$work/source.mp4" <<'PY'
import json, sys
import av

lines = open(sys.argv[1]).read().splitlines()
if len(lines) != 2:
    sys.exit("error: the page reported nothing: Chromium did not run it")
at_screenshot, seen = json.loads(lines[0]), json.loads(lines[1])
with av.open(sys.argv[2]) as source:
    stream = source.streams.video[0]
    duration, frame = float(stream.duration * stream.time_base), 1 / float(stream.average_rate)
checks = {
    "no media error": seen["error"] is None and not seen.get("failed"),
    "metadata and a frame loaded (readyState >= 2)": seen["readyState"] >= 2,
    f"duration {seen['duration']:.3f} s within a frame of the source's {duration:.3f} s": abs(seen["duration"] - duration) <= frame + 1e-6,
    f"played to {seen['currentTime']:.3f} s of {seen['duration']:.3f}": seen["currentTime"] >= seen["duration"] - frame,
    f"{seen['frames']} frames decoded": seen["frames"] > 0,
    f"{seen['audioBytes']} bytes of sound decoded": seen["audioBytes"] > 0,
}
for what, ok in checks.items():
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
print(f"screenshot at {at_screenshot:.2f} s of playback: docs/images/video_playing.jpg")
print(f"Chromium played a {seen['width']}x{seen['height']} H.264 mp4 with its sound" if all(checks.values())
      else "error: the painted clip does not play as it should")
sys.exit(0 if all(checks.values()) else 1)
PY
