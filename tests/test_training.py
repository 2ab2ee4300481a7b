"""Training: crops as a function of (seed, step), the loss going down, exact resume, refused changes,
checkpoints that fail clearly, and adding a painting to a trained network."""

import json

import pytest
import torch
from safetensors.torch import save_file

from nstbatch.media.images import load_image, save_image
from nstbatch.errors import ModelError, UsageError
from nstbatch.network.checkpoint import load_checkpoint, read_info
from nstbatch.records import file_sha256
from nstbatch.training.loop import CHECKPOINT, LOG, MODEL, Painting, Trainer, TrainSettings
from nstbatch.training.photos import crops, load_photos, photo_order

from conftest import TINY_TRAINING, clip_folders, invoke, painting_like, photo_folder, sliding_clip


@pytest.fixture
def photos(tmp_path):
    return load_photos(photo_folder(tmp_path / "photos"), TINY_TRAINING["crop_size"])


@pytest.fixture
def paintings(tmp_path):
    path = save_image(painting_like(), tmp_path / "stripes.png")
    return [Painting("stripes", load_image(path), file_sha256(path))]


def _settings(**changes):
    return TrainSettings(**{**TINY_TRAINING, "steps": 4, **changes})


def test_crops_are_a_function_of_seed_and_step(photos):
    a = crops(photos, 0, 5, 2, 32)
    assert a.shape == (2, 3, 32, 32) and 0 <= float(a.min()) and float(a.max()) <= 1
    torch.testing.assert_close(a, crops(photos, 0, 5, 2, 32), rtol=0, atol=0)
    assert not torch.equal(a, crops(photos, 0, 6, 2, 32))
    assert not torch.equal(a, crops(photos, 1, 5, 2, 32))
    # every photo once per epoch, in an order that changes between epochs
    first, second = photo_order(0, 0, 3, 3), photo_order(0, 1, 3, 3)
    assert sorted(first) == sorted(second) == [0, 1, 2]


def test_unreadable_photos_are_named_and_skipped(tmp_path):
    folder = photo_folder(tmp_path / "photos", count=2)
    (folder / "broken.jpg").write_text("not a picture")
    said = []
    photos = load_photos(folder, 32, on_skip=said.append)
    assert photos.names == ["p0.png", "p1.png"]
    assert len(said) == 1 and "broken.jpg" in said[0] and "not an image" in said[0]
    (folder / "p0.png").unlink()
    (folder / "p1.png").unlink()
    with pytest.raises(UsageError, match="no readable photos"):
        load_photos(folder, 32)


def test_a_few_steps_lower_the_training_loss(tmp_path, photos, paintings):
    trainer = Trainer(photos, paintings, _settings(steps=12, save_every=100, learning_rate=5e-3), tmp_path / "m", "cpu")
    with torch.no_grad():
        before = [float(trainer.step_losses(step)[0]) for step in range(3)]
    trainer.run()
    with torch.no_grad():
        after = [float(trainer.step_losses(step)[0]) for step in range(3)]
    assert sum(after) < 0.8 * sum(before), (before, after)


def test_resume_ends_at_the_weights_of_an_uninterrupted_run(tmp_path, photos, paintings):
    whole = Trainer(photos, paintings, _settings(), tmp_path / "whole", "cpu")
    whole.run()
    first = Trainer(photos, paintings, _settings(steps=2), tmp_path / "split", "cpu")
    first.run()
    second = Trainer(photos, paintings, _settings(), tmp_path / "split", "cpu")  # the same command, more steps
    assert second.resumed_from == 2
    result = second.run()
    assert result.step == 4 and result.resumed_from == 2
    for (name, a), b in zip(whole.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
    # the log holds each step once, whatever was interrupted
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / LOG).read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert sorted(p.name for p in (tmp_path / "split" / "previews").iterdir()) == ["step000002.png", "step000004.png"]


