"""Registering and unregistering every class, property, timer and child process of the add-on."""

from __future__ import annotations

import atexit

import bpy

from ..blender import model_catalog, tasks
from . import operators, panel, preferences, properties

CLASSES = (*preferences.CLASSES, *properties.CLASSES, *operators.CLASSES, *panel.CLASSES)


def _normalise_windows() -> None:
    for scene in bpy.data.scenes:
        properties.normalise_window(scene.video_mocap)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    properties.register_properties()
    model_catalog.catalog.on_loaded = _normalise_windows
    atexit.register(tasks.stop_children_at_exit)  # quitting Blender must not leave pip installing


def unregister() -> None:
    """Leave nothing behind: stop children and timers, then remove properties and classes."""
    job = operators.runtime.job
    if job is not None:
        job.cancel()
        job.wait()
        operators.runtime.job = None
    tasks.stop_all()
    atexit.unregister(tasks.stop_children_at_exit)
    model_catalog.catalog.on_loaded = None
    properties.unregister_properties()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
