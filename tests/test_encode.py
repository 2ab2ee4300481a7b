"""A painted clip written as people play it: H.264 yuv420p in mp4, the frames and duration of the source,
and the source's sound (its tone still there), trimmed to the frames painted or left out on request."""

import subprocess
import sys

import av
import numpy as np
import pytest

from conftest import invoke

RATE, TONE, FPS, FRAMES = 44100, 440.0, 8, 8


def make_clip(path, sound=True, audio_codec="aac", colour=None):
    """A second of moving colour at 8 fps, with a 440 Hz tone, written by the same library; ``colour``: the
    description it carries (primaries, transfer, matrix, range), its frames converted through it."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 48, 40, "yuv420p"
        if colour is not None:
            context = video.codec_context
            context.color_primaries, context.color_trc, context.colorspace, context.color_range = colour
        audio = container.add_stream(audio_codec, rate=RATE, layout="mono") if sound else None
        for t in range(FRAMES):
            picture = np.zeros((40, 48, 3), np.uint8)
            picture[..., 0], picture[8:20, 4 * t:4 * t + 12] = 30 * t, 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            if colour is not None:
                frame = frame.reformat(format="yuv420p", dst_colorspace={1: "ITU709", 6: "SMPTE170M"}[colour[2]],
                                       dst_color_range="MPEG" if colour[3] == 1 else "JPEG")
            frame.pts = t
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            tone = (0.5 * np.sin(2 * np.pi * TONE * np.arange(RATE) / RATE)).astype(np.float32)
            sample_format = audio.codec_context.format.name  # what the encoder takes: float planes for AAC
            for start in range(0, RATE, 1024):
                block = tone[None, start:start + 1024]
                if sample_format.startswith("s16"):
                    block = (block * 32767).astype(np.int16)
                chunk = av.AudioFrame.from_ndarray(block, format=sample_format, layout="mono")
                chunk.sample_rate, chunk.pts = RATE, start
                container.mux(audio.encode(chunk))
            container.mux(audio.encode(None))
    return path


def streams(path):
    """What a player finds: per stream its codec, pixel format, frames, seconds and sample rate; and the sound."""
    with av.open(str(path)) as container:
        found = {}
        for stream in container.streams:
            seconds = float(stream.duration * stream.time_base) if stream.duration else None
            found[stream.type] = {"codec": stream.codec_context.codec.canonical_name, "seconds": seconds,
                                  "pix_fmt": getattr(stream.codec_context, "pix_fmt", None),
                                  "rate": getattr(stream.codec_context, "sample_rate", None)}
        if "video" in found:
            found["video"]["frames"] = sum(1 for _ in container.decode(video=0))
    if "audio" in found:
        with av.open(str(path)) as container:
            samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
        found["audio"]["samples"] = samples
    return found


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def paint(source, out, *extra):
    return invoke(*["video", "-i", str(source), "-o", str(out), *map(str, extra), "-q"])


def test_a_painted_clip_plays_as_h264_with_its_sound(tiny_onnx, tmp_path):
    source = make_clip(tmp_path / "clip.mp4")
    result = paint(source, tmp_path / "out.mp4", "-m", tiny_onnx, "--device", "cpu")
    assert result.exit_code == 0, result.output
    got, want = streams(tmp_path / "out.mp4"), streams(source)
    video = got["video"]
    assert (video["codec"], video["pix_fmt"], video["frames"]) == ("h264", "yuv420p", FRAMES)
    assert abs(video["seconds"] - want["video"]["seconds"]) < 1 / FPS
    sound = got["audio"]
    assert sound["codec"] == "aac" and sound["rate"] == RATE
    assert abs(len(sound["samples"]) / RATE - 1.0) < 0.05  # AAC pads to whole frames of 1024 samples
    assert abs(dominant_frequency(sound["samples"], RATE) - TONE) < 5


def test_the_sound_is_trimmed_to_the_frames_painted_or_left_out(tiny_onnx, tmp_path):
    source = make_clip(tmp_path / "clip.mp4")
    half = paint(source, tmp_path / "half.mp4", "-m", tiny_onnx, "--device", "cpu", "--max-frames", 4)
    assert half.exit_code == 0, half.output
    got = streams(tmp_path / "half.mp4")
    assert got["video"]["frames"] == 4 and abs(len(got["audio"]["samples"]) / RATE - 0.5) < 0.05
    silent = paint(source, tmp_path / "silent.mp4", "-m", tiny_onnx, "--device", "cpu", "--no-audio")
    assert silent.exit_code == 0 and "audio" not in streams(tmp_path / "silent.mp4")
    # A different choice of sound is a different video: made again, not taken for the one there.
    again = paint(source, tmp_path / "silent.mp4", "-m", tiny_onnx, "--device", "cpu")
    assert again.exit_code == 2 and "audio differ" in again.output


def test_a_clip_without_sound_gives_a_video_without_sound(tiny_onnx, tmp_path):
    source = make_clip(tmp_path / "quiet.mp4", sound=False)
    result = invoke(*["video", "-i", str(source), "-o", str(tmp_path / "out.mp4"), "-m",
                                      str(tiny_onnx), "--device", "cpu"])
    assert result.exit_code == 0 and "h264, without sound" in result.output, result.output
    assert "audio" not in streams(tmp_path / "out.mp4")


def test_codecs_are_checked_before_any_work(tiny_onnx, tmp_path):
    source = make_clip(tmp_path / "clip.mp4")
    result = paint(source, tmp_path / "out.mp4", "-m", tiny_onnx, "--codec", "mpeg1")
    assert result.exit_code == 2 and "--codec must be one of h264, hevc, vp9, av1" in result.output
    assert not (tmp_path / "out.mp4.frames").exists()


@pytest.mark.parametrize("codec,name", [("vp9", "vp9"), ("av1", "av1")])
def test_other_codecs_where_their_encoders_are(codec, name, tmp_path):
    # Each in a process of its own, as each `nstbatch video` encodes once.
    code = ("import sys, numpy as np; from nstbatch.media.encode import write_video; "
            "frames = [np.full((40, 48, 3), 20 * t, np.uint8) for t in range(4)]; "
            "print(write_video(frames, sys.argv[1], 8.0, codec=sys.argv[2]))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out.mp4"), codec], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "(4, False)", done.stderr[-500:]
    assert streams(tmp_path / "out.mp4")["video"]["codec"] == name
    assert not done.stderr.strip(), done.stderr[-500:]  # the encoders' own logs kept quiet


def make_timed_clip(path, times, codec="libx264"):
    """A clip whose frames fall at ``times`` (seconds): a variable frame rate."""
    from fractions import Fraction

    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=10)
        video.width, video.height, video.pix_fmt = 48, 40, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        for t in times:
            frame = av.VideoFrame.from_ndarray(np.full((40, 48, 3), int(200 * t), np.uint8), format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    return path


def frame_times(path):
    with av.open(str(path)) as container:
        return [round(float(frame.time), 3) for frame in container.decode(video=0)]


def test_a_variable_frame_rate_is_kept(tiny_onnx, tmp_path):
    times = [0.0, 0.1, 0.3, 0.35, 0.6, 1.0]
    source = make_timed_clip(tmp_path / "vfr.mp4", times)
    assert frame_times(source) == times
    result = paint(source, tmp_path / "out.mp4", "-m", tiny_onnx, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert frame_times(tmp_path / "out.mp4") == times


@pytest.mark.parametrize("suffix,codec", [(".mkv", "libx264"), (".webm", "libvpx-vp9"), (".mov", "libx264")])
def test_other_containers_are_read(suffix, codec, tiny_onnx, tmp_path):
    source = make_timed_clip(tmp_path / f"clip{suffix}", [i / 8 for i in range(5)], codec)
    result = paint(source, tmp_path / "out.mp4", "-m", tiny_onnx, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert streams(tmp_path / "out.mp4")["video"]["frames"] == 5


def test_a_phone_clip_turned_in_its_metadata_comes_out_upright(tiny_onnx, tmp_path):
    import struct

    # Stored 48 wide and 32 high with a white block at the top left; the track's matrix says: show it
    # turned 90 degrees clockwise (as a phone held upright writes it). Upright, the block is at the top right.
    stored = tmp_path / "stored.mp4"
    with av.open(str(stored), "w") as container:
        video = container.add_stream("libx264", rate=8)
        video.width, video.height, video.pix_fmt = 48, 32, "yuv420p"
        for t in range(3):
            picture = np.zeros((32, 48, 3), np.uint8)
            picture[:8, :16] = 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = t
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    data = bytearray(stored.read_bytes())
    box = data.index(b"tkhd")
    matrix = box + 4 + 4 + (32 if data[box + 4] == 1 else 20) + 8 + 8  # past version, flags, times, ids, layer...
    data[matrix:matrix + 36] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)
    turned = tmp_path / "turned.mp4"
    turned.write_bytes(data)
    with av.open(str(turned)) as container:
        assert next(container.decode(video=0)).rotation == -90  # FFmpeg reads the turn from the matrix
    out = tmp_path / "frames"
    result = paint(turned, tmp_path / "out.mp4", "-m", tiny_onnx, "--device", "cpu", "--frames-dir", out)
    assert result.exit_code == 0, result.output
    with av.open(str(tmp_path / "out.mp4")) as container:
        first = next(container.decode(video=0))
        assert (first.width, first.height, first.rotation) == (32, 48, 0)  # upright, and nothing left to turn
    from nstbatch.media.frames import open_frames

    source = open_frames(turned)
    assert (source.width, source.height) == (32, 48)
    upright = next(iter(source.read(48)))[1][..., 0].astype(float)
    assert upright[:16, 24:].mean() > 200 and upright[:16, :8].mean() < 50  # the block at the top right


def audio_packets(path, count):
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(audio=0) if packet.size][:count]


def test_aac_sound_is_copied_and_other_sound_encoded_as_aac(tiny_onnx, tmp_path):
    # AAC already: the packets themselves go in, not a second lossy encoding of them.
    source = make_clip(tmp_path / "clip.mp4")
    assert paint(source, tmp_path / "copied.mp4", "-m", tiny_onnx, "--device", "cpu").exit_code == 0
    assert audio_packets(tmp_path / "copied.mp4", 20) == audio_packets(source, 20)
    # FLAC in Matroska: decoded, then encoded as AAC, the tone still there.
    flac = make_clip(tmp_path / "clip.mkv", audio_codec="flac")
    result = paint(flac, tmp_path / "encoded.mp4", "-m", tiny_onnx, "--device", "cpu")
    assert result.exit_code == 0, result.output
    sound = streams(tmp_path / "encoded.mp4")["audio"]
    assert sound["codec"] == "aac" and abs(dominant_frequency(sound["samples"], RATE) - TONE) < 5
    assert abs(len(sound["samples"]) / RATE - 1.0) < 0.05



def test_the_python_api_writes_a_clip_the_same_way(tiny_onnx, files, tmp_path):
    import nstbatch

    source = make_clip(tmp_path / "clip.mp4")
    written = nstbatch.stylize_video(source, tmp_path / "net.mp4", model=tiny_onnx, device="cpu")
    got = streams(written)
    assert got["video"]["codec"] == "h264" and got["video"]["frames"] == FRAMES and got["audio"]["codec"] == "aac"
    _, style = files
    silent = nstbatch.stylize_video(source, tmp_path / "opt.mp4", style, size=32, max_frames=3, iterations=2,
                                    first_iterations=3, device="cpu", audio=False)
    got = streams(silent)
    assert got["video"]["frames"] == 3 and "audio" not in got and not list(tmp_path.glob("*.frames"))


def test_hevc_without_an_nvidia_gpu_is_one_line(tmp_path, monkeypatch):
    from nstbatch.errors import UsageError
    from nstbatch.media import encode
    from nstbatch.media.encode import write_video

    monkeypatch.setattr(encode, "_nvenc_opens", lambda *args: False)  # a machine without one, wherever this runs
    frames = [np.full((40, 48, 3), 20 * t, np.uint8) for t in range(4)]
    with pytest.raises(UsageError, match="--codec hevc: no encoder for it works here.*hevc_nvenc needs an NVIDIA GPU"):
        write_video(frames, tmp_path / "out.mp4", 8.0, codec="hevc")
    assert not (tmp_path / "out.mp4").exists()



def described_colours(path):
    """The first video frame's colour description (primaries, transfer, matrix, range) and its RGB, decoded
    through it as a player that follows it would."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return (frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range), frame.to_ndarray(
            format="rgb24")


