"""The backend's health as the preferences and the panel show it: `backend doctor --json`, run in the
background from the chosen Python, cached per interpreter, refreshed after Install Backend and Check."""

from __future__ import annotations

from pathlib import Path

from ..backend_client.backend_paths import backend_argv, backend_env
from ..backend_client.health import BackendHealth, from_failed_run, parse_doctor
from . import locations, tasks

TASK_NAME = "health"


class HealthCache:
    """`backend doctor --json`'s verdict for the backend Python in use, checked through `tasks`."""

    def __init__(self, task_table: tasks.TaskTable) -> None:
        self.tasks = task_table
        self.python: Path | None = None
        self.health: BackendHealth | None = None  # None: not known yet (checking, or never asked)

    def current(self) -> BackendHealth | None:
        """The health of the backend Python in use now; starts one background check when it is unknown
        or the interpreter changed. None while checking, or when there is no interpreter at all."""
        backend = locations.installed_backend()
        if backend is None:
            self.python, self.health = None, None
            return None
        python, _source = backend
        if python != self.python:
            self.refresh()
        return self.health

    def refresh(self) -> None:
        backend = locations.installed_backend()
        self.health = None
        if backend is None:
            self.python = None
            return
        self.python, source = backend
        task = tasks.BackgroundTask(TASK_NAME, backend_argv(self.python, "doctor", "--json"), env=backend_env(source),
                                    on_finish=self._on_answer)
        if self.tasks.running(TASK_NAME):
            self.tasks.get(TASK_NAME).stop()  # a check of the previous interpreter: its answer no longer matters
        self.tasks.start(task)

    def _on_answer(self, task: tasks.BackgroundTask) -> None:
        if task.process.argv[0] != str(self.python):
            return
        payloads = task.process.collected.data
        if payloads:
            self.health = parse_doctor(payloads[-1])
        else:
            self.health = from_failed_run(task.outcome.message if task.outcome is not None else "")