@pytest.mark.slow
def test_the_temporal_term_trains_a_steadier_network_that_blending_steadies_further(tmp_path, photos, paintings):
    import numpy as np

    from nstbatch.media.flow import temporal_errors
    from nstbatch.media.frames import open_frames
    from nstbatch.media.images import load_image, tensor_to_array
    from nstbatch.batch.progress import QuietReporter
    from nstbatch.batch.video_work import frame_path, paint_video
    from nstbatch.network.feedforward import FeedForward
    from nstbatch.network.torch_painter import TorchPainter
    from PIL import Image

    # A clip of known motion (a window sliding over a photo) with frame-to-frame sensor noise.
    rng = np.random.default_rng(0)
    clip = [np.clip(f + rng.normal(0, 4, f.shape), 0, 255).astype(np.uint8) for f in sliding_clip(frames=5)]
    folder = tmp_path / "clip"
    folder.mkdir()
    for t, frame in enumerate(clip):
        Image.fromarray(frame).save(folder / f"frame_{t + 1}.png")

    def network(weight):
        trainer = Trainer(photos, paintings, _settings(steps=40, save_every=1000, learning_rate=5e-3,
                                                       temporal_weight=weight), tmp_path / f"m{weight}", "cpu")
        trainer.run()
        return FeedForward(TorchPainter(trainer.model.eval(), "cpu"), ["stripes"], [1.0])

    def painted(engine, blend, work):
        paint_video(open_frames(folder), engine, 48, work, QuietReporter(), temporal_blend=blend)
        return [tensor_to_array(load_image(frame_path(work, t))) for t in range(len(clip))]

    trained_steady = network(1000.0)
    plain = painted(network(0.0), 0.0, tmp_path / "plain")
    steady, blended = painted(trained_steady, 0.0, tmp_path / "steady"), painted(trained_steady, 0.6, tmp_path / "blend")
    errors = [float(np.mean(temporal_errors(frames, clip))) for frames in (plain, steady, blended)]
    assert errors[1] < 0.5 * errors[0] and errors[2] < 0.8 * errors[1], errors
    # steadier, not blank: the picture still varies over the frame about as much as without the term
    assert np.std(steady[0]) > 0.5 * np.std(plain[0]), (np.std(steady[0]), np.std(plain[0]))


def test_clips_add_a_real_motion_term_recorded_and_checked_on_resume(tmp_path, photos, paintings):
    from nstbatch.training.clips import load_clips

    pairs = load_clips(clip_folders(tmp_path / "clips"), crop_size=32)
    with pytest.raises(UsageError, match="give a --temporal-weight above 0"):
        Trainer(photos, paintings, _settings(), tmp_path / "m", "cpu", clips=pairs)
    trainer = Trainer(photos, paintings, _settings(steps=2, temporal_weight=5.0), tmp_path / "m", "cpu", clips=pairs)
    trainer.run()
    rows = [json.loads(line) for line in (tmp_path / "m" / LOG).read_text().splitlines()]
    assert all(row["clips"] > 0 and row["temporal"] > 0 for row in rows)
    assert read_info(tmp_path / "m" / CHECKPOINT)[0].settings["clips"] == pairs.fingerprint()
    others = load_clips(clip_folders(tmp_path / "other", names=("backward",)), crop_size=32)
    with pytest.raises(UsageError, match="clips:"):
        Trainer(photos, paintings, _settings(steps=4, temporal_weight=5.0), tmp_path / "m", "cpu", clips=others)


