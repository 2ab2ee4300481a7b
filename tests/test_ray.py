"""`nstbatch run --ray`: the same results, manifest rows and exit codes as a local run, on a private local Ray
(2 CPUs, started once for the module); workers that die are retried, inputs that kill them every time fail
with a row; a driver killed mid-run resumes; GPUs the cluster lacks are refused at once."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import ray
import torch
from ray import cloudpickle
from PIL import Image

from nstbatch.batch.ray_executor import ATTEMPTS_DIR, OnRay, Painter, RayCluster, connect
from nstbatch.media.images import save_image

from conftest import invoke, painting_like, photo_like

OPTIMISATION = ["--size", "32", "--iterations", "8", "--device", "cpu", "-q"]
NETWORK = ["--device", "cpu", "-q"]


@pytest.fixture(scope="module")
def cluster():
    """The private local Ray a run starts (``connect``: its own token), shared by the module's runs."""
    before = {k: v for k, v in os.environ.items() if k.startswith("RAY_")}
    connect(RayCluster(workers=2))
    yield
    ray.shutdown()
    for key in [k for k in os.environ if k.startswith("RAY_")]:
        del os.environ[key]
    os.environ.update(before)


@pytest.fixture
def folder(tmp_path):
    inputs = tmp_path / "in"
    for i in range(5):
        save_image(photo_like(24, 32, seed=i), inputs / ("sub" if i % 2 else "") / f"p{i}.png")
    style = save_image(painting_like(), tmp_path / "style.png")
    return inputs, style



def rows(folder):
    """The manifest's rows without what differs from run to run (times, where it ran)."""
    kept = []
    for line in (folder / "nstbatch-manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        kept.append({k: row[k] for k in ("result", "status", "error", "losses", "made_with")})
    return sorted(kept, key=lambda row: row["result"])


def pictures(folder):
    return {p.relative_to(folder).as_posix(): np.asarray(Image.open(p)) for p in sorted(folder.rglob("p*.png"))}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["optimisation", "network", "universal"])
def test_a_folder_through_ray_is_the_local_run(engine, cluster, folder, tiny_onnx, tmp_path):
    from test_universal import BUNDLED

    inputs, style = folder
    chosen = {"optimisation": ["-s", style, *OPTIMISATION], "network": ["-m", tiny_onnx, *NETWORK],
              "universal": ["-m", BUNDLED, "-s", style, *NETWORK]}[engine]
    on_ray = invoke("run", "-i", inputs, "-o", tmp_path / "ray", *chosen, "--ray")
    assert on_ray.exit_code == 0, on_ray.output
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a Ray worker has one CPU: the same float sums as a local run on one thread
    try:
        local = invoke("run", "-i", inputs, "-o", tmp_path / "local", *chosen)
    finally:
        torch.set_num_threads(threads)
    assert local.exit_code == 0, local.output
    assert rows(tmp_path / "ray") == rows(tmp_path / "local") and len(rows(tmp_path / "ray")) == 5
    ray_pictures, local_pictures = pictures(tmp_path / "ray"), pictures(tmp_path / "local")
    assert ray_pictures.keys() == local_pictures.keys() and len(ray_pictures) == 5
    for name, picture in ray_pictures.items():
        np.testing.assert_array_equal(picture, local_pictures[name], err_msg=name)
    assert "5 done, 0 skipped" in on_ray.output
    again = invoke("run", "-i", inputs, "-o", tmp_path / "ray", *chosen, "--ray")
    assert again.exit_code == 0 and "0 done, 5 skipped" in again.output


class DyingPainter(Painter):
    """p1 kills its worker once (retried, then painted); p2 every time (a failed row after two deaths): as a
    segfault or the OOM killer would, with no cleanup and no reply."""

    def before_painting(self, job, deaths):
        if job.source.name == "p2.png" or (job.source.name == "p1.png" and deaths < 1):
            os._exit(1)


