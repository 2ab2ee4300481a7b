"""The small random motions of training crops: exact for a pure shift, masked outside, a function of the generator."""

import torch

from nstbatch.training.motion import Motion, consistency, inside, move, random_motion

STILL = Motion(shift=0.0, rotation=0.0, zoom=0.0, wobble=0.0, noise=0.0)


def _image(size=16, seed=0):
    return torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_no_motion_moves_nothing_and_trusts_everything():
    grid = random_motion(2, 16, torch.Generator().manual_seed(0), STILL)
    image = _image()
    torch.testing.assert_close(move(image, grid), image, rtol=0, atol=1e-5)
    assert float(inside(grid).min()) == 1.0


def test_a_shift_of_whole_pixels_is_exact_and_masks_what_came_from_outside():
    size, pixels = 16, 2
    grid = random_motion(1, size, torch.Generator().manual_seed(0), STILL)
    grid[..., 0] += 2 * pixels / size  # sample 2 px to the right: the picture moves 2 px to the left
    image = _image()[:1]
    moved = move(image, grid)
    torch.testing.assert_close(moved[..., :-pixels], image[..., pixels:], rtol=0, atol=1e-5)
    mask = inside(grid)[0, 0]
    assert float(mask[:, :-pixels].min()) == 1.0 and float(mask[:, -pixels:].max()) == 0.0
    # a network that moves with its input is perfectly consistent, where the motion saw the crop
    assert float(consistency(image, moved, grid)) < 1e-10
    assert float(consistency(image, image, grid)) > 1e-3


def test_the_term_forgives_changes_inside_a_block_and_charges_coarse_ones_per_pixel():
    grid = random_motion(2, 16, torch.Generator().manual_seed(0), STILL)
    image = _image()
    # +-0.1 in a checkerboard: every 2 x 2 block keeps its mean, as when a stroke moves by a pixel
    rows, cols = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    checker = 0.1 * (1 - 2 * ((rows + cols) % 2)).float()
    assert float(consistency(image, image + checker, grid, block=2)) < 1e-10
    assert abs(float(consistency(image, image + checker, grid)) - 0.01) < 1e-6  # per pixel: charged in full
    # a change constant on each block costs its mean square, as the per-pixel term charges it
    coarse = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)) - 0.5
    coarse = coarse.repeat_interleave(2, -1).repeat_interleave(2, -2)
    for block in (1, 2):
        torch.testing.assert_close(consistency(image, image + coarse, grid, block), (coarse ** 2).mean(), rtol=1e-5, atol=0)


def test_motions_are_small_a_function_of_the_generator_and_differ_per_crop():
    limits = Motion()
    a = random_motion(4, 32, torch.Generator().manual_seed(3), limits)
    torch.testing.assert_close(a, random_motion(4, 32, torch.Generator().manual_seed(3), limits), rtol=0, atol=0)
    identity = random_motion(4, 32, torch.Generator().manual_seed(3), STILL)
    displacement = (a - identity).abs() * 32 / 2  # in pixels
    # shift + rotation and zoom at the corners + wobble, all a few pixels of a 32 px crop at most
    assert 0.05 < float(displacement.max()) < 32 * (limits.shift + limits.zoom + limits.wobble) + 1.5
    assert not torch.equal(a[0], a[1])
