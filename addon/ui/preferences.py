"""Add-on preferences: the backend's Python, weights and SMPL folders, device, install and check."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from ..backend_client.messages import chars_for, for_panel, wrap
from ..blender import locations, tasks
from ..blender.session import SESSION

MAX_SHOWN_LINES = 30
DEVICE_ITEMS = [
    ("auto", "Auto", "The GPU when the backend's torch sees a CUDA GPU, else the CPU (the built-in model always "
     "uses the CPU)"),
    ("cpu", "CPU", "Run the models on the processor; works everywhere"),
    ("cuda", "CUDA GPU", "Run the seed models on an NVIDIA GPU; Install Backend then installs torch's CUDA build"),
]


def text_width(context: bpy.types.Context) -> int:
    """Characters that fit on one label of the region being drawn (the preferences or the sidebar)."""
    region = getattr(context, "region", None)
    width = region.width if region is not None and region.width > 1 else 400
    return chars_for(width, context.preferences.system.ui_scale)


def wrapped_label(layout: bpy.types.UILayout, text: str, width: int, icon: str = "NONE") -> None:
    """`text` over as many labels as it needs: the first with `icon`, the rest indented to match it."""
    for index, line in enumerate(wrap(text, width)):
        layout.label(text=line, icon=icon if index == 0 else ("BLANK1" if icon != "NONE" else "NONE"))


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
    device: EnumProperty(name="Device", default="auto", items=DEVICE_ITEMS,
                         description="Where the backend runs the models")

    def weights_dir_argument(self) -> str | None:
        return bpy.path.abspath(self.weights_dir) if self.weights_dir else None

    def smpl_dir_argument(self) -> str | None:
        return bpy.path.abspath(self.smpl_dir) if self.smpl_dir else None

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        width = text_width(context)
        col = layout.column()
        col.prop(self, "backend_python")
        draw_backend_state(col, width)
        col.prop(self, "weights_dir")
        col.prop(self, "smpl_dir")
        col.prop(self, "device")
        wrapped_label(col, f"User data: {locations.user_dir()}", width, icon="FILE_FOLDER")

        row = layout.row()
        install = SESSION.tasks.get("install")
        if SESSION.tasks.running("install"):
            row.operator("video_mocap.cancel_install", icon="CANCEL")
        else:
            row.operator("video_mocap.install_backend", icon="IMPORT")
        row.operator("video_mocap.check_backend", icon="CHECKMARK")
        _draw_task(layout, install, "Install", width)
        _draw_task(layout, SESSION.tasks.get("doctor"), "Check", width)


def draw_backend_state(layout: bpy.types.UILayout, width: int) -> None:
    """Installed means `backend doctor --json` said the built-in model is ready; anything else is a box
    that says what is missing, with the button that fixes it."""
    python = locations.backend_python()
    if python is None or not python.is_file():
        box = layout.box()
        where = f" at {python}" if python is not None else ""
        wrapped_label(box, f"No backend found{where}.", width, icon="ERROR")
        wrapped_label(box, "Press Install Backend (a few minutes, in the background), or choose the Python of an "
                           "existing backend venv above.", width)
        box.operator("video_mocap.install_backend", icon="IMPORT")
        return
    health = SESSION.health.current()
    if health is None:
        wrapped_label(layout, f"Checking the backend at {python}...", width, icon="SORTTIME")
    elif health.ready:
        wrapped_label(layout, f"Backend ready: {python}", width, icon="CHECKMARK")
    else:
        box = layout.box()
        box.alert = True
        missing = ", ".join(health.missing) if health.missing else "its packages"
        wrapped_label(box, f"Backend incomplete at {python}: missing {missing}.", width, icon="ERROR")
        if health.detail:
            wrapped_label(box, for_panel(health.detail), width)
        wrapped_label(box, "Press Install Backend to install what is missing, or choose another Python above.",
                      width)
        box.operator("video_mocap.install_backend", icon="IMPORT")


def _draw_task(layout: bpy.types.UILayout, task: tasks.BackgroundTask | None, title: str, width: int) -> None:
    if task is None:
        return
    box = layout.box()
    if task.running:
        progress = task.progress
        text = f"{title}: {progress.stage} {progress.done}/{progress.total}" if progress.total else \
            f"{title}: {task.lines[-1] if task.lines else 'running...'}"
        box.progress(factor=progress.fraction, type="BAR", text=wrap(text, width)[0])
    else:
        ok = task.succeeded
        box.label(text=f"{title}: {'OK' if ok else 'problems found'}", icon="CHECKMARK" if ok else "ERROR")
    for line in task.lines[-MAX_SHOWN_LINES:]:
        for part in wrap(for_panel(line), width):
            box.label(text=part)


CLASSES = (VIDEO_MOCAP_AP_preferences,)