def test_temporal_weight_is_recorded_only_when_on_and_checked_on_resume(tmp_path, photos, paintings):
    assert "temporal_weight" not in _settings().record()  # as checkpoints from before the term resume
    assert _settings(temporal_weight=5.0).record()["temporal_weight"] == 5.0
    Trainer(photos, paintings, _settings(steps=2, temporal_weight=5.0), tmp_path / "m", "cpu").run()
    with pytest.raises(UsageError, match=r"temporal_weight: 5.0 before, None now"):
        Trainer(photos, paintings, _settings(), tmp_path / "m", "cpu")
    with pytest.raises(UsageError, match="--temporal-weight must be"):
        Trainer(photos, paintings, _settings(temporal_weight=-1.0), tmp_path / "n", "cpu")
    # the block the term compares on decides the weights too: recorded when not per pixel, checked
    assert "temporal_block" not in _settings(temporal_weight=5.0).record()
    with pytest.raises(UsageError, match=r"temporal_block: None before, 2 now"):
        Trainer(photos, paintings, _settings(steps=4, temporal_weight=5.0, temporal_block=2), tmp_path / "m", "cpu")
    with pytest.raises(UsageError, match="--temporal-block must be"):
        Trainer(photos, paintings, _settings(temporal_weight=5.0, temporal_block=0), tmp_path / "n", "cpu")
    with pytest.raises(UsageError, match="give --temporal-weight too"):
        Trainer(photos, paintings, _settings(temporal_block=2), tmp_path / "n", "cpu")


def test_ema_ships_the_moving_average_of_the_weights_and_resumes_exactly(tmp_path, photos, paintings):
    import copy

    assert "ema_decay" not in _settings().record()  # off: as checkpoints from before it resume
    with pytest.raises(UsageError, match="--ema-decay must be in"):
        Trainer(photos, paintings, _settings(ema_decay=1.0), tmp_path / "bad", "cpu")
    decay = 0.5
    # The average worked out by hand alongside a plain run of the same steps.
    plain = Trainer(photos, paintings, _settings(), tmp_path / "plain", "cpu")
    expected = copy.deepcopy(plain.model.state_dict())
    for step in range(4):
        plain.optimizer.zero_grad()
        plain.step_losses(step)[0].backward()
        plain.optimizer.step()
        d = min(decay, (1 + step) / (10 + step))
        for name, value in plain.model.state_dict().items():
            expected[name] = d * expected[name] + (1 - d) * value
    whole = Trainer(photos, paintings, _settings(ema_decay=decay), tmp_path / "whole", "cpu")
    whole.run()
    shipped, info, _ = load_checkpoint(tmp_path / "whole" / MODEL)
    assert info.settings["ema_decay"] == decay
    for name, value in shipped.state_dict().items():
        torch.testing.assert_close(value, expected[name], rtol=1e-5, atol=1e-6, msg=name)
        assert not torch.equal(value, whole.model.state_dict()[name]) or not value.is_floating_point(), name
    # Interrupted after 2 steps and resumed: the same average as the whole run.
    Trainer(photos, paintings, _settings(steps=2, ema_decay=decay), tmp_path / "split", "cpu").run()
    resumed = Trainer(photos, paintings, _settings(ema_decay=decay), tmp_path / "split", "cpu")
    resumed.run()
    for (name, a), b in zip(whole.shipped.state_dict().items(), resumed.shipped.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(UsageError, match=r"ema_decay: 0.5 before, None now"):
        Trainer(photos, paintings, _settings(steps=6), tmp_path / "split", "cpu")


def test_changed_settings_are_refused_naming_what_differs(tmp_path, photos, paintings):
    Trainer(photos, paintings, _settings(steps=2), tmp_path / "m", "cpu").run()
    with pytest.raises(UsageError, match=r"crop_size: 32 before, 48 now"):
        Trainer(photos, paintings, _settings(crop_size=48), tmp_path / "m", "cpu")
    Trainer(photos, paintings, _settings(steps=6, save_every=3), tmp_path / "m", "cpu")  # steps and saving may change


def test_damaged_and_foreign_checkpoints_are_one_clear_line(tmp_path, tiny_model):
    model_dir, _ = tiny_model
    data = (model_dir / MODEL).read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="cut.safetensors: .*damaged"):
        load_checkpoint(cut)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ModelError, match="not an nstbatch styliser checkpoint"):
        read_info(foreign)
    text = tmp_path / "text.safetensors"
    text.write_text("hello")
    with pytest.raises(ModelError, match="not a readable safetensors checkpoint"):
        read_info(text)


