"""Regions in a batch and in networks: masks and segmentations read and fitted (media/masks.py), the
region options (batch/painted_regions.py), per-photo masks through `nstbatch run` (a missing one fails its photo
or paints it whole, a changed one redoes its photo), and networks painting by region through a
per-pixel style map (network/stylizer.py, the ONNX `style_map` contract) or one pass per blend."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from nstbatch.batch.painted_regions import parse_regions
from nstbatch.errors import ImageError, UsageError
from nstbatch.media.images import read_picture, save_image
from nstbatch.media.masks import COLOUR_TOLERANCE, fitted, parse_colour, read_segmentation

from conftest import invoke, painting_like, photo_like



def save_mask(array, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.asarray(array) * 255).astype(np.uint8)).save(path)
    return path


def left_half(h, w):
    mask = np.zeros((h, w), np.float32)
    mask[:, : w // 2] = 1
    return mask


def test_colours_by_name_or_hex_and_a_bad_one_named():
    assert parse_colour("red") == (255, 0, 0)
    assert parse_colour("#00ff80") == (0, 255, 128)
    assert parse_colour("0f0") == (0, 255, 0)
    with pytest.raises(UsageError, match="'reddish' is not a colour"):
        parse_colour("reddish")


def test_a_segmentation_saved_with_noise_still_gives_each_pixel_its_colour(tmp_path):
    seg = np.zeros((20, 30, 3), np.float32)
    seg[:10] = (255, 0, 0)
    seg[10:, :15] = (0, 255, 0)
    seg[10:, 15:] = (200, 200, 200)  # a colour no region names: in no mask
    noisy = np.clip(seg + np.random.default_rng(0).integers(-COLOUR_TOLERANCE // 2, COLOUR_TOLERANCE // 2, seg.shape), 0, 255)
    Image.fromarray(noisy.astype(np.uint8)).save(tmp_path / "seg.png")
    red, green = read_segmentation(tmp_path / "seg.png", [(255, 0, 0), (0, 255, 0)])
    assert red[:10].min() == 1 and red[10:].max() == 0
    assert green[10:, :15].min() == 1 and green[:10].max() == 0 and green[10:, 15:].max() == 0


def test_a_mask_at_another_size_is_resampled_and_of_another_shape_refused(tmp_path):
    mask = left_half(30, 40)[None]
    resampled = fitted(mask, tmp_path / "m.png", (60, 80))
    assert resampled.shape == (1, 60, 80)
    assert resampled[0, :, :38].min() > 0.99 and resampled[0, :, 42:].max() < 0.01
    with pytest.raises(ImageError, match="m.png: is a 40x30 mask for a picture of another shape"):
        fitted(mask, tmp_path / "m.png", (40, 40))


def test_region_options_malformed_or_missing_are_one_usage_line(tmp_path):
    mask = save_mask(left_half(8, 8), tmp_path / "m.png")
    for args, message in [
        ((["nonsense"], None, None), "expected MASK=STYLE"),
        (([f"{tmp_path}/none.png=photo"], None, None), "no such mask file"),
        (([f"{mask}=a.jpg:-1"], None, None), "must be >= 0"),
        (([], mask, None), "--regions and --region-style go together"),
        (([], mask, ["red=photo", "#f00=photo"]), "given twice"),
        (([f"{mask}=a.jpg@{tmp_path}/none.png"], None, None), "no such painting mask"),
    ]:
        with pytest.raises(UsageError, match=message):
            parse_regions(*args)
    plan = parse_regions([f"{mask}=a.jpg:0.7,b.jpg:0.3", f"{mask}=photo"], None, None)
    assert [r.paintings for r in plan.regions] == [[("a.jpg", 0.7), ("b.jpg", 0.3)], []]


@pytest.fixture
def masked_folder(tmp_path):
    """Two photos, a folder of their masks mirroring them (the one for sub/b missing), and a painting."""
    inputs = tmp_path / "in"
    save_image(photo_like(32, 48, 0), inputs / "a.png")
    save_image(photo_like(32, 32, 1), inputs / "sub" / "b.jpg")
    masks = tmp_path / "masks"
    save_mask(left_half(32, 48), masks / "a.png")
    style = save_image(painting_like(), tmp_path / "style.png")
    return inputs, masks, style


def _rows(output):
    return [json.loads(line) for line in (output / "nstbatch-manifest.jsonl").read_text().splitlines()]


def test_a_photo_without_its_mask_fails_with_one_line_and_the_batch_goes_on(masked_folder, tmp_path):
    inputs, masks, style = masked_folder
    out = tmp_path / "out"
    result = invoke("run", "-i", inputs, "-o", out, "--region", f"{masks}=photo", "--style", style, "--size", 32,
                    "--iterations", 2, "--scales", "off", "--quiet")
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if "error:" in line]
    assert len(lines) == 1 and "b.jpg" in lines[0] and "has no mask in" in lines[0], result.output
    assert (out / "a.png").is_file() and not (out / "sub" / "b.png").exists()
    painted = [row for row in _rows(out) if row["status"] == "done"]
    assert painted[0]["masks"] and len(painted[0]["masks"][0]) == 64  # the mask's sha256 in its row

    unmasked = tmp_path / "unmasked"
    result = invoke("run", "-i", inputs, "-o", unmasked, "--region", f"{masks}=photo", "--style", style, "--size", 32,
                    "--iterations", 2, "--scales", "off", "--missing-mask", "unmasked", "--quiet")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "painted without regions" in result.output
    assert (unmasked / "sub" / "b.png").is_file()


def test_a_photo_region_keeps_the_photo_in_the_written_result(masked_folder, tmp_path):
    inputs, masks, style = masked_folder
    out = tmp_path / "out"
    result = invoke("run", "-i", inputs / "a.png", "-o", out, "--region", f"{masks / 'a.png'}=photo", "--style", style,
                    "--size", 48, "--iterations", 12, "--style-weight", 30, "--scales", "off", "--quiet")
    assert result.exit_code == 0, result.output
    photo, painted = read_picture(inputs / "a.png", 48), read_picture(out / "a.png")
    assert np.abs(painted[..., :, :20] - photo[..., :, :20]).max() <= 1 / 255 + 1e-6  # 8-bit rounding only
    assert np.abs(painted[..., :, 28:] - photo[..., :, 28:]).mean() > 0.02


def test_a_changed_mask_redoes_its_photo_and_only_it(masked_folder, tmp_path):
    inputs, masks, style = masked_folder
    save_mask(left_half(32, 32), masks / "sub" / "b.png")
    out = tmp_path / "out"
    args = ("run", "-i", inputs, "-o", out, "--region", f"{masks}=photo", "--style", style, "--size", 32,
            "--iterations", 2, "--scales", "off", "--quiet")
    assert invoke(*args).exit_code == 0
    assert invoke(*args).output.count("0 done, 2 skipped") == 1
    save_mask(1 - left_half(32, 32), masks / "sub" / "b.png")  # the other half now
    result = invoke(*args)
    assert result.exit_code == 0 and "1 done, 1 skipped" in result.output, result.output


def test_one_mask_for_every_photo_is_in_made_with_and_a_changed_one_is_refused_on_resume(masked_folder, tmp_path):
    inputs, masks, style = masked_folder
    out = tmp_path / "out"
    args = ("run", "-i", inputs / "a.png", "-o", out, "--region", f"{masks / 'a.png'}={style}", "--size", 32,
            "--iterations", 2, "--scales", "off", "--quiet")
    assert invoke(*args).exit_code == 0
    regions = _rows(out)[0]["made_with"]["regions"]
    assert regions[1]["mask"] and regions[1]["paintings"][0][1] == 1.0
    save_mask(1 - left_half(32, 48), masks / "a.png")
    result = invoke(*args)
    assert result.exit_code == 2 and "regions differ" in result.output, result.output


def test_regions_refuse_several_photos_at_once_and_a_bad_single_mask_before_any_work(masked_folder, tmp_path):
    inputs, masks, style = masked_folder
    result = invoke("run", "-i", inputs, "-o", tmp_path / "o1", "--region", f"{masks}=photo", "--style", style,
                    "--batch-size", 2)
    assert result.exit_code == 2 and "one photo at a time" in result.output
    (tmp_path / "bad.png").write_bytes(b"not a png")
    result = invoke("run", "-i", inputs, "-o", tmp_path / "o2", "--region", f"{tmp_path / 'bad.png'}=photo",
                    "--style", style)
    assert result.exit_code == 2 and "bad.png" in result.output and not (tmp_path / "o2").exists()


# Networks


def test_a_one_hot_style_map_is_the_single_painting_network(tiny_model):
    from nstbatch.network.checkpoint import load_checkpoint
    from nstbatch.network.stylizer import one_hot

    network = load_checkpoint(tiny_model[0] / "model.safetensors")[0].float().eval()
    photo = photo_like(24, 36)
    with torch.no_grad():
        for index in range(2):
            alone = network(photo, one_hot(index, 2))
            style_map = one_hot(index, 2)[:, :, None, None].expand(1, 2, 24, 36)
            torch.testing.assert_close(network(photo, style_map), alone, rtol=0, atol=1e-6)


def test_the_style_map_export_validates_and_paints_regions_in_one_pass(tiny_model, tmp_path):
    from nstbatch.exporter import export_stylizer
    from nstbatch.network.feedforward import FeedForward, region_blends
    from nstbatch.onnx.session import StylizerSession

    path = tmp_path / "map.onnx"
    report = export_stylizer(tiny_model[0] / "model.safetensors", path, style_map=True)
    assert report is not None and all(row.ok for row in report.rows)
    session = StylizerSession(path, ["CPUExecutionProvider"])
    assert session.inputs == ["image", "style_map"] and session.metadata["style_map"] == "true"
    photo = photo_like(24, 36).numpy()
    names = session.style_names
    # A constant map is the plain blend: what the model does for a run without regions.
    plain = FeedForward(session, names, [1.0, 0.0])
    map_of_ones = np.zeros((1, 2, 24, 36), np.float32)
    map_of_ones[:, 0] = 1
    np.testing.assert_allclose(plain.paint(photo), session(photo, None, map_of_ones).clip(0, 1), atol=1e-5)
    # Two regions: the left half painting 1, the right kept as the photo.
    plan = parse_regions([f"{save_mask(left_half(24, 36), tmp_path / 'l.png')}={names[1]}",
                          f"{save_mask(1 - left_half(24, 36), tmp_path / 'r.png')}=photo"], None, None)
    engine = FeedForward(session, names, [1.0, 0.0], regions=region_blends(plan, names))
    masks = np.stack([left_half(24, 36), 1 - left_half(24, 36)])
    painted = engine(photo, masks=masks).image
    np.testing.assert_array_equal(painted[..., 18:], photo[..., 18:])
    second = FeedForward(session, names, [0.0, 1.0]).paint(photo)
    first = plain.paint(photo)
    # Away from the boundary the left half is nearer painting 2's picture than painting 1's.
    left = (..., slice(0, 10))
    assert np.abs(painted[left] - second[left]).mean() < np.abs(painted[left] - first[left]).mean()


def test_without_a_style_map_regions_are_one_pass_per_blend_mixed_by_the_masks(tiny_onnx, tmp_path):
    from nstbatch.network.feedforward import FeedForward, region_blends
    from nstbatch.onnx.session import StylizerSession

    session = StylizerSession(tiny_onnx, ["CPUExecutionProvider"])
    assert not session.takes_style_map
    names = session.style_names
    photo = photo_like(24, 36).numpy()
    mask = save_mask(left_half(24, 36), tmp_path / "l.png")
    engine = FeedForward(session, names, [1.0, 0.0], regions=region_blends(parse_regions([f"{mask}={names[1]}"],
                                                                                          None, None), names))
    painted = engine(photo, masks=left_half(24, 36)[None]).image
    np.testing.assert_allclose(painted[..., :18], FeedForward(session, names, [0.0, 1.0]).paint(photo)[..., :18], atol=1e-6)
    np.testing.assert_allclose(painted[..., 18:], FeedForward(session, names, [1.0, 0.0]).paint(photo)[..., 18:], atol=1e-6)


def test_a_network_region_naming_no_painting_of_the_model_is_refused(tiny_onnx, masked_folder, tmp_path):
    inputs, masks, _ = masked_folder
    result = invoke("run", "-i", inputs / "a.png", "-o", tmp_path / "out", "--model", tiny_onnx, "--region",
                    f"{masks / 'a.png'}=starry")
    assert result.exit_code == 2 and "holds no painting 'starry'" in result.output


def test_a_video_with_a_mask_that_stays_put_keeps_the_photo_in_every_frame(tmp_path, tiny_onnx):
    from conftest import clip_folders

    clip = clip_folders(tmp_path) / "forward"
    mask = save_mask(left_half(40, 48), tmp_path / "left.png")
    for engine in (["--style", save_image(painting_like(), tmp_path / "style.png"), "--iterations", 3,
                    "--first-iterations", 6, "--style-weight", 30],
                   ["--model", tiny_onnx]):
        frames = tmp_path / f"frames-{engine[0][2:]}"
        result = invoke("video", "-i", clip, "-o", tmp_path / f"{engine[0][2:]}.mp4", "--frames-dir", frames, "--size", 48,
                        "--region", f"{mask}=photo", "--quiet", *engine)
        assert result.exit_code == 0, result.output
        painted = sorted(frames.glob("frame_*.png"))
        originals = sorted(clip.glob("frame_*.png"))
        assert len(painted) == len(originals) == 4
        for done, original in zip(painted, originals):
            done, original = read_picture(done), read_picture(original)
            assert np.abs(done[..., :20] - original[..., :20]).max() <= 1 / 255 + 1e-6
            assert np.abs(done[..., 28:] - original[..., 28:]).mean() > 0.01


@pytest.mark.parametrize("engine", ["network", "optimisation"])
def test_a_video_takes_a_mask_a_frame_from_a_folder_in_frame_order(engine, tmp_path, tiny_onnx):
    from conftest import clip_folders

    chosen = (["--model", tiny_onnx] if engine == "network" else
              # The painted half swaps sides every frame: no temporal term, so a frame is not held to the last.
              ["--style", save_image(painting_like(), tmp_path / "style.png"), "--iterations", 10,
               "--first-iterations", 6, "--style-weight", 30, "--temporal-weight", 0])
    clip = clip_folders(tmp_path) / "forward"
    masks = tmp_path / "masks"
    for number in (1, 2, 3, 4, 10):  # named as a segmentation tool numbers them: 10 sorts last, and is unused
        half = left_half(40, 48) if number % 2 else 1 - left_half(40, 48)
        save_mask(half, masks / f"mask_{number}.png")
    frames = tmp_path / "frames"
    result = invoke("video", "-i", clip, "-o", tmp_path / "a.mp4", *chosen, "--region", f"{masks}=photo",
                    "--frames-dir", frames, "--size", 48, "--quiet")
    assert result.exit_code == 0, result.output
    for number, (done, original) in enumerate(zip(sorted(frames.glob("frame_*.png")), sorted(clip.glob("frame_*.png"))),
                                              start=1):
        done, original = read_picture(done), read_picture(original)
        held, painted = (slice(0, 20), slice(28, 48)) if number % 2 else (slice(28, 48), slice(0, 20))
        assert np.abs(done[..., held] - original[..., held]).max() <= 1 / 255 + 1e-6, number
        assert np.abs(done[..., painted] - original[..., painted]).mean() > 0.01, number
    # Another mask for one frame is another video: the same command refuses to call the old one made.
    save_mask(left_half(40, 48), masks / "mask_2.png")
    again = invoke("video", "-i", clip, "-o", tmp_path / "a.mp4", *chosen, "--region", f"{masks}=photo",
                   "--size", 48)
    assert again.exit_code == 2 and "masks_sha256 differ" in again.output, again.output


def test_a_video_refuses_too_few_masks_and_masks_of_another_shape(tmp_path):
    from conftest import clip_folders

    clip = clip_folders(tmp_path) / "forward"
    style = save_image(painting_like(), tmp_path / "style.png")
    save_mask(left_half(40, 48), tmp_path / "masks" / "frame.png")
    result = invoke("video", "-i", clip, "-o", tmp_path / "a.mp4", "--style", style, "--region", f"{tmp_path / 'masks'}=photo")
    assert result.exit_code == 2 and "1 masks for 4 frames" in result.output
    square = save_mask(left_half(40, 40), tmp_path / "square.png")
    result = invoke("video", "-i", clip, "-o", tmp_path / "b.mp4", "--style", style, "--region", f"{square}=photo",
                    "--size", 48)
    assert result.exit_code == 2 and "square.png" in result.output and "another shape" in result.output


def test_info_says_a_model_takes_a_style_map(tiny_model, tmp_path):
    from nstbatch.exporter import export_stylizer

    export_stylizer(tiny_model[0] / "model.safetensors", tmp_path / "map.onnx", style_map=True)
    result = invoke("info", "--model", tmp_path / "map.onnx")
    assert result.exit_code == 0 and "style_map float32 [N, 2, h, w]" in result.output, result.output


def test_the_python_api_paints_by_region_with_either_engine(tiny_model, tmp_path):
    import nstbatch

    photo = photo_like(32, 48)
    mask = save_mask(left_half(32, 48), tmp_path / "left.png")
    style = save_image(painting_like(), tmp_path / "style.png")
    kept = np.asarray(nstbatch.stylize(photo, style, regions={mask: "photo"}, size=None, iterations=6,
                                       style_weight=30.0, device="cpu"), np.float32) / 255
    original = photo[0].permute(1, 2, 0).numpy()
    assert np.abs(kept[:, :20] - original[:, :20]).max() <= 1 / 255 + 1e-6
    assert np.abs(kept[:, 28:] - original[:, 28:]).mean() > 0.02
    model = tiny_model[0] / "model.safetensors"
    by_network = np.asarray(nstbatch.stylize(photo, model=model, regions={mask: "photo"}, size=None, device="cpu"),
                            np.float32) / 255
    assert np.abs(by_network[:, :20] - original[:, :20]).max() <= 1 / 255 + 1e-6
    with pytest.raises(UsageError, match="holds no painting 'starry'"):
        nstbatch.stylize(photo, model=model, regions={mask: "starry"}, device="cpu")
