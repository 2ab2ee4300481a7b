"""The manifest: rows written whole or not at all, read without ever crashing, and what proves a result done."""

import json
import os

import pytest

from nstbatch.batch import manifest
from nstbatch.batch.discover import discover
from nstbatch.batch.manifest import Ledger, ManifestError, append_row, prove_existing, read_manifests, source_print, stat_print
from nstbatch.media.images import save_image
from nstbatch.errors import UsageError

from conftest import photo_like


def test_a_failed_append_leaves_the_file_as_it_was_and_a_torn_line_cannot_swallow_the_next(tmp_path, monkeypatch):
    path = tmp_path / "m.jsonl"
    append_row(path, {"n": 1})
    before = path.read_bytes()
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(manifest.os, "write", half_then_full)
    with pytest.raises(ManifestError, match="No space left on device"):
        append_row(path, {"n": 2})
    assert path.read_bytes() == before  # cut back: no torn row
    monkeypatch.setattr(manifest.os, "write", real_write)
    path.write_bytes(before + b'{"n": 3, "torn')  # what a full disk left before this version
    append_row(path, {"n": 4})
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"n": 1} and json.loads(lines[-1]) == {"n": 4} and len(lines) == 3


def row(**fields):
    return {"input": "in/a.png", "output": "out/a.png", "status": "done", **fields}


def test_rows_of_the_wrong_shape_are_left_out_with_a_line_each(tmp_path):
    lines = [json.dumps(row()), '{"input": "in/b.png", "outp', json.dumps(row(input=["x"])),
             json.dumps(row(made_with="junk")), json.dumps([1, 2]), json.dumps(row(status="weird")),
             json.dumps(row(result=3)), json.dumps(row(source=[1]))]
    (tmp_path / "nstbatch-manifest.jsonl").write_text("\n".join(lines) + "\n")
    rows, problems = read_manifests(tmp_path)
    assert rows == [row()]
    assert [p.split(", line ")[1].split(":")[0] for p in problems] == ["2", "3", "4", "5", "6", "7", "8"]
    assert all(p.startswith(str(tmp_path / "nstbatch-manifest.jsonl")) and p.endswith("left out") for p in problems)
    assert Ledger.read(tmp_path).rows == {}  # and nothing there proves anything


@pytest.fixture
def done(tmp_path):
    """One photo painted: its job, as a run records it, and the manifest row that proves it."""
    photo = save_image(photo_like(20, 24), tmp_path / "in" / "a.png")
    (job,) = discover(tmp_path / "in", tmp_path / "out")
    save_image(photo_like(20, 24, seed=3), job.output)
    append_row(tmp_path / "out" / manifest.MANIFEST_NAME, {
        **row(input=str(photo), output=str(job.output)), "result": job.key, "made_with": {"size": 24},
        "source": source_print(photo), "written": stat_print(job.output)})
    return photo, tmp_path / "out"


def existing(photo, out, made_with):
    jobs = discover(photo.parent, out)
    redone = prove_existing(jobs, made_with, out, Ledger.read(out))
    return jobs[0].status, redone


def test_a_result_is_skipped_only_while_its_row_proves_it(done):
    photo, out = done
    assert existing(photo, out, {"size": 24}) == ("skipped", 0)
    with pytest.raises(UsageError, match="size differ"):
        existing(photo, out, {"size": 32})
    os.utime(photo, ns=(1, 1))  # touched, same content: still the photo it was made from
    assert existing(photo, out, {"size": 24}) == ("skipped", 0)
    save_image(photo_like(20, 24, seed=9), photo)  # replaced by another photo
    assert existing(photo, out, {"size": 24}) == ("todo", 1)


def test_a_result_changed_since_its_row_or_without_one_is_redone(done):
    photo, out = done
    save_image(photo_like(20, 24, seed=4), out / "a.png")  # another run, or a hand, wrote it
    assert existing(photo, out, {"size": 24}) == ("todo", 1)
    (out / manifest.MANIFEST_NAME).unlink()
    assert existing(photo, out, {"size": 24}) == ("todo", 1)


def test_rows_are_found_however_the_output_folder_is_spelled(done, monkeypatch):
    photo, out = done
    monkeypatch.chdir(out.parent)
    for spelling in ["out", "./out/", str(out), "out/../out"]:
        assert existing(photo, type(out)(spelling), {"size": 24}) == ("skipped", 0)
        with pytest.raises(UsageError):
            existing(photo, type(out)(spelling), {"size": 20})
