from nstbatch.records import as_stored, differing


def test_one_comparison_for_every_recorded_setting():
    stored = as_stored({"layers": ("relu1_1", "relu2_1"), "size": 64})
    assert stored == {"layers": ["relu1_1", "relu2_1"], "size": 64}
    assert differing(stored, {"layers": ("relu1_1", "relu2_1"), "size": 64}) == []  # as read back from JSON
    assert differing(stored, {"layers": ("relu1_1",), "size": 64, "seed": 0}) == ["layers", "seed"]