@pytest.mark.slow
def test_bad_inputs_and_dying_workers_end_as_rows(cluster, folder, tiny_onnx, tmp_path, capsys):
    from nstbatch.batch.discover import discover
    from nstbatch.batch.runner import Settings, drive
    from nstbatch.engines import NetworkSettings

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    inputs, _ = folder
    (inputs / "broken.png").write_bytes(b"not a picture")
    out = tmp_path / "out"
    jobs = discover(inputs, out, "png", False)
    settings = Settings(size=None, max_pixels=None, max_size=64, made_with={"engine": "network"})
    executor = OnRay(NetworkSettings(tiny_onnx, device="cpu"), RayCluster(workers=2), out, painter=DyingPainter)
    summary = drive(executor, jobs, settings, out)
    assert summary.exit_code == 1 and summary.failed == 2
    found = {row["result"]: row for row in rows(out)}
    assert len(found) == 6  # one row each, no more
    assert found["broken.png"]["status"] == "failed" and "not an image" in found["broken.png"]["error"]
    assert found["p2.png"]["status"] == "failed" and "killed its worker 2 times" in found["p2.png"]["error"]
    assert [found[key]["status"] for key in ("p0.png", "sub/p1.png", "sub/p3.png", "p4.png")] == ["done"] * 4
    assert (out / "sub" / "p1.png").exists() and not (out / "p2.png").exists()
    assert not (out / ATTEMPTS_DIR).exists()  # every count cleared, and the folder with them (issue 40, item 13)
    said = capsys.readouterr()
    assert "Traceback" not in said.out + said.err and "raylet" not in said.out + said.err


def test_asking_for_gpus_the_cluster_lacks_is_refused_at_once(cluster, folder, tiny_onnx, tmp_path):
    inputs, _ = folder
    result = invoke("run", "-i", inputs, "-m", tiny_onnx, "-o", tmp_path / "out", *NETWORK, "--ray", "--ray-gpus", "1")
    assert result.exit_code == 2
    assert "each worker asks for 1 GPU, and the Ray cluster" in result.output and "has 0" in result.output
    assert not (tmp_path / "out" / "p0.png").exists()


def test_ray_options_need_ray_and_ray_needs_no_shard(folder, tiny_onnx, tmp_path):
    inputs, _ = folder
    alone = invoke("run", "-i", inputs, "-m", tiny_onnx, "-o", tmp_path / "a", "--ray-workers", "3")
    assert alone.exit_code == 2 and "--ray-workers: only with --ray" in alone.output
    both = invoke("run", "-i", inputs, "-m", tiny_onnx, "-o", tmp_path / "b", "--ray", "--shard", "0/2")
    assert both.exit_code == 2 and "--ray and --shard: choose one" in both.output


def nstbatch(*args):
    code = "import sys; from nstbatch.cli import main; sys.argv[0] = 'nstbatch'; main()"
    return [sys.executable, "-c", code, *map(str, args)]


