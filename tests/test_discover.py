import pytest

from nstbatch.batch.discover import discover
from nstbatch.errors import UsageError


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_mirrors_the_input_tree(tmp_path):
    for name in ["a.jpg", "sub/b.PNG", "sub/deeper/c.jpeg", "notes.txt", ".hidden.jpg", ".cache/d.jpg"]:
        touch(tmp_path / "in" / name)
    jobs = discover(tmp_path / "in", tmp_path / "out")
    assert [j.relative for j in jobs] == ["a.jpg", "sub/b.PNG", "sub/deeper/c.jpeg"]
    assert [j.output for j in jobs] == [tmp_path / "out" / p for p in ["a.png", "sub/b.png", "sub/deeper/c.png"]]
    assert all(j.status == "todo" for j in jobs)


def test_same_name_in_different_folders_do_not_collide(tmp_path):
    touch(tmp_path / "in" / "x" / "img.jpg")
    touch(tmp_path / "in" / "y" / "img.jpg")
    outputs = {j.output for j in discover(tmp_path / "in", tmp_path / "out")}
    assert len(outputs) == 2


def test_same_stem_in_one_folder_is_reported(tmp_path):
    touch(tmp_path / "in" / "img.jpg")
    touch(tmp_path / "in" / "img.png")
    first, second = discover(tmp_path / "in", tmp_path / "out")
    assert first.status == "todo"
    assert second.status == "failed" and "img.jpg" in second.error and "rename" in second.error


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path):
    touch(tmp_path / "in" / "a.jpg")
    touch(tmp_path / "in" / "b.jpg")
    touch(tmp_path / "out" / "a.jpg")  # a different format is not the same result
    touch(tmp_path / "out" / "b.jpg")
    assert [j.status for j in discover(tmp_path / "in", tmp_path / "out", "jpg")] == ["skipped", "skipped"]
    assert [j.status for j in discover(tmp_path / "in", tmp_path / "out", "png")] == ["todo", "todo"]
    assert [j.status for j in discover(tmp_path / "in", tmp_path / "out", "jpg", overwrite=True)] == ["todo", "todo"]


def test_output_folder_inside_inputs_is_not_walked(tmp_path):
    touch(tmp_path / "in" / "a.jpg")
    touch(tmp_path / "in" / "stylised" / "a.png")
    jobs = discover(tmp_path / "in", tmp_path / "in" / "stylised")
    assert [j.relative for j in jobs] == ["a.jpg"]


def test_single_file_any_suffix(tmp_path):
    path = touch(tmp_path / "photo.heic")
    (job,) = discover(path, tmp_path / "out")
    assert job.output == tmp_path / "out" / "photo.png"


def test_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such file or folder"):
        discover(tmp_path / "nope", tmp_path / "out")
    touch(tmp_path / "in" / "a.jpg")
    with pytest.raises(UsageError, match="--format"):
        discover(tmp_path / "in", tmp_path / "out", "gif")
    with pytest.raises(UsageError, match="must be a folder"):
        discover(tmp_path / "in", touch(tmp_path / "file"))


def test_the_output_folder_is_never_the_inputs(tmp_path):
    touch(tmp_path / "in" / "a.png")
    for output in [tmp_path / "in", tmp_path / "in" / ".." / "in", tmp_path / "in" / "."]:
        with pytest.raises(UsageError, match="--output is the --inputs folder"):
            discover(tmp_path / "in", output, overwrite=True)
    (tmp_path / "link").symlink_to(tmp_path / "in")
    with pytest.raises(UsageError, match="--output is the --inputs folder"):
        discover(tmp_path / "in", tmp_path / "link")
    # One photo whose result would be itself, even with --overwrite: refused, not a result.
    with pytest.raises(UsageError, match="would replace the input"):
        discover(tmp_path / "in" / "a.png", tmp_path / "in", overwrite=True)
    assert [j.status for j in discover(tmp_path / "in" / "a.png", tmp_path / "in", "jpg")] == ["todo"]


def test_folder_links_are_followed_once_and_a_loop_ends(tmp_path):
    touch(tmp_path / "elsewhere" / "b.jpg")
    touch(tmp_path / "in" / "a.jpg")
    (tmp_path / "in" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "in" / "again").symlink_to(tmp_path / "elsewhere")  # the same real folder: walked once
    (tmp_path / "elsewhere" / "loop").symlink_to(tmp_path / "in")
    (tmp_path / "in" / "out").symlink_to(tmp_path / "out", target_is_directory=True)
    touch(tmp_path / "out" / "old.png")  # results: never walked, even through a link
    jobs = discover(tmp_path / "in", tmp_path / "out")
    assert [j.relative for j in jobs] == ["a.jpg", "again/b.jpg"]
    touch(tmp_path / "shared" / "c.jpg")
    only_a_link = tmp_path / "only"
    only_a_link.mkdir()
    (only_a_link / "photos").symlink_to(tmp_path / "shared")  # a folder that holds only a link
    assert [j.relative for j in discover(only_a_link, tmp_path / "out2")] == ["photos/c.jpg"]


def test_gif_inputs_are_taken(tmp_path):
    touch(tmp_path / "in" / "anim.gif")
    assert [j.relative for j in discover(tmp_path / "in", tmp_path / "out")] == ["anim.gif"]