def test_checkpoint_holds_metadata_and_optimiser_state(tiny_model):
    model_dir, (stripes, dots) = tiny_model
    network, info, optimizer_state = load_checkpoint(model_dir / CHECKPOINT)
    assert info.style_names == ["stripes", "dots"] and info.step == 2
    assert [s["sha256"] for s in info.styles] == [file_sha256(stripes), file_sha256(dots)]
    assert info.settings["crop_size"] == 32 and info.architecture.channels == 4
    assert optimizer_state is not None and len(optimizer_state["state"]) == len(list(network.parameters()))
    assert load_checkpoint(model_dir / MODEL)[2] is None  # the shippable file: weights only


def test_from_checkpoint_trains_only_the_new_paintings_gamma_beta(tmp_path, tiny_model, photos):
    model_dir, _ = tiny_model
    base, _, _ = load_checkpoint(model_dir / MODEL)
    path = save_image(painting_like(40, 40).roll(3, dims=2), tmp_path / "waves.png")
    new = [Painting("waves", load_image(path), file_sha256(path))]
    trainer = Trainer(photos, new, _settings(steps=3, learning_rate=1e-2), tmp_path / "more", "cpu", base=model_dir / MODEL)
    trainer.run()
    tuned, info, _ = load_checkpoint(tmp_path / "more" / MODEL)
    assert info.style_names == ["stripes", "dots", "waves"] and info.history[0]["styles"] == ["stripes", "dots"]
    for (name, before), after in zip(base.state_dict().items(), tuned.state_dict().values()):
        if name.endswith((".scale", ".shift")):
            assert torch.equal(after[:2], before), name  # the paintings it held are untouched
            assert not torch.equal(after[2], before.mean(0)), name  # the new one has learnt
        else:
            assert torch.equal(after, before), name  # convolutions frozen
    with pytest.raises(UsageError, match="already holds stripes"):
        stripes = model_dir.parent / "stripes.png"
        Trainer(photos, [Painting("stripes", load_image(stripes), file_sha256(stripes))], _settings(), tmp_path / "x",
                "cpu", base=model_dir / MODEL)


def _cli(*args):


    return invoke(*[*map(str, args)])


def _train(*args):
    return _cli("train", *args)


def test_cli_resumes_extends_and_refuses(tmp_path, paintings):
    photos = photo_folder(tmp_path / "photos")
    style = tmp_path / "stripes.png"
    base = ["--photos", photos, "--style", style, "--output", tmp_path / "m", "--device", "cpu", "--crop-size", 32,
            "--batch-size", 1, "--channels", 4, "--residual-blocks", 1, "--save-every", 1]
    first = _train(*base, "--steps", 1)
    assert first.exit_code == 0, first.output
    assert "trained to step 1" in first.output and (tmp_path / "m" / MODEL).exists()
    again = _train(*base, "--steps", 1)
    assert again.exit_code == 0 and "trained to step 1 already; give a larger --steps" in again.output
    more = _train(*base, "--steps", 2)
    assert more.exit_code == 0 and "resuming at step 1" in more.output and "trained to step 2" in more.output
    changed = _train(*base, "--steps", 3, "--seed", 5)
    assert changed.exit_code == 2 and "seed: 0 before, 5 now" in changed.output
    averaged = _train(*base, "--steps", 3, "--ema-decay", 0.9)
    assert averaged.exit_code == 2 and "ema_decay: None before, 0.9 now" in averaged.output
    assert _train(*base, "--steps", 3, "--ema-decay", 1).exit_code == 2  # outside [0, 1)
    (photos / "broken.png").write_text("no")
    skipped = _train(*[a if a != tmp_path / "m" else tmp_path / "n" for a in base], "--steps", 1)
    assert skipped.exit_code == 0 and "skipped:" in skipped.output and "broken.png" in skipped.output
    assert _train("--style", style, "--output", tmp_path / "x").exit_code == 2  # no --photos


