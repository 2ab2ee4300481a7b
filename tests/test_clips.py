"""Training on real motion: clips read as pairs of consecutive frames with their flow, crops that carry
the earlier frame onto the later one, and the term in training (recorded, checked on resume)."""

import pytest
import torch
from conftest import clip_folders

from nstbatch.errors import UsageError
from nstbatch.training.clips import carried, load_clips, pair_crops


@pytest.fixture
def clips(tmp_path):
    return clip_folders(tmp_path / "clips")


def test_clips_become_pairs_whose_flow_carries_the_earlier_frame_onto_the_later(clips):
    pairs = load_clips(clips, crop_size=24)
    assert pairs.names == ["backward", "forward"] and len(pairs.pairs) == 6 and pairs.side == 40
    earlier, later, grid, weight = pair_crops(pairs, seed=0, step=3, batch_size=4, crop_size=24)
    assert earlier.shape == later.shape == (4, 3, 24, 24) and grid.shape == (4, 24, 24, 2)
    assert weight.shape == (4, 1, 24, 24) and 0.3 < float(weight.mean()) <= 1
    moved = (weight * (carried(earlier, grid) - later).abs()).sum() / weight.sum()
    unmoved = (weight * (earlier - later).abs()).sum() / weight.sum()
    assert moved < 0.25 * unmoved, (float(moved), float(unmoved))
    again = pair_crops(pairs, seed=0, step=3, batch_size=4, crop_size=24)
    assert all(torch.equal(a, b) for a, b in zip(again, (earlier, later, grid, weight)))  # a function of the step


def test_a_folder_without_clips_is_a_usage_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no clip with two readable frames"):
        load_clips(tmp_path / "empty", crop_size=24)
    with pytest.raises(UsageError, match="not a folder"):
        load_clips(tmp_path / "missing", crop_size=24)
