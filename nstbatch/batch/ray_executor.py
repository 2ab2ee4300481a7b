"""Running a batch on Ray Data (`nstbatch run --ray`): the same steps as the local executor, spread over an
actor pool, each actor building the engine once.

The workers read, paint and write each result atomically into the output folder (shared storage on a
cluster); the driver alone records: it streams each finished input's outcome into the manifest, the
gallery, the summary and the progress bar, in the order they finish, and fails every input that never
came back. So a result counts as done only through the driver's row, as in a local run.

Ray restarts an actor that dies and retries its batch. An input that kills its worker every time would
loop for ever, so each actor counts its attempts at an input in a small file under the output folder
(``.nstbatch-ray/``) before painting it: past ``max_deaths`` the input fails with a row saying so.

Ray runs whatever code reaches its ports, and its processes listen on every interface. A private local
Ray is therefore started with token authentication on and a token of the run's own (``private_token``),
held in the environment of the run's processes alone and never written to a file: a client without it
is refused, whichever Ray version this is. A cluster joined with ``--ray-address`` is as safe as it was
set up (docs/cluster.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import secrets
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ..atomic import atomic_path
from ..errors import UsageError
from .discover import Job
from .manifest import ManifestError
from .progress import QuietReporter
from .runner import Settings, Stopped, load_photo, paint_group, write_result, written
from .signals import Interrupted

log = logging.getLogger("nstbatch")
ATTEMPTS_DIR = ".nstbatch-ray"
# Inputs a Ray task takes: one photo of optimisation is seconds to minutes of work, so one a task keeps
# workers evenly loaded; a network's is milliseconds, so a task takes several, or Ray's own cost a task
# (tens of milliseconds) would dwarf the painting.
TASK_INPUTS = {"optimisation": 1, "network": 16}
MAX_DEATHS = 2  # an input whose painting killed its worker this many times fails instead of being retried


@dataclass
class RayCluster:
    """Where and how wide: the cluster's address (None: $RAY_ADDRESS, else a private local Ray), actors,
    and the GPUs and CPUs each actor takes."""

    address: str | None = None
    workers: int = 2
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    max_deaths: int = MAX_DEATHS


def ray_module():
    """Ray, or a usage error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is an extra of its own
    except ImportError:
        raise UsageError('--ray needs Ray Data, which is not installed: pip install "nstbatch[ray]"') from None
    return ray


def connect(cluster: RayCluster):
    """Join the cluster named, or start a private one; refuse at once GPUs it does not have."""
    ray = ray_module()
    address = cluster.address or os.environ.get("RAY_ADDRESS") or "local"  # never a stray `ray start` silently
    if not ray.is_initialized():
        if address == "local":
            private_token()
        # Ray's C++ core logs to stderr on its own, at any level (an error-level line for every actor pool of
        # Ray Data: ray-project/ray#57733): set to fatal, and the one line saying so hidden while it starts.
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        with _stderr_hidden():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                     **({"num_cpus": max(2, int(cluster.workers * cluster.cpus_per_worker))} if address == "local" else {}))
    for name in ("ray", "ray.data"):  # even Ray's errors: nstbatch says what failed, in its own lines
        logging.getLogger(name).setLevel(logging.CRITICAL)
    _worker_deaths_to_log()
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # nstbatch draws its own
    context.print_on_execution_start = False
    have = ray.cluster_resources()
    if cluster.gpus_per_worker and have.get("GPU", 0) < cluster.gpus_per_worker:
        raise UsageError(f"--ray: each worker asks for {cluster.gpus_per_worker:g} GPU, and the Ray cluster at "
                         f"{address} has {have.get('GPU', 0):g}; give --device cpu, or a cluster with GPUs")
    if have.get("CPU", 0) < cluster.cpus_per_worker:
        raise UsageError(f"--ray: the Ray cluster at {address} has {have.get('CPU', 0):g} CPUs, fewer than a worker needs")
    return ray


def private_token() -> None:
    """Token authentication for the private local Ray about to start, with a new random token: in this
    process's environment, which the Ray processes it starts inherit, and nowhere else (a token in
    RAY_AUTH_TOKEN is neither read from nor written to ~/.ray/auth_token)."""
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    os.environ.pop("RAY_AUTH_TOKEN_PATH", None)
    # Ray reads its settings from the environment when it is imported; it has been (ray_module), so its
    # settings are read again, as Ray does itself when it turns authentication on.
    config = getattr(sys.modules.get("ray._raylet"), "Config", None)
    if config is not None and hasattr(config, "initialize"):
        config.initialize("")


def _worker_deaths_to_log() -> None:
    """Ray prints each worker death and each retry to the driver's stdout, from a thread of its own, through
    one function of its private worker module; nstbatch reports what matters (an input that failed, and
    why) itself, so those lines go to the debug log instead. Left alone if Ray's internals have moved."""
    module = sys.modules.get("ray._private.worker")
    if module is not None and callable(getattr(module, "print_to_stdstream", None)):
        def to_log(data, ignore_prefix=False):
            for line in data.get("lines", []):
                log.debug("ray (%s): %s", data.get("pid"), line)

        module.print_to_stdstream = to_log


