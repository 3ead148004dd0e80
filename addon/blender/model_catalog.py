"""The models list from `backend models --json`, fetched in the background and cached.

The panel draws from the cache only. Until the backend has answered (or when it cannot),
the built-in default model is offered, so the user never waits for the list to import.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import bpy

from ..backend_client.backend_paths import (
    FALLBACK_MODELS,
    ModelInfo,
    backend_argv,
    backend_env,
    parse_models,
)
from . import locations, tasks

TASK_NAME = "models"
DEFAULT_MODEL = "blazepose"


def enum_number(name: str) -> int:
    """A stable enum number per model name, so a saved choice survives a reordered list;
    the default model is 0, the value an unset property holds."""
    return 0 if name == DEFAULT_MODEL else (zlib.crc32(name.encode()) & 0x7FFFFFFF) or 1


class ModelCatalog:
    """The models the backend offers, for the panel; asks `backend models --json` through `tasks`."""

    def __init__(self, task_table: tasks.TaskTable) -> None:
        self.tasks = task_table
        self.models: list[ModelInfo] = list(FALLBACK_MODELS)
        self.loaded = False
        self.attempted = False
        self.message = ""
        # Enum items must stay referenced while Blender uses them (a known bpy pitfall).
        self.enum_items: list[tuple[str, str, str, str, int]] = []
        self.on_loaded: Callable[[], None] | None = None
        self._window_items: list[tuple[str, str, str, int]] = []
        self._rebuild_items()

    def get(self, name: str) -> ModelInfo | None:
        return next((model for model in self.models if model.name == name), None)

    def window_items(self, name: str) -> list[tuple[str, str, str, int]]:
        """Enum items of the windows model `name` accepts ([] when it has none), kept referenced like
        `enum_items`. Each item's number is the window itself, so a stored value survives a new list."""
        model = self.get(name)
        if model is None or not model.windows:
            return []
        self._window_items = [(str(window), str(window), f"{window} frames per window"
                               + (" (default)" if window == model.default_window else ""), window)
                              for window in model.windows]
        return self._window_items

    def _rebuild_items(self) -> None:
        self.enum_items = []
        for model in self.models:
            state = model.status or ("ready" if model.ready else "missing weights")
            icon = "CHECKMARK" if model.ready else "ERROR"
            self.enum_items.append((model.name, model.name, f"{model.title}: {state}", icon, enum_number(model.name)))

    def refresh(self) -> None:
        """Ask the backend for its models without blocking; the cache updates when it answers."""
        self.attempted = True
        backend = locations.installed_backend()
        if backend is None:
            self.message = "backend not installed: showing the built-in model only"
            return
        python, source = backend
        argv = backend_argv(python, "models", "--json")
        prefs = locations.preferences()
        weights_dir = getattr(prefs, "weights_dir", "") if prefs is not None else ""
        if weights_dir:
            argv += ["--weights-dir", bpy.path.abspath(weights_dir)]
        self.message = "asking the backend for its models..."
        self.tasks.start(tasks.BackgroundTask(TASK_NAME, argv, env=backend_env(source), on_finish=self._on_answer))

    def ensure_attempted(self) -> None:
        if not self.attempted:
            self.refresh()

    def _on_answer(self, task: tasks.BackgroundTask) -> None:
        payloads = task.process.collected.data
        try:
            if not task.succeeded or not payloads:
                raise ValueError(task.outcome.message if task.outcome else "no answer")
            self.models = parse_models(payloads[-1]) or list(FALLBACK_MODELS)
        except (ValueError, TypeError) as exc:
            self.message = f"could not list models: {exc}"
            return
        self.loaded = True
        self.message = f"{len(self.models)} models, {sum(m.ready for m in self.models)} ready"
        self._rebuild_items()
        if self.on_loaded is not None:
            self.on_loaded()