def test_cli_trains_on_clips_and_wants_a_temporal_weight_with_them(tmp_path, paintings):
    photos = photo_folder(tmp_path / "photos")
    clips = clip_folders(tmp_path / "clips")
    base = ["--photos", photos, "--style", tmp_path / "stripes.png", "--clips", clips, "--device", "cpu",
            "--crop-size", 32, "--batch-size", 1, "--channels", 4, "--residual-blocks", 1, "--steps", 1]
    refused = _train(*base, "--output", tmp_path / "a")
    assert refused.exit_code == 2 and "give a --temporal-weight above 0" in refused.output
    trained = _train(*base, "--output", tmp_path / "b", "--temporal-weight", 5)
    assert trained.exit_code == 0, trained.output
    assert "6 frame pairs of 2 clips" in trained.output


def test_start_from_goes_on_training_every_weight_of_a_network(tmp_path, tiny_model, photos):
    model_dir, (stripes, dots) = tiny_model
    start, start_info, _ = load_checkpoint(model_dir / MODEL)
    held = [Painting(p.stem, load_image(p), file_sha256(p)) for p in (stripes, dots)]
    settings = _settings(steps=2, learning_rate=1e-2, temporal_weight=5.0, ema_decay=0.5)
    trainer = Trainer(photos, held, settings, tmp_path / "on", "cpu", start=model_dir / MODEL)
    for (name, a), b in zip(start.state_dict().items(), trainer.shipped.state_dict().values()):
        assert torch.equal(a, b), name  # the run begins at the network's weights, its average too
    trainer.run()
    went_on, info, _ = load_checkpoint(tmp_path / "on" / MODEL)
    assert all(not torch.equal(a, b) for a, b in zip(start.state_dict().values(), went_on.state_dict().values()))
    assert info.style_names == ["stripes", "dots"] and info.step == 2
    assert info.history[-1]["sha256"] == file_sha256(model_dir / MODEL) and info.history[-1]["step"] == start_info.step
    # the same as a fresh run handed the weights (what bench_temporal_training does)
    handed = Trainer(photos, held, settings, tmp_path / "handed", "cpu")
    handed.start_from(start)
    handed.run()
    for (name, a), b in zip(trainer.shipped.state_dict().items(), handed.shipped.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(UsageError, match="holds stripes, dots: --start-from goes on training"):
        Trainer(photos, held[:1], settings, tmp_path / "x", "cpu", start=model_dir / MODEL)
    with pytest.raises(UsageError, match="give one"):
        Trainer(photos, held, settings, tmp_path / "x", "cpu", base=model_dir / MODEL, start=model_dir / MODEL)
    with pytest.raises(UsageError, match="start: "):  # resuming from another network is refused
        Trainer(photos, held, settings, tmp_path / "on", "cpu", start=model_dir / CHECKPOINT)


def test_cli_start_from(tmp_path, tiny_model):
    model_dir, (stripes, dots) = tiny_model
    photos = photo_folder(tmp_path / "photos")
    common = ["--photos", photos, "--device", "cpu", "--crop-size", 32, "--batch-size", 1, "--steps", 1,
              "--start-from", model_dir / MODEL, "--temporal-weight", 2]
    done = _train(*common, "--style", stripes, "--style", dots, "--output", tmp_path / "m")
    assert done.exit_code == 0, done.output
    assert f"going on from {model_dir / MODEL}" in done.output and "trained to step 1" in done.output
    info = _cli("info", "--model", tmp_path / "m" / MODEL)
    assert info.exit_code == 0 and file_sha256(model_dir / MODEL) in info.output
    assert "temporal_weight" in info.output
    refused = _train(*common, "--style", stripes, "--output", tmp_path / "n")  # one of its two paintings
    assert refused.exit_code == 2 and "--start-from goes on training" in refused.output