@pytest.mark.parametrize("colour, expected", [(None, (1, 1, 1, 1)), ((6, 6, 6, 1), (6, 6, 6, 1)),
                                              ((1, 1, 1, 2), (1, 1, 1, 2)), ((1, 1, 1, 0), (1, 1, 1, 1))])
def test_a_clip_says_how_its_colours_are_meant_and_players_that_follow_it_see_the_painted_ones(tmp_path, colour,
                                                                                               expected):
    from nstbatch.media.encode import write_video

    flat = np.zeros((32, 48, 3), np.uint8)
    flat[...] = (200, 60, 30)  # a saturated orange: BT.601 and BT.709 turn it into different YUV
    write_video([flat] * 3, tmp_path / "out.mp4", 8, colour=colour)
    description, seen = described_colours(tmp_path / "out.mp4")
    assert description == expected
    assert np.abs(seen[8:24, 8:40].astype(int) - flat[8:24, 8:40]).max() <= 3


def test_video_carries_the_clip_s_colour_description_and_sound(tiny_onnx, tmp_path):
    from nstbatch.media.frames import open_frames

    clip = make_clip(tmp_path / "phone.mp4", colour=(1, 1, 1, 1))
    assert open_frames(clip).colour == (1, 1, 1, 1)
    untagged = make_clip(tmp_path / "plain.mp4", sound=False)
    assert open_frames(untagged).colour is None
    result = invoke("video", "-i", clip, "-m", tiny_onnx, "-o", tmp_path / "out.mp4", "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    assert described_colours(tmp_path / "out.mp4")[0] == (1, 1, 1, 1)
    assert "audio" in streams(tmp_path / "out.mp4")


def test_a_clip_shrunk_by_a_default_says_so_and_how_to_keep_its_size(tiny_onnx, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", sound=False)
    shrunk = invoke("video", "-i", clip, "-m", tiny_onnx, "-o", tmp_path / "small.mp4", "--max-size", 32, "-q")
    assert shrunk.exit_code == 0, shrunk.output
    assert "painted at 32x26, smaller than the clip's 48x40; --max-size 48 keeps its size" in shrunk.output
    kept = invoke("video", "-i", clip, "-m", tiny_onnx, "-o", tmp_path / "kept.mp4", "--max-size", 48, "-q")
    assert kept.exit_code == 0 and "smaller than the clip" not in kept.output
    with av.open(str(tmp_path / "kept.mp4")) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (48, 40)
