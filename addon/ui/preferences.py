"""Add-on preferences: the backend's Python, weights and SMPL folders, device, install and check."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from ..backend_client.backend_paths import DEVICES
from ..blender import locations, tasks

MAX_SHOWN_LINES = 30


class VIDEO_MOCAP_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = locations.PACKAGE  # the add-on's package, not this sub-package

    backend_python: StringProperty(
        name="Backend Python", subtype="FILE_PATH", default="",
        description="Interpreter of the backend's venv; leave empty to use the one Install Backend made")
    weights_dir: StringProperty(
        name="Weights Folder", subtype="DIR_PATH", default="",
        description="Folder with the models' checkpoint files under their official names")
    smpl_dir: StringProperty(
        name="SMPL Folder", subtype="DIR_PATH", default="",
        description="Folder with SMPL_NEUTRAL.npz (licensed; never shipped)")
    device: EnumProperty(name="Device", default="auto", items=[
        (name, name.upper() if name != "auto" else "Auto", f"Run the models on {name}") for name in DEVICES])

    def weights_dir_argument(self) -> str | None:
        return bpy.path.abspath(self.weights_dir) if self.weights_dir else None

    def smpl_dir_argument(self) -> str | None:
        return bpy.path.abspath(self.smpl_dir) if self.smpl_dir else None

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        python = locations.backend_python()
        col = layout.column()
        col.prop(self, "backend_python")
        if python is not None and python.is_file():
            col.label(text=f"Using {python}", icon="CHECKMARK")
        else:
            col.label(text="No backend found: click Install Backend, or choose its Python", icon="ERROR")
        col.prop(self, "weights_dir")
        col.prop(self, "smpl_dir")
        col.prop(self, "device")
        col.label(text=f"User data: {locations.user_dir()}", icon="FILE_FOLDER")

        row = layout.row()
        row.operator("video_mocap.install_backend", icon="IMPORT")
        row.operator("video_mocap.check_backend", icon="CHECKMARK")
        _draw_task(layout, tasks.get("install"), "Install")
        _draw_task(layout, tasks.get("doctor"), "Check")


def _draw_task(layout: bpy.types.UILayout, task: tasks.BackgroundTask | None, title: str) -> None:
    if task is None:
        return
    box = layout.box()
    if task.running:
        progress = task.progress
        text = f"{title}: {progress.stage} {progress.done}/{progress.total}" if progress.total else \
            f"{title}: {task.lines[-1] if task.lines else 'running...'}"
        box.progress(factor=progress.fraction, type="BAR", text=text[:120])
    else:
        ok = task.succeeded
        box.label(text=f"{title}: {'OK' if ok else 'problems found'}", icon="CHECKMARK" if ok else "ERROR")
    for line in task.lines[-MAX_SHOWN_LINES:]:
        box.label(text=line)


CLASSES = (VIDEO_MOCAP_AP_preferences,)
