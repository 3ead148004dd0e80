"""3D View > Sidebar > Mocap: every import setting, then the progress bar and Cancel while it runs."""

from __future__ import annotations

import bpy

from ..blender import locations
from ..blender.session import SESSION
from .operators import reusable_tracks
from .preferences import text_width, wrapped_label

_LEVEL_ICONS = {"INFO": "INFO", "WARNING": "ERROR", "ERROR": "CANCEL"}


class VIDEO_MOCAP_PT_main(bpy.types.Panel):
    bl_label = "Video Mocap"
    bl_idname = "VIDEO_MOCAP_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Mocap"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.video_mocap
        SESSION.catalog.ensure_attempted()  # starts one background query, never waits for it
        job = SESSION.imports.job
        running = job is not None and not job.finished

        width = text_width(context)
        health = SESSION.health.current()
        if locations.installed_backend() is None or (health is not None and not health.ready):
            box = layout.box()
            if health is None:
                wrapped_label(box, "Backend not installed: press Install Backend (a few minutes, in the "
                                   "background) or choose its Python in the preferences.", width, icon="ERROR")
            else:
                missing = ", ".join(health.missing) or "its packages"
                wrapped_label(box, f"Backend incomplete: missing {missing}. Press Install Backend.", width,
                              icon="ERROR")
            box.operator("video_mocap.install_backend", icon="IMPORT")
            box.operator("preferences.addon_show", text="Open Preferences", icon="PREFERENCES").module = \
                locations.PACKAGE

        source = layout.column(align=True)
        source.enabled = not running
        row = source.row(align=True)
        row.prop(settings, "video_path", text="")
        row.operator("video_mocap.select_video", text="", icon="FILEBROWSER")
        if settings.is_image_sequence():
            source.prop(settings, "sequence_fps")

        row = source.row(align=True)
        row.prop(settings, "model")
        row.operator("video_mocap.refresh_models", text="", icon="FILE_REFRESH")
        model = SESSION.catalog.get(settings.model)
        if model is not None and not model.ready:
            missing = ", ".join(model.missing) or model.status or "weights"
            wrapped_label(source, f"Missing: {missing}", width, icon="ERROR")
        if model is not None and model.has_window:
            source.prop(settings, "window")
        if SESSION.catalog.message and not SESSION.catalog.loaded:
            wrapped_label(source, SESSION.catalog.message, width, icon="INFO")

        options = layout.column()
        options.enabled = not running
        row = options.row(align=True)
        row.prop(settings, "person_mode", expand=True)
        if settings.person_mode == "ID":
            row.prop(settings, "person_id", text="")
        options.prop(settings, "use_frame_range")
        if settings.use_frame_range:
            row = options.row(align=True)
            row.prop(settings, "frame_start")
            row.prop(settings, "frame_end")
        _switched_prop(options, settings, "use_smoothing", "smoothing")
        options.prop(settings, "fit")
        _switched_prop(options, settings, "use_height", "height")

        options.separator()
        options.prop(settings, "target", text="")
        if settings.target == "EXISTING":
            options.prop(settings, "target_object")
            _draw_mapping(options, settings)
        options.label(text="Root Motion")
        options.row().prop(settings, "root_motion", expand=True)
        options.prop(settings, "ground")
        options.prop(settings, "start_at_detection")
        options.prop(settings, "foot_lock")
        options.prop(settings, "match_scene_fps")
        row = options.row()
        row.enabled = not settings.match_scene_fps  # with the video's rate every key is on a whole frame already
        row.prop(settings, "whole_frames")
        options.prop(settings, "keep_frame_range")

        layout.separator()
        if running:
            progress = job.progress
            label = f"{progress.stage or 'starting'} {progress.done}/{progress.total}" if progress.total else \
                (progress.stage or "starting the backend...")
            layout.progress(factor=progress.fraction, type="BAR", text=label)
            layout.operator("video_mocap.cancel_import", text="Cancel", icon="CANCEL")
        else:
            layout.operator("video_mocap.import_video", icon="IMPORT")
            if SESSION.imports.last_people and reusable_tracks(context) is not None:
                box = layout.box()
                wrapped_label(box, f"Last run: {SESSION.imports.last_people}", width, icon="COMMUNITY")
                row = box.row(align=True)
                row.prop(settings, "person_id", text="Person")
                row.operator("video_mocap.import_person", icon="IMPORT")
            layout.operator("video_mocap.import_motion_file", text="Import Motion File...", icon="FILE")
        if SESSION.imports.message:
            wrapped_label(layout, SESSION.imports.message, width, icon=_LEVEL_ICONS.get(SESSION.imports.level, "INFO"))


def _switched_prop(layout: bpy.types.UILayout, settings: bpy.types.PropertyGroup, switch: str, value: str) -> None:
    """One row: the boolean `switch` as a bare checkbox, then `value`, greyed out while the switch is off."""
    row = layout.row(align=True)
    row.prop(settings, switch, text="")
    sub = row.row()
    sub.enabled = getattr(settings, switch)
    sub.prop(settings, value)


def _draw_mapping(layout: bpy.types.UILayout, settings: bpy.types.PropertyGroup) -> None:
    """Rig preset, the editable SMPL joint -> bone rows (missing bones marked), save/load."""
    row = layout.row(align=True)
    row.prop(settings, "bone_preset")
    row.operator("video_mocap.detect_mapping", text="", icon="VIEWZOOM")
    obj = settings.target_object
    bones = obj.data.bones if obj is not None and obj.type == "ARMATURE" else None
    if len(settings.mapping_rows):
        box = layout.box()
        header = box.row(align=True)
        header.label(text=f"Mapping ({settings.mapping_preset or 'custom'})")
        header.operator("video_mocap.load_mapping", text="", icon="FILE_FOLDER")
        header.operator("video_mocap.save_mapping", text="", icon="FILE_TICK")
        header.operator("video_mocap.clear_mapping", text="", icon="X")
        column = box.column(align=True)
        for item in settings.mapping_rows:
            names = [name.strip() for name in item.bones.split(",") if name.strip()]
            missing = bones is not None and any(name not in bones for name in names)
            line = column.row(align=True)
            line.alert = missing
            line.label(text=item.joint, icon="ERROR" if missing else ("CHECKMARK" if names else "BLANK1"))
            line.prop(item, "bones", text="")
        box.prop(settings, "root_bone")
    else:
        row = layout.row(align=True)
        row.operator("video_mocap.load_mapping", text="Load Mapping...", icon="FILE_FOLDER")
    layout.prop(settings, "accept_partial")
    layout.row().prop(settings, "retarget_scale", expand=True)


CLASSES = (VIDEO_MOCAP_PT_main,)
