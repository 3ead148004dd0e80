"""One video -> motion import: backend run, then a checked motion file (no bpy).

The job owns a private run folder (motion file and the backend's TMPDIR) and removes it
whatever the outcome, so a cancelled or failed run leaves nothing behind. It never touches the
scene: the caller imports `job.motion` once the job is READY, so Esc, errors and bad files
leave the scene exactly as it was.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..core.motion_data import Motion, MotionFileError, load_motion
from .backend_paths import RunOptions, backend_env, run_argv
from .backend_runner import (
    DEFAULT_GRACE_S,
    BackendProcess,
    BackendStartError,
    Outcome,
    Progress,
)
from .run_state import TERMINAL, RunState, advance

MOTION_FILE_NAME = "motion.npz"


#: The job's states are the one run-state machine's (run_state.py); the old name stays for callers.
JobState = RunState
TERMINAL_STATES = TERMINAL


def missing_backend_message(python: Path | None) -> str:
    where = f" at {python}" if python is not None else ""
    return (f"backend Python not found{where}; install the backend (Preferences > Add-ons > Video Mocap > "
            "Install backend) or choose its Python in the preferences")


class VideoImportJob:
    """Runs `backend run` into a private folder and loads the result; poll it from a timer."""

    def __init__(self, python: Path | None, source_root: Path | None, options: RunOptions, runs_dir: Path,
                 grace_s: float = DEFAULT_GRACE_S) -> None:
        self.python = python
        self.source_root = source_root
        self.options = options
        self.runs_dir = Path(runs_dir)
        self.grace_s = grace_s
        self.state = RunState.IDLE
        self.message = ""
        self.save_motion_to: Path | None = None  # also keep the backend's motion file here (batch --save-motion)
        self.error_code: str | None = None  # the backend's error code when it failed (PACKAGES_MISSING, ...)
        self.motion: Motion | None = None
        self.run_dir: Path | None = None
        self.process: BackendProcess | None = None
        self.started_at = 0.0

    @property
    def progress(self) -> Progress:
        return self.process.collected.progress if self.process is not None else Progress()

    @property
    def warnings(self) -> list[str]:
        if self.process is None:
            return []
        return [str(w.get("message", "")) for w in self.process.collected.warnings]

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    def start(self) -> None:
        """Start the backend; on any problem the job is FAILED with a message (nothing raised)."""
        self.started_at = time.monotonic()
        if self.python is None or not self.python.is_file():
            self._fail(missing_backend_message(self.python))
            return
        if self.source_root is None:
            self._fail("backend source not found next to the add-on; reinstall the Video Mocap extension")
            return
        self.run_dir = self.runs_dir / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        temp_dir = self.run_dir / "tmp"
        try:
            temp_dir.mkdir(parents=True)
        except OSError as exc:
            self._fail(f"cannot create the run folder {self.run_dir}: {exc.strerror or exc}")
            return
        options = replace(self.options, out=str(self.run_dir / MOTION_FILE_NAME))
        self.process = BackendProcess(run_argv(self.python, options), env=backend_env(self.source_root, temp_dir),
                                      cwd=self.run_dir, grace_s=self.grace_s)
        try:
            self.process.start()
        except BackendStartError as exc:
            self._fail(str(exc))
            return
        self._move(RunState.RUNNING)

    def poll(self) -> RunState:
        """Advance: drain backend events; on success load and check the motion file."""
        if self.process is None or self.finished:
            return self.state
        self.process.poll()
        outcome = self.process.outcome
        if outcome is not None:
            self._finish(outcome)
        return self.state

    def _finish(self, outcome: Outcome) -> None:
        if outcome.state is RunState.CANCELLED:
            self._move(RunState.CANCELLED, "cancelled; the scene was not changed")
        elif outcome.state is RunState.FAILED:
            self.error_code = outcome.error_code
            self._move(RunState.FAILED, outcome.message)
        else:
            path = Path(outcome.out) if outcome.out else (self.run_dir or Path()) / MOTION_FILE_NAME
            try:
                self.motion = load_motion(path)
            except MotionFileError as exc:
                detail = str(exc).removeprefix(f"{path}: ")  # the run folder is deleted: its path would mislead
                self._move(RunState.FAILED, f"the backend wrote a bad motion file: {detail}")
            else:
                if self.save_motion_to is not None:
                    try:
                        shutil.copyfile(path, self.save_motion_to)
                    except OSError as exc:
                        self._move(RunState.FAILED, f"cannot write {self.save_motion_to}: {exc.strerror or exc}")
                        self._remove_run_dir()
                        return
                self._move(RunState.READY, f"{self.motion.frame_count} frames from {self.options.model}")
        self._remove_run_dir()

    def cancel(self) -> None:
        """Non-blocking: SIGTERM now, kill after the grace period (enforced by `poll`)."""
        if self.process is not None and not self.finished:
            self.process.cancel()
            self._move(RunState.CANCELLING)
        elif self.state is RunState.IDLE:
            self._move(RunState.CANCELLED, "cancelled")

    def wait(self, timeout: float | None = None, tick_s: float = 0.02,
             on_progress: Callable[[Progress], None] | None = None) -> RunState:
        """Block until finished: headless runs and tests. Cancels (then waits for the child) on timeout."""
        if self.state is RunState.IDLE:
            raise RuntimeError("start() the job before waiting for it")
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() not in TERMINAL:
            if on_progress is not None:
                on_progress(self.progress)
            if deadline is not None and time.monotonic() > deadline and self.state is RunState.RUNNING:
                self.cancel()
            time.sleep(tick_s)
        return self.state

    def _fail(self, message: str) -> None:
        self._move(RunState.FAILED, message)
        self._remove_run_dir()

    def _move(self, state: RunState, message: str | None = None) -> None:
        """Every state change goes through the machine's transition table."""
        self.state = advance(self.state, state)
        if message is not None:
            self.message = message

    def _remove_run_dir(self) -> None:
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