def test_without_ray_installed_ray_is_one_line(folder, tiny_onnx, tmp_path):
    inputs, _ = folder
    refuse = ("import sys\nclass Refuse:\n    def find_spec(self, name, path=None, target=None):\n"
              "        if name.split('.')[0] == 'ray':\n            raise ModuleNotFoundError(name=name)\n"
              "sys.meta_path.insert(0, Refuse())\n")
    code = refuse + "from nstbatch.cli import main; sys.argv[0] = 'nstbatch'; main()"
    done = subprocess.run([sys.executable, "-c", code, "run", "-i", str(inputs), "-m", str(tiny_onnx), "-o",
                           str(tmp_path / "out"), "--ray"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == 'error: --ray needs Ray Data, which is not installed: pip install "nstbatch[ray]"'


@pytest.mark.slow
def test_a_driver_killed_mid_run_resumes_to_the_same_folder(cluster, folder, tmp_path):
    inputs, style = folder
    out = tmp_path / "out"
    slower = ["--size", "32", "--iterations", "60", "--device", "cpu", "-q", "--ray", "--ray-workers", "1"]
    driver = subprocess.Popen(nstbatch("run", "-i", inputs, "-s", style, "-o", out, *slower),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    manifest = out / "nstbatch-manifest.jsonl"
    deadline = time.monotonic() + 180
    while not (manifest.exists() and manifest.read_bytes().endswith(b"\n")) and driver.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the private Ray it started, as a crash would
    driver.wait()
    recorded = len(manifest.read_text().splitlines())
    assert 1 <= recorded < 5, "the driver finished before the kill"
    resumed = invoke("run", "-i", inputs, "-s", style, "-o", out, *slower)
    assert resumed.exit_code == 0, resumed.output
    assert "skipped" in resumed.output
    whole = invoke("run", "-i", inputs, "-s", style, "-o", tmp_path / "whole", *slower)
    assert whole.exit_code == 0, whole.output
    assert pictures(out).keys() == pictures(tmp_path / "whole").keys()
    for name, picture in pictures(out).items():
        np.testing.assert_array_equal(picture, pictures(tmp_path / "whole")[name], err_msg=name)
    done = [row for row in rows(out) if row["status"] == "done"]
    assert sorted(row["result"] for row in done) == sorted(pictures(out))


def test_workers_that_cannot_build_the_engine_stop_the_run_with_rows(cluster, folder, tmp_path):
    from pathlib import Path

    from nstbatch.batch.discover import discover
    from nstbatch.batch.runner import Settings, drive
    from nstbatch.engines import NetworkSettings

    inputs, _ = folder
    out = tmp_path / "out"
    jobs = discover(inputs, out, "png", False)
    # A model the driver saw but the workers cannot find: gone from the shared storage, say.
    gone = NetworkSettings(Path(tmp_path / "gone.onnx"), max_size=64, device="cpu")
    summary = drive(OnRay(gone, RayCluster(workers=1), out), jobs, Settings(size=None, max_pixels=None), out)
    assert summary.failed == 5 and summary.exit_code == 1
    assert summary.stopped.startswith("Ray stopped the run: ") and "gone.onnx: no such model file" in summary.stopped
    assert len(rows(out)) == 5 and all("not painted: Ray stopped the run" in row["error"] for row in rows(out))


def test_a_count_of_deaths_left_by_an_earlier_run_is_not_held_against_an_input(cluster, folder, tiny_onnx, tmp_path):
    import hashlib

    inputs, _ = folder
    out = tmp_path / "out"
    (out / ATTEMPTS_DIR).mkdir(parents=True)
    (out / ATTEMPTS_DIR / hashlib.sha1(b"p0.png").hexdigest()).write_text("5")  # a killed run's leftover
    result = invoke("run", "-i", inputs, "-m", tiny_onnx, "-o", out, *NETWORK, "--ray")
    assert result.exit_code == 0 and "5 done, 0 skipped, 0 failed" in result.output.replace(" (already there)", "")


def test_regions_with_masks_per_photo_through_ray_are_the_local_run(cluster, folder, tiny_onnx, tmp_path):
    inputs, style = folder
    masks = tmp_path / "masks"
    for source in sorted(inputs.rglob("p*.png")):
        if source.name != "p3.png":  # p3 has no mask: it fails with its line, on Ray as locally
            mask = np.zeros((24, 32), np.uint8)
            mask[:, :16] = 255
            target = masks / source.relative_to(inputs)
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask).save(target)
    chosen = ["-m", tiny_onnx, "--region", f"{masks}=photo", *NETWORK]
    on_ray = invoke("run", "-i", inputs, "-o", tmp_path / "ray", *chosen, "--ray")
    local = invoke("run", "-i", inputs, "-o", tmp_path / "local", *chosen)
    assert on_ray.exit_code == local.exit_code == 1, on_ray.output
    assert "4 done, 0 skipped (already there), 1 failed" in on_ray.output and "p3.png" in on_ray.output
    assert rows(tmp_path / "ray") == rows(tmp_path / "local")
    with_masks = [json.loads(line) for line in (tmp_path / "ray" / "nstbatch-manifest.jsonl").read_text().splitlines()]
    assert sum(bool(row.get("masks")) for row in with_masks) == 4
    for name, picture in pictures(tmp_path / "ray").items():
        np.testing.assert_array_equal(picture, pictures(tmp_path / "local")[name], err_msg=name)
