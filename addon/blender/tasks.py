"""Helper commands that run beside Blender: install, doctor, models list.

Each is a BackendProcess polled by a `bpy.app.timers` function (no modal operator needed),
so preferences and panel stay responsive while pip or the backend works. Finished tasks keep
their lines and verdict for the UI to show.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import bpy

from ..backend_client.backend_runner import (
    BackendProcess,
    BackendStartError,
    Outcome,
    Progress,
)
from ..backend_client.run_state import RunState

TICK_S = 0.2
MAX_LINES = 400
#: install_deps.py announces each step as "[3/7] installing torch": the progress bar follows it.
STEP_LINE = re.compile(r"^\[(\d+)/(\d+)\]\s*(.*)$")


def redraw_ui() -> None:
    """Tag the sidebars of 3D views and the preferences for redraw (not the viewports themselves:
    a progress update must not re-render the scene). A no-op without a window (background)."""
    window_manager = bpy.context.window_manager
    if window_manager is None:
        return
    for window in window_manager.windows:
        screen = window.screen
        for area in screen.areas if screen is not None else ():
            if area.type == "PREFERENCES":
                area.tag_redraw()
            elif area.type == "VIEW_3D":
                for region in area.regions:
                    if region.type == "UI":
                        region.tag_redraw()


class BackgroundTask:
    """One helper command; `on_finish(task)` runs on Blender's main thread when it ends."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None,
                 cwd: str | Path | None = None, on_finish: Callable[[BackgroundTask], None] | None = None) -> None:
        self.name = name
        self.process = BackendProcess(argv, env=env, cwd=cwd)
        self.on_finish = on_finish
        self.lines: list[str] = []
        self.outcome: Outcome | None = None
        self.step = Progress()
        self._timer = self._tick  # keep one bound method so it can be unregistered

    @property
    def running(self) -> bool:
        return self.outcome is None

    @property
    def progress(self) -> Progress:
        """JSON progress events if the command sends them, else its "[n/N] step" lines."""
        reported = self.process.collected.progress
        return reported if reported.total > 0 else self.step

    @property
    def succeeded(self) -> bool:
        return self.outcome is not None and self.outcome.state is RunState.SUCCEEDED

    def start(self) -> None:
        try:
            self.process.start()
        except BackendStartError as exc:
            self.outcome = Outcome(RunState.FAILED, str(exc))
            self.lines.append(str(exc))
            self._finish()
            return
        bpy.app.timers.register(self._timer, first_interval=TICK_S, persistent=False)

    def _tick(self) -> float | None:
        for event in self.process.poll():
            text = event.get("text") if event.get("event") == "line" else event.get("message")
            if text:
                self.lines.append(str(text))
                step = STEP_LINE.match(str(text))
                if step:
                    self.step = Progress(stage=step[3], done=int(step[1]) - 1, total=int(step[2]))
        del self.lines[:-MAX_LINES]
        if self.process.outcome is None:
            redraw_ui()
            return TICK_S
        self.outcome = self.process.outcome
        if self.outcome.state is RunState.FAILED and self.outcome.message not in self.lines:
            self.lines.append(self.outcome.message)
        self._finish()
        return None

    def _finish(self) -> None:
        if self.on_finish is not None:
            self.on_finish(self)
        redraw_ui()

    def stop(self) -> None:
        """Stop the child and everything it started (its process group), and the timer: Cancel, add-on
        disable and quit. Returns once the whole group is gone (at most the grace period, then a kill)."""
        if bpy.app.timers.is_registered(self._timer):
            bpy.app.timers.unregister(self._timer)
        if self.outcome is None:
            self.outcome = self.process.stop()
            if self.outcome is not None and self.outcome.state is RunState.CANCELLED:
                self.lines.append(f"{self.name}: cancelled; it and every process it started were stopped")


class TaskTable:
    """The helper commands by name (install, doctor, models, health): at most one running per name."""

    def __init__(self) -> None:
        self._tasks: dict[str, BackgroundTask] = {}

    def start(self, task: BackgroundTask) -> BackgroundTask:
        """Start `task` unless one of the same name is still running (which is returned instead)."""
        current = self._tasks.get(task.name)
        if current is not None and current.running:
            return current
        self._tasks[task.name] = task
        task.start()
        return task

    def get(self, name: str) -> BackgroundTask | None:
        return self._tasks.get(name)

    def running(self, name: str) -> bool:
        """Whether the task called `name` exists and its process is still running."""
        task = self._tasks.get(name)
        return task is not None and task.running

    def stop_all(self) -> None:
        for task in list(self._tasks.values()):
            task.stop()
        self._tasks.clear()

    def stop_children_at_exit(self) -> None:
        """atexit: Blender is quitting (or a bpy script ends) without unregistering the add-on. Stops every
        child's process group without touching bpy, which may already be half torn down."""
        for task in list(self._tasks.values()):
            if task.outcome is None:
                task.outcome = task.process.stop()