@contextmanager
def _stderr_hidden():
    """File descriptor 2 to /dev/null for a while: what Ray's C++ core prints while it starts."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class Painter:
    """One actor: builds the engine once, then paints the inputs of each batch it is given."""

    def __init__(self, engine_settings, settings: Settings, output_dir: str, cluster: RayCluster):
        from ..engines import build

        self.engine = build(engine_settings).engine
        self.settings = settings
        self.attempts = Path(output_dir) / ATTEMPTS_DIR
        self.cluster = cluster

    def __call__(self, batch: dict) -> dict:
        jobs = [pickle.loads(blob) for blob in batch["job"]]
        outcomes = [self._paint(job) for job in jobs]
        return {"index": batch["index"], "outcome": [pickle.dumps(outcome) for outcome in outcomes]}

    def _paint(self, job: Job) -> tuple:
        """(job as it ended, seconds, losses, thumbnails) for one input."""
        counter = self.attempts / hashlib.sha1(job.key.encode()).hexdigest()
        deaths = _read_count(counter)
        if deaths >= self.cluster.max_deaths:
            job.status, job.error = "failed", f"killed its worker {deaths} times while being painted; left out"
            counter.unlink(missing_ok=True)
            return job, 0.0, None, None
        _write_count(counter, deaths + 1)
        self.before_painting(job, deaths)
        content, read = load_photo(job, self.settings, self.engine.min_side)
        if content is None:
            counter.unlink(missing_ok=True)
            return job, read, None, None
        results, seconds = paint_group([(job, content)], self.engine, self.settings, QuietReporter())
        losses = pictures = None
        if results is not None:
            image = results[0].image
            losses = {k: round(v, 6) for k, v in results[0].losses.items()}
            losses, pictures = written(job, lambda: write_result(image, job, content if self.settings.gallery else None),
                                       losses)
        counter.unlink(missing_ok=True)
        return job, seconds, losses, pictures

    def before_painting(self, job: Job, deaths: int) -> None:
        """Called with each input and the deaths it has caused, its count already raised: nothing here (a
        test's painter dies in it, as a worker killed by a segfault or the OOM killer would)."""


def _read_count(path: Path) -> int:
    try:
        return int(path.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return 0


def _write_count(path: Path, count: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(str(count), encoding="ascii")


class OnRay:
    """The Ray executor (``runner.Executor``): every job through an actor pool on the cluster ``cluster``
    names, the engine built from ``engine_settings`` (``engines.build``) in each actor by ``painter``."""

    abandoned = "pictures being painted by the workers were abandoned"

    def __init__(self, engine_settings, cluster: RayCluster, output_dir: Path, painter: type = Painter):
        self.engine_settings, self.cluster, self.output_dir = engine_settings, cluster, Path(output_dir)
        self.painter = painter

    def run(self, jobs: list[Job], settings: Settings, record, reporter) -> None:
        ray = connect(self.cluster)
        todo = []
        for index, job in enumerate(jobs):
            if job.status == "todo":
                todo.append({"index": index, "job": pickle.dumps(job)})
            else:
                reporter.end_item()
                record(job, 0.0)
        # The gallery page is the driver's: a worker only makes the thumbnails, when there is one.
        worker_settings = replace(settings, gallery=True if settings.gallery is not None else None)
        # Deaths are counted per run: a count left by a run that was itself killed is no worker's death.
        shutil.rmtree(self.output_dir / ATTEMPTS_DIR, ignore_errors=True)
        try:
            seen, stopped = self._through_actors(ray, todo, jobs, worker_settings, record, reporter)
            why_unfinished = f"not painted: Ray stopped the run ({stopped})" if stopped else \
                "no worker finished it (Ray gave up on its task)"
            for index in (entry["index"] for entry in todo):
                if index not in seen:  # no row would prove it, so it is failed, not done
                    job = jobs[index]
                    job.status, job.error = "failed", why_unfinished
                    reporter.end_item()
                    record(job, 0.0)
        finally:  # the death counts are this run's alone: nothing of them stays in the user's folder
            shutil.rmtree(self.output_dir / ATTEMPTS_DIR, ignore_errors=True)
        if stopped:
            raise Stopped(f"Ray stopped the run: {stopped}")

    def _through_actors(self, ray, todo: list[dict], jobs: list[Job], settings: Settings, record, reporter):
        """The inputs ``todo`` through the actor pool, each recorded as it comes back: the indices that
        came back, and why Ray stopped the run before the end (None: it did not)."""
        seen: set[int] = set()
        if not todo:
            return seen, None
        cluster = self.cluster
        dataset = ray.data.from_items(todo).map_batches(
            self.painter, fn_constructor_args=(self.engine_settings, settings, str(self.output_dir), cluster),
            batch_size=TASK_INPUTS[self.engine_settings.kind],
            batch_format="numpy", num_cpus=cluster.cpus_per_worker, num_gpus=cluster.gpus_per_worker or None,
            compute=ray.data.ActorPoolStrategy(size=cluster.workers))
        try:
            for row in dataset.iter_rows():
                job, seconds, losses, pictures = pickle.loads(row["outcome"])
                seen.add(int(row["index"]))
                jobs[int(row["index"])] = job
                reporter.end_item()
                record(job, seconds, losses, pictures)
        except (Interrupted, ManifestError):
            raise
        except Exception as exc:  # noqa: BLE001 - Ray's own (a worker that cannot build the engine, a lost
            # cluster): the run stops with one line, and what did not come back fails with its reason
            reason = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
            return seen, reason.removeprefix("nstbatch.errors.").split(": ", 1)[-1] if "Error: " in reason else reason
        return seen, None


def started(cluster: RayCluster) -> str:
    """For the header: where the batch runs."""
    where = cluster.address or os.environ.get("RAY_ADDRESS") or "a private local Ray"
    gpus = f", {cluster.gpus_per_worker:g} GPU each" if cluster.gpus_per_worker else ""
    return f"on {where} with {cluster.workers} worker{'s' if cluster.workers != 1 else ''}{gpus}"
