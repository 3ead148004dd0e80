"""3D View > Sidebar > Mocap: every import setting, then the progress bar and Cancel while it runs."""

from __future__ import annotations

import bpy

from ..blender import locations
from ..blender.backend_health import health_cache
from ..blender.model_catalog import catalog
from .operators import reusable_tracks, runtime
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
        catalog.ensure_attempted()  # starts one background query, never waits for it
        job = runtime.job
        running = job is not None and not job.finished

        width = text_width(context)
        health = health_cache.current()
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
        model = catalog.get(settings.model)
        if model is not None and not model.ready:
            missing = ", ".join(model.missing) or model.status or "weights"
            wrapped_label(source, f"Missing: {missing}", width, icon="ERROR")
        if model is not None and model.has_window:
            source.prop(settings, "window")
        if catalog.message and not catalog.loaded:
            wrapped_label(source, catalog.message, width, icon="INFO")

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
        row = options.row(align=True)
        row.prop(settings, "use_smoothing", text="")
        sub = row.row()
        sub.enabled = settings.use_smoothing
        sub.prop(settings, "smoothing")
        options.prop(settings, "fit")
        row = options.row(align=True)
        row.prop(settings, "use_height", text="")
        sub = row.row()
        sub.enabled = settings.use_height
        sub.prop(settings, "height")

        options.separator()
        options.prop(settings, "target", text="")
        if settings.target == "EXISTING":
            options.prop(settings, "target_object")
            options.prop(settings, "bone_preset")
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
            if runtime.last_people and reusable_tracks(context) is not None:
                box = layout.box()
                wrapped_label(box, f"Last run: {runtime.last_people}", width, icon="COMMUNITY")
                row = box.row(align=True)
                row.prop(settings, "person_id", text="Person")
                row.operator("video_mocap.import_person", icon="IMPORT")
            layout.operator("video_mocap.import_motion_file", text="Import Motion File...", icon="FILE")
        if runtime.message:
            wrapped_label(layout, runtime.message, width, icon=_LEVEL_ICONS.get(runtime.level, "INFO"))


CLASSES = (VIDEO_MOCAP_PT_main,)
