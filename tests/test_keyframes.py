"""A network for one clip trained on its painted keyframes: which frames are keyframes, that the network
learns the keyframes' mapping and carries it to the other frames, exact resumption, and the command."""

import pytest
import torch
from conftest import invoke, sliding_clip

from nstbatch.media.frames import open_frames
from nstbatch.media.images import array_to_tensor
from nstbatch.errors import UsageError
from nstbatch.training.keyframes import KeyframeSettings, KeyframeTrainer, keyframe_indices

TINY = dict(crop_size=24, batch_size=4, channels=4, residual_blocks=1, learning_rate=1e-2, save_every=3)


def test_keyframes_sit_in_the_middle_of_equal_shares_of_the_clip():
    assert keyframe_indices(10, 1) == [5]
    assert keyframe_indices(10, 2) == [2, 7]
    assert keyframe_indices(9, 3) == [1, 4, 7]
    assert keyframe_indices(3, 5) == [0, 1, 2]  # no more keyframes than frames
    with pytest.raises(UsageError):
        keyframe_indices(10, 0)


def painted(frames: torch.Tensor) -> torch.Tensor:
    """A stand-in for the optimiser's painting that a network can learn: colours swapped and darkened."""
    return 0.8 * frames.flip(1)


def test_the_network_learns_the_keyframes_look_and_paints_the_other_frames_alike(tmp_path):
    clip = torch.cat([array_to_tensor(frame) for frame in sliding_clip(frames=6)])
    keys = keyframe_indices(6, 2)
    others = [i for i in range(6) if i not in keys]
    trainer = KeyframeTrainer(clip[keys], painted(clip[keys]), KeyframeSettings(steps=40, **TINY), tmp_path,
                              torch.device("cpu"))
    with torch.no_grad():
        before = (trainer.model.eval()(clip[others]) - painted(clip[others])).abs().mean()
    network = trainer.run()
    with torch.no_grad():
        after = (network(clip[others]) - painted(clip[others])).abs().mean()
    assert after < 0.5 * before, (float(before), float(after))


def test_an_interrupted_training_resumes_to_the_same_weights_and_other_keyframes_start_again(tmp_path):
    clip = torch.cat([array_to_tensor(frame) for frame in sliding_clip(frames=4)])
    photos, paintings = clip[:2], painted(clip[:2])

    def trained(folder, steps):
        return KeyframeTrainer(photos, paintings, KeyframeSettings(steps=steps, **TINY), folder,
                               torch.device("cpu")).run()

    whole = trained(tmp_path / "whole", 6)
    trained(tmp_path / "parts", 3)
    resumed = KeyframeTrainer(photos, paintings, KeyframeSettings(steps=6, **TINY), tmp_path / "parts",
                              torch.device("cpu"))
    assert resumed.step == 3
    for name, value in resumed.run().state_dict().items():
        torch.testing.assert_close(value, whole.state_dict()[name], rtol=0, atol=0, msg=name)
    other = KeyframeTrainer(photos, 1 - paintings, KeyframeSettings(steps=6, **TINY), tmp_path / "parts",
                            torch.device("cpu"))
    assert other.step == 0  # another painting of the keyframes: not the stored network's


def test_video_with_keyframes_paints_the_clip_and_resumes(clip_dir, tmp_path, files):
    _, style = files
    out, work = tmp_path / "out.mp4", tmp_path / "work"
    args = ["video", "-i", str(clip_dir), "-s", str(style), "-o", str(out), "--frames-dir", str(work), "--size", "48",
            "--device", "cpu", "--keyframes", "2", "--first-iterations", "2", "--keyframe-steps", "3"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "2 keyframes painted with 2 iterations each" in result.output
    assert open_frames(out).count == 4 and sorted(p.name for p in (work / "keyframes").iterdir()) == [
        "frame_000002.png", "frame_000004.png"]
    stamps = {p: p.stat().st_mtime_ns for p in work.rglob("*.png")}
    out.unlink()
    again = invoke(*args)
    assert again.exit_code == 0 and "4 resumed" in again.output, again.output
    assert {p: p.stat().st_mtime_ns for p in work.rglob("*.png")} == stamps  # nothing painted twice


@pytest.mark.parametrize("extra, message", [
    (["--iterations", "5"], "--iterations: not with --keyframes"),
    (["--passes", "2", "--flow", "farneback"], "--passes, --flow: not with --keyframes"),
])
def test_frame_by_frame_options_are_refused_with_keyframes(clip_dir, tmp_path, files, extra, message):
    _, style = files
    result = invoke(*["video", "-i", str(clip_dir), "-s", str(style), "-o", str(tmp_path / "o.mp4"),
                                      "--keyframes", "2", *extra])
    assert result.exit_code == 2 and message in result.output, result.output
