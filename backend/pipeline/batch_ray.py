"""`backend batch --ray`: the same clips as the local pool, one Ray task per clip.

Each task runs `batch.convert_clip` (a `python -m backend run` child on the worker node) and
returns the motion file's bytes, so results and `batch.jsonl` land in DIR on the driver: workers
need the clips at the same path (shared storage) but never write to DIR. Tasks ask for the
model card's CPUs per clip, and its GPUs when the cluster has any. A worker process that dies
mid-clip (killed, node lost) is a system failure, which Ray retries on any node (`max_retries`);
the clip's child process dies with its worker (PR_SET_PDEATHSIG), so no orphan keeps running.
The backend package travels to the cluster as a Ray `py_modules` entry; every node needs the
backend's Python packages (`install_deps.py --ray`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core import cancel
from ..core.errors import BackendError, ErrorCode
from ..core.events import EventStream
from .batch import ClipResult, Job, convert_clip

log = logging.getLogger(__name__)

#: Retries of a clip whose worker died (system failures only; a clip that fails is not retried).
MAX_RETRIES = 3


def require_ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError:
        raise BackendError(ErrorCode.BAD_ARGUMENT, "--ray needs the Ray package: run `python3 install_deps.py "
                           "--ray` (installs the pinned ray[default]), or drop --ray to use the local pool") from None
    return ray


def _task(job: Job) -> ClipResult:
    """Runs on a Ray worker: one clip, bytes back to the driver."""
    return convert_clip(job)


class RayExecutor:
    """Callable executor for `batch.run_batch`: submits every job, finishes each as it returns."""

    def __init__(self, address: str, events: EventStream) -> None:
        self.address = address
        self.events = events

    def _init(self, ray: Any) -> bool:
        """Connect (or start a local cluster for 'auto' when none runs); True when we started it."""
        package = str(Path(__file__).resolve().parents[1])  # backend/
        runtime_env = {"py_modules": [package], "excludes": ["__pycache__", "*.pyc"]}
        if ray.is_initialized():
            return False
        try:
            if self.address == "auto":
                ray.init(address=os.environ.get("RAY_ADDRESS") or None, runtime_env=runtime_env,
                         logging_level=logging.WARNING, log_to_driver=False)
            else:
                host = self.address.rsplit(":", 1)[0]
                # A head started with --node-ip-address 127.0.0.1 registered its raylet there; Ray would
                # otherwise look for this driver's raylet at the machine's outward address.
                local = {"_node_ip_address": host} if host in ("127.0.0.1", "localhost") else {}
                ray.init(address=self.address, runtime_env=runtime_env, logging_level=logging.WARNING,
                         log_to_driver=False, **local)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            cause = f": {exc.__cause__}" if exc.__cause__ else ""
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"--ray {self.address}: cannot connect to a Ray cluster "
                               f"({exc}{cause}); start one with `ray start --head` or give its host:port") from None
        return True

    def __call__(self, jobs: list[Job], finish: Callable[[Job, ClipResult], None]) -> None:
        ray = require_ray()
        started = self._init(ray)
        try:
            has_gpu = ray.cluster_resources().get("GPU", 0) > 0
            remote = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)(_task)
            pending: dict[Any, Job] = {}
            for job in jobs:
                ref = remote.options(num_cpus=job.num_cpus, num_gpus=job.num_gpus if has_gpu else 0,
                                     name=f"clip:{job.rel}").remote(job)
                pending[ref] = job
                self.events.emit({"event": "clip", "clip": job.rel, "status": "submitted"})
            while pending:
                if cancel.requested():
                    for ref, job in list(pending.items()):
                        with contextlib.suppress(Exception):
                            ray.cancel(ref, force=True)  # kills the worker; its child dies with it
                        finish(job, ClipResult("cancelled", "CANCELLED", "stopped before it finished; the next "
                                                                         "run redoes it"))
                    pending.clear()
                    break
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                for ref in ready:
                    job = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - worker lost past its retries, or a task bug
                        result = ClipResult("failed", ErrorCode.INTERNAL.value,
                                            f"Ray task failed after {MAX_RETRIES} retries: {type(exc).__name__}: "
                                            f"{str(exc).splitlines()[0] if str(exc) else ''}")
                    finish(job, result)
        finally:
            if started:
                ray.shutdown()
