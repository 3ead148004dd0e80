"""Running a backend command without blocking Blender (no bpy).

The child is started from an argument list (never a shell). Two daemon threads read its
stdout and stderr; stdout lines are parsed as the contract's JSON events and queued, so the
UI thread only drains a queue on each timer tick (microseconds, never a blocking read).
Every child starts in its own process group (POSIX: a new session; Windows: a new process group),
and stopping it stops the whole group: SIGTERM to the group, so the backend and every helper
(pip and the builds it runs under `install_deps.py`) can clean up, then SIGKILL to the group once
the grace period has passed. A run counts as finished only when no member of the group is left,
so "cancelled" is never reported while pip still installs. On Windows (written, not tested here)
`taskkill /T /F` ends the whole tree at once (no console to send CTRL_BREAK to).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .run_state import RunState

DEFAULT_GRACE_S = 3.0
#: After the child exits, how long to wait for its stdout to close (a grandchild may hold it).
PIPE_DRAIN_S = 2.0
_EOF = object()


class BackendStartError(RuntimeError):
    """The command could not even be started (missing interpreter, no permission)."""


def parse_line(line: str) -> dict[str, Any]:
    """One stdout line as an event dict. Non-JSON text becomes a `line` event, so human output
    (doctor, install_deps) and contract events go through the same path."""
    text = line.rstrip("\r\n")
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            payload = json.loads(stripped)
        except json.JSONDecodeError:
            payload = None
        if isinstance(payload, dict):
            if isinstance(payload.get("event"), str):
                return payload
            return {"event": "data", "data": payload}
    return {"event": "line", "text": text}


@dataclass
class Progress:
    stage: str = ""
    done: int = 0
    total: int = 0

    @property
    def fraction(self) -> float:
        return min(1.0, max(0.0, self.done / self.total)) if self.total > 0 else 0.0


@dataclass
class Outcome:
    state: RunState
    message: str = ""
    out: str | None = None
    error_code: str | None = None
    returncode: int | None = None


@dataclass
class _Collected:
    progress: Progress = field(default_factory=Progress)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    done: dict[str, Any] | None = None
    lines: list[str] = field(default_factory=list)
    data: list[Any] = field(default_factory=list)


class BackendProcess:
    """One child process speaking the JSON-line contract. Call `poll()` often; it never blocks."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                 cwd: str | Path | None = None, grace_s: float = DEFAULT_GRACE_S, stderr_keep: int = 200) -> None:
        self.argv = [str(arg) for arg in argv]
        self.env = dict(env) if env is not None else None
        self.cwd = str(cwd) if cwd is not None else None
        self.grace_s = grace_s
        self.collected = _Collected()
        self._events: queue.Queue[Any] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=stderr_keep)
        self._proc: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []
        self._stdout_closed = False
        self._exit_seen_at: float | None = None
        self._cancel_requested_at: float | None = None
        self._killed = False
        self._outcome: Outcome | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the child; raises BackendStartError with a readable message if it cannot run."""
        kwargs: dict[str, Any] = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)
        else:
            kwargs["start_new_session"] = True  # our own process group, so a kill reaches its helpers too
        try:
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=self.env, cwd=self.cwd, text=True, encoding="utf-8", errors="replace", bufsize=1, **kwargs)
        except OSError as exc:
            raise BackendStartError(f"cannot start {self.argv[0]}: {exc.strerror or exc}; it must be an executable "
                                    "Python interpreter, such as a venv's bin/python (Scripts\\python.exe on "
                                    "Windows)") from exc
        self._threads = [
            threading.Thread(target=self._read_stdout, name="video-mocap-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name="video-mocap-stderr", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in self._proc.stdout:
                self._events.put(parse_line(line))
        self._events.put(_EOF)

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        with contextlib.suppress(ValueError, OSError):
            for line in self._proc.stderr:
                self._stderr.append(line.rstrip("\r\n"))

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    @property
    def finished(self) -> bool:
        return self._outcome is not None

    @property
    def outcome(self) -> Outcome | None:
        return self._outcome

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested_at is not None

    def stderr_tail(self, lines: int = 20) -> list[str]:
        return list(self._stderr)[-lines:]

    # -- polling ------------------------------------------------------------------------------
    def poll(self, max_events: int = 1000) -> list[dict[str, Any]]:
        """Drain queued events (bounded, so one tick stays short) and advance the state."""
        new_events: list[dict[str, Any]] = []
        for _ in range(max_events):
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                break
            if item is _EOF:
                self._stdout_closed = True
                continue
            self._record(item)
            new_events.append(item)
        self._enforce_cancel_deadline()
        self._check_finished()
        return new_events

    def _record(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        collected = self.collected
        if kind == "progress":
            collected.progress = Progress(stage=str(event.get("stage", "")), done=int(event.get("done", 0) or 0),
                                          total=int(event.get("total", 0) or 0))
        elif kind == "warning":
            collected.warnings.append(event)
        elif kind == "error":
            collected.error = event
        elif kind == "done":
            collected.done = event
        elif kind == "data":
            collected.data.append(event.get("data"))
        else:
            collected.lines.append(str(event.get("text", event)))

    def _check_finished(self) -> None:
        if self._outcome is not None or self._proc is None:
            return
        returncode = self._proc.poll()
        if returncode is None:
            return
        if self._cancel_requested_at is not None and self.group_alive():
            return  # a cancelled run ends when its helpers are gone too (killed after the grace period)
        if not self._stdout_closed:
            now = time.monotonic()
            if self._exit_seen_at is None:
                self._exit_seen_at = now
            if now - self._exit_seen_at < PIPE_DRAIN_S or not self._events.empty():
                return
        self._outcome = self._decide(returncode)
        self._close_pipes()

    def _decide(self, returncode: int) -> Outcome:
        collected = self.collected
        if self._cancel_requested_at is not None:
            return Outcome(RunState.CANCELLED, "cancelled", returncode=returncode)
        if collected.error is not None:
            return Outcome(RunState.FAILED, str(collected.error.get("message") or collected.error),
                           error_code=str(collected.error.get("code") or "") or None, returncode=returncode)
        if returncode == 0 and collected.done is not None:
            out = collected.done.get("out")
            return Outcome(RunState.SUCCEEDED, "done", out=str(out) if out is not None else None, returncode=0)
        if returncode == 0 and collected.done is None and (collected.lines or collected.data):
            return Outcome(RunState.SUCCEEDED, "finished", returncode=0)
        tail = "; ".join(line for line in self.stderr_tail(5) if line.strip())
        reason = f"backend exited with status {returncode}"
        if returncode == 0:
            reason = "backend exited without reporting a result"
        return Outcome(RunState.FAILED, f"{reason}{': ' + tail if tail else ''}", returncode=returncode)

    # -- stopping -----------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the child to stop (SIGTERM). `poll()` kills it once the grace period has passed."""
        if self._proc is None or self._outcome is not None or self._cancel_requested_at is not None:
            return
        self._cancel_requested_at = time.monotonic()
        if sys.platform == "win32":
            # No console (CREATE_NO_WINDOW), so no CTRL_BREAK: end the tree at once, while the leader
            # still exists for taskkill /T to walk from. The job removes the run folder itself.
            self._kill()
            return
        try:
            os.killpg(self._proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError, OSError):
            # Not a group leader (or the group is gone): signal the child alone. Never both: a second
            # SIGTERM that lands while the child's handler is exiting meets Python's restored default
            # handler and kills it before it reports CANCELLED (exit 130).
            if self._proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, OSError):
                    self._proc.terminate()

    def group_alive(self) -> bool:
        """Whether the child or anything it started (same process group) still runs. POSIX only;
        on Windows the leader stands for the tree, which `taskkill /T` ends."""
        if self._proc is None:
            return False
        if self._proc.poll() is None:
            return True
        if sys.platform == "win32":
            return False
        try:
            os.killpg(self._proc.pid, 0)
        except (ProcessLookupError, PermissionError, OSError):
            return False
        return True

    def _enforce_cancel_deadline(self) -> None:
        if self._cancel_requested_at is None or self._killed or self._proc is None:
            return
        if self.group_alive() and time.monotonic() - self._cancel_requested_at >= self.grace_s:
            self._kill()

    def _kill(self) -> None:
        assert self._proc is not None
        self._killed = True
        if sys.platform == "win32":
            if self._proc.poll() is None:  # /T walks the tree from the leader, so it must still exist
                subprocess.run(["taskkill", "/T", "/F", "/PID", str(self._proc.pid)], capture_output=True,
                               check=False, creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, OSError):
            self._proc.kill()

    def _close_pipes(self) -> None:
        assert self._proc is not None
        for thread in self._threads:
            thread.join(timeout=0.5)
        for pipe in (self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def wait(self, timeout: float | None = None, tick_s: float = 0.02) -> Outcome:
        """Block until finished (batch mode and tests); cancels on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.poll()
            if self._outcome is not None:
                return self._outcome
            if deadline is not None and time.monotonic() > deadline and self._cancel_requested_at is None:
                self.cancel()
            time.sleep(tick_s)

    def stop(self) -> Outcome | None:
        """Cancel and wait for the child to be gone (used when Blender quits or the add-on unloads)."""
        if self._proc is None:
            return None
        if self._outcome is None:
            self.cancel()
            return self.wait()
        return self._outcome
