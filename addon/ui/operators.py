"""Operators: the modal video import, motion-file import, cancel, and the helper commands."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import bpy
from bpy.props import StringProperty

from ..backend_client.backend_paths import (
    IMAGE_SUFFIXES,
    backend_argv,
    backend_env,
    install_argv,
)
from ..backend_client.import_job import VideoImportJob, missing_backend_message
from ..backend_client.messages import for_panel, people_line
from ..backend_client.run_options import RunOptions, panel_values
from ..backend_client.run_state import ModalStep, RunState
from ..blender import locations, tasks
from ..blender.rig_reader import bone_parents, vrm_humanoid
from ..blender.scene_import import ImportOptions, ImportProblem, check_target, clip_name, import_motion
from ..blender.session import SESSION
from ..core.motion_data import Motion, MotionFileError, load_motion
from ..core.rig_presets import BODY_JOINTS as MAPPING_JOINTS
from ..core.rig_presets import (
    BoneMapping,
    MappingError,
    load_mapping_file,
    mapping_for,
    mapping_to_json,
    presets,
)

TIMER_S = 0.1
VIDEO_GLOB = "*.mp4;*.mov;*.m4v;*.avi;*.mkv;*.webm;*.mpg;*.mpeg;*.wmv;*.mts;*.m2ts"
#: Image sequences are chosen by their first image (the backend takes the numbered images after it).
SEQUENCE_GLOB = ";".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES)




def run_options_from(context: bpy.types.Context) -> RunOptions:
    """The backend command's options: every row of `run_options.RUN_OPTIONS` that names a panel or
    preferences source, read from the scene's settings and the add-on's preferences."""
    sources = {"scene": context.scene.video_mocap, "prefs": locations.preferences()}
    return RunOptions(video=bpy.path.abspath(context.scene.video_mocap.video_path), out="", **panel_values(sources))


def mapping_from_rows(settings: bpy.types.PropertyGroup) -> BoneMapping | None:
    """The panel's mapping rows as a mapping (None when there are no rows: the preset is used).
    Root bone, switch properties and free-direction controls come from the preset the rows were
    filled from."""
    if len(settings.mapping_rows) == 0:
        return None
    joints = {row.joint: tuple(name.strip() for name in row.bones.split(",") if name.strip())
              for row in settings.mapping_rows}
    preset = presets().get(settings.mapping_preset)
    base = BoneMapping(joints, settings.mapping_preset or "custom", settings.root_bone)
    if preset is None:
        return base
    prefix_mapping = mapping_for(_target_names(settings), {}, preset.name)
    return BoneMapping(joints, base.preset, settings.root_bone, prefix_mapping.free_direction,
                       prefix_mapping.properties, prefix_mapping.optional)


def _target_names(settings: bpy.types.PropertyGroup) -> list[str]:
    obj = settings.target_object
    return list(obj.data.bones.keys()) if obj is not None and obj.type == "ARMATURE" else []


def fill_mapping_rows(settings: bpy.types.PropertyGroup, mapping: BoneMapping) -> None:
    settings.mapping_rows.clear()
    for joint in MAPPING_JOINTS:
        row = settings.mapping_rows.add()
        row.joint = joint
        row.bones = ", ".join(mapping.joints.get(joint, ()))
    settings.mapping_preset = mapping.preset
    settings.root_bone = mapping.root_bone


def import_options_from(context: bpy.types.Context, motion: Motion | None, source_path: str) -> ImportOptions:
    settings = context.scene.video_mocap
    return ImportOptions(
        target=settings.target,
        target_object=settings.target_object.name if settings.target_object is not None else "",
        bone_preset=settings.bone_preset,
        mapping=mapping_from_rows(settings) if settings.target == "EXISTING" else None,
        accept_partial=settings.accept_partial,
        scale=settings.retarget_scale,
        root_motion=settings.root_motion,
        ground=settings.ground,
        start_at_detection=settings.start_at_detection,
        match_scene_fps=settings.match_scene_fps,
        keep_frame_range=settings.keep_frame_range,
        whole_frames=settings.whole_frames,
        name=clip_name(source_path, motion) if motion is not None else "SMPL",
    )


LAST_RUN_FILE = "last_run.npz"


def new_import_job(context: bpy.types.Context, tracks: str | None = None) -> VideoImportJob:
    """A job for the panel's settings (not started); the operator and the tests use this. With `tracks`
    (an earlier motion file of this video) the backend reuses its people instead of detecting them."""
    options = run_options_from(context)
    if tracks:
        options = replace(options, tracks=tracks)
    job = VideoImportJob(locations.backend_python(), locations.backend_source(), options, locations.runs_dir())
    job.save_motion_to = locations.runs_dir() / LAST_RUN_FILE
    return job


def reusable_tracks(context: bpy.types.Context) -> str | None:
    """The last run's motion file when it was made from the video now chosen and keeps several people."""
    video = bpy.path.abspath(context.scene.video_mocap.video_path)
    status = SESSION.imports
    if status.last_tracks and status.last_video == video and Path(status.last_tracks).is_file():
        return status.last_tracks
    return None


def apply_motion(operator: bpy.types.Operator, context: bpy.types.Context, motion: Motion,
                 source_path: str) -> set[str]:
    """Import into the scene, report, and return the operator result."""
    try:
        result = import_motion(context, motion, import_options_from(context, motion, source_path))
    except ImportProblem as exc:
        SESSION.imports.tell("ERROR", str(exc))
        operator.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    for warning in result.warnings:
        SESSION.imports.tell("WARNING", warning)
        operator.report({"WARNING"}, warning)
    first, last = result.frame_range
    text = f"Imported {motion.frame_count} frames onto '{result.armature.name}' (frames {first}-{last})"
    if result.notes:
        text += "; " + "; ".join(result.notes)
    for warning in result.warnings:
        operator.report({"WARNING"}, warning)
    people = people_line(motion.meta)
    if people and "person_id" in motion.meta:
        text += f". Person {motion.meta['person_id']} of {people}; pick another with Person ID"
    SESSION.imports.tell("INFO", text)
    operator.report({"INFO"}, text)
    return {"FINISHED"}


def unsaved_relative_path(raw: str, blend_path: str) -> str | None:
    """The message for a `//` path (relative to the .blend) in a file that was never saved, else None:
    Blender would resolve it against nothing and the backend would say 'video not found: clip.mp4'."""
    if raw.strip().startswith("//") and not blend_path:
        return (f"The video path '{raw.strip()}' is relative to the .blend file, but this file is not saved yet: "
                "save the .blend first, or choose the video again with the file browser to get its full path")
    return None


def modal_step(job: VideoImportJob | None, event_type: str, event_value: str) -> ModalStep:
    """What one modal event does to the job: FINISH, CANCELLING (Esc), PROGRESS (a timer tick that
    changed the progress), or IDLE. Only timer ticks poll the job: a bounded queue drain, never a wait."""
    if job is None or job.finished:
        return ModalStep.FINISH
    if event_type == "ESC" and event_value == "PRESS":
        job.cancel()
        return ModalStep.CANCELLING
    if event_type != "TIMER":
        return ModalStep.IDLE
    before = (job.progress.stage, job.progress.done, job.state)
    job.poll()
    if job.finished:
        return ModalStep.FINISH
    return ModalStep.PROGRESS if (job.progress.stage, job.progress.done, job.state) != before else ModalStep.IDLE


class VIDEO_MOCAP_OT_import_video(bpy.types.Operator):
    """Run the backend on the video (in the background) and animate an armature with the result"""

    bl_idname = "video_mocap.import_video"
    bl_label = "Import Video Motion"
    bl_options = {"UNDO"}

    _timer = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if SESSION.imports.job is not None:
            cls.poll_message_set("An import is already running")
            return False
        if context.mode != "OBJECT":
            cls.poll_message_set("Switch to Object Mode to import")
            return False
        return True

    def _start(self, context: bpy.types.Context) -> VideoImportJob | None:
        if not context.scene.video_mocap.video_path.strip():
            self._fail("choose a video first")
            return None
        problem = unsaved_relative_path(context.scene.video_mocap.video_path, bpy.data.filepath)
        if problem:
            self._fail(problem)
            return None
        try:  # the target and its mapping are checked before the backend starts (milliseconds)
            check_target(import_options_from(context, None, ""))
        except (ImportProblem, MappingError) as exc:
            self._fail(str(exc))
            return None
        reuse, SESSION.imports.reuse_tracks = SESSION.imports.reuse_tracks, False
        job = new_import_job(context, reusable_tracks(context) if reuse else None)
        job.start()
        if job.state is RunState.FAILED:
            self._fail(job.message)
            return None
        SESSION.imports.job = job
        SESSION.imports.tell("INFO", "starting the backend...")
        return job

    def _fail(self, message: str) -> None:
        SESSION.imports.tell("ERROR", message)
        self.report({"ERROR"}, message)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        if self._start(context) is None:
            return {"CANCELLED"}
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(TIMER_S, window=context.window)
        window_manager.modal_handler_add(self)
        tasks.redraw_ui()
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        step = modal_step(SESSION.imports.job, event.type, event.value)
        if step is ModalStep.FINISH:
            return self._finish(context)
        if step is ModalStep.CANCELLING:
            SESSION.imports.tell("INFO", "cancelling...")
            tasks.redraw_ui()
            return {"RUNNING_MODAL"}
        if step is ModalStep.PROGRESS:
            tasks.redraw_ui()
        return {"PASS_THROUGH"}  # the UI stays fully usable while the backend works

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Blocking variant for background Blender (no window, no event loop)."""
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        try:
            job.wait()
        except KeyboardInterrupt:
            job.cancel()
            job.wait()
        return self._finish(context)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the operator (file load, quit): stop the child and wait for it."""
        job = SESSION.imports.job
        if job is not None:
            job.cancel()
            job.wait()
        self._finish(context)

    def _finish(self, context: bpy.types.Context) -> set[str]:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        job, SESSION.imports.job = SESSION.imports.job, None
        tasks.redraw_ui()
        if job is None:
            return {"CANCELLED"}
        for warning in job.warnings:
            self.report({"WARNING"}, warning)
        if job.state is RunState.READY and job.motion is not None:
            several = len(job.motion.people_ids) > 1 and job.save_motion_to is not None
            SESSION.imports.last_tracks = str(job.save_motion_to) if several else ""
            SESSION.imports.last_video = job.options.video if several else ""
            SESSION.imports.last_people = people_line(job.motion.meta) if several else ""
            return apply_motion(self, context, job.motion, job.options.video)
        if job.state is RunState.CANCELLED:
            SESSION.imports.tell("INFO", job.message)
            self.report({"INFO"}, job.message)
        else:
            self._fail(for_panel(job.message, job.error_code))
        return {"CANCELLED"}


class VIDEO_MOCAP_OT_import_person(bpy.types.Operator):
    """Import the person chosen by Person ID from the last run of this video, reusing its tracks: no detection,
    so it takes seconds"""

    bl_idname = "video_mocap.import_person"
    bl_label = "Import This Person"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if reusable_tracks(context) is None:
            cls.poll_message_set("Run Import Video Motion on this video first")
            return False
        return VIDEO_MOCAP_OT_import_video.poll(context)

    def _run(self, context: bpy.types.Context, mode: str) -> set[str]:
        context.scene.video_mocap.person_mode = "ID"
        SESSION.imports.reuse_tracks = True
        try:
            result = bpy.ops.video_mocap.import_video(mode)
        except RuntimeError as exc:  # the import reported an error: show its message, not a Python traceback
            self.report({"ERROR"}, str(exc).strip().removeprefix("Error: "))
            return {"CANCELLED"}
        finally:
            SESSION.imports.reuse_tracks = False
        return {"FINISHED"} if result & {"FINISHED", "RUNNING_MODAL"} else {"CANCELLED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return self._run(context, "INVOKE_DEFAULT")

    def execute(self, context: bpy.types.Context) -> set[str]:
        return self._run(context, "EXEC_DEFAULT")


class VIDEO_MOCAP_OT_cancel_import(bpy.types.Operator):
    """Stop the running import; the scene stays as it was"""

    bl_idname = "video_mocap.cancel_import"
    bl_label = "Cancel"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return SESSION.imports.job is not None and not SESSION.imports.job.finished

    def execute(self, context: bpy.types.Context) -> set[str]:
        SESSION.imports.job.cancel()
        SESSION.imports.tell("INFO", "cancelling...")
        return {"FINISHED"}


class _FileOperator:
    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}


class VIDEO_MOCAP_OT_select_video(_FileOperator, bpy.types.Operator):
    """Choose the video to capture motion from"""

    bl_idname = "video_mocap.select_video"
    bl_label = "Choose Video"
    bl_options = {"INTERNAL"}

    filter_glob: StringProperty(default=VIDEO_GLOB + ";" + SEQUENCE_GLOB, options={"HIDDEN"})
    filter_movie: bpy.props.BoolProperty(default=True, options={"HIDDEN"})
    filter_image: bpy.props.BoolProperty(default=True, options={"HIDDEN"})
    filter_folder: bpy.props.BoolProperty(default=True, options={"HIDDEN"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        context.scene.video_mocap.video_path = self.filepath
        return {"FINISHED"}


class VIDEO_MOCAP_OT_import_motion_file(_FileOperator, bpy.types.Operator):
    """Import a motion file (.npz) that the backend wrote earlier"""

    bl_idname = "video_mocap.import_motion_file"
    bl_label = "Import Motion File"
    bl_options = {"UNDO"}

    filter_glob: StringProperty(default="*.npz", options={"HIDDEN"})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return VIDEO_MOCAP_OT_import_video.poll(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            motion = load_motion(bpy.path.abspath(self.filepath))
        except MotionFileError as exc:
            SESSION.imports.tell("ERROR", str(exc))
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return apply_motion(self, context, motion, self.filepath)


class VIDEO_MOCAP_OT_refresh_models(bpy.types.Operator):
    """Ask the backend which models exist and which have their weights"""

    bl_idname = "video_mocap.refresh_models"
    bl_label = "Refresh Models"
    bl_options = {"INTERNAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        SESSION.catalog.refresh()
        return {"FINISHED"}


class VIDEO_MOCAP_OT_install_backend(bpy.types.Operator):
    """Create the backend's own Python environment in the add-on's user folder (takes minutes)"""

    bl_idname = "video_mocap.install_backend"
    bl_label = "Install Backend"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not SESSION.tasks.running("install")

    def execute(self, context: bpy.types.Context) -> set[str]:
        source = locations.backend_source()
        if source is None or not (source / "install_deps.py").is_file():
            self.report({"ERROR"}, "install_deps.py not found next to the add-on; reinstall the extension")
            return {"CANCELLED"}
        prefs = locations.preferences()
        extra = ["--cuda"] if getattr(prefs, "device", "auto") == "cuda" else []
        # Blender's own interpreter runs the installer; the backend then lives in its own venv.
        argv = install_argv(sys.executable, source, locations.user_dir(), extra)  # makes <user dir>/venv
        env = {key: value for key, value in os.environ.items() if key != "PYTHONHOME"}
        env["PYTHONUNBUFFERED"] = "1"
        SESSION.tasks.start(tasks.BackgroundTask("install", argv, env=env, cwd=locations.user_dir(),
                                         on_finish=_after_install))
        self.report({"INFO"}, "installing the backend in the background...")
        return {"FINISHED"}


def _after_install(_task: tasks.BackgroundTask) -> None:
    SESSION.catalog.refresh()
    SESSION.health.refresh()


class VIDEO_MOCAP_OT_cancel_install(bpy.types.Operator):
    """Stop installing the backend: ends the installer and every pip process it started"""

    bl_idname = "video_mocap.cancel_install"
    bl_label = "Cancel Install"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return SESSION.tasks.running("install")

    def execute(self, context: bpy.types.Context) -> set[str]:
        SESSION.tasks.get("install").stop()  # waits for the process group: the grace period at most, then a kill
        tasks.redraw_ui()
        self.report({"INFO"}, "backend install cancelled")
        return {"FINISHED"}


class VIDEO_MOCAP_OT_check_backend(bpy.types.Operator):
    """Run `backend doctor`: checks the backend's environment, weights and SMPL files"""

    bl_idname = "video_mocap.check_backend"
    bl_label = "Check"
    bl_options = {"INTERNAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        backend = locations.installed_backend()
        if backend is None:
            self.report({"ERROR"}, missing_backend_message(locations.backend_python()))
            return {"CANCELLED"}
        python, source = backend
        argv = backend_argv(python, "doctor")
        prefs = locations.preferences()
        for option, value in (("--weights-dir", getattr(prefs, "weights_dir", "")),
                              ("--smpl-dir", getattr(prefs, "smpl_dir", ""))):
            if value:
                argv += [option, bpy.path.abspath(value)]
        SESSION.tasks.start(tasks.BackgroundTask("doctor", argv, env=backend_env(source)))
        SESSION.health.refresh()
        return {"FINISHED"}


class VIDEO_MOCAP_OT_detect_mapping(bpy.types.Operator):
    """Fill the mapping rows for the target armature from the chosen rig preset (or the detected one)"""

    bl_idname = "video_mocap.detect_mapping"
    bl_label = "Detect Mapping"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.video_mocap
        obj = settings.target_object
        if obj is None or obj.type != "ARMATURE":
            self.report({"ERROR"}, "choose the target armature first")
            return {"CANCELLED"}
        try:
            mapping = mapping_for(list(obj.data.bones.keys()), bone_parents(obj), settings.bone_preset,
                                  vrm_humanoid(obj))
        except MappingError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        fill_mapping_rows(settings, mapping)
        lacking = mapping.missing(obj.data.bones.keys())
        message = f"mapping from {mapping.preset}" + (f"; missing: {', '.join(lacking[:6])}" if lacking else "")
        self.report({"WARNING" if lacking else "INFO"}, message)
        return {"FINISHED"}


class VIDEO_MOCAP_OT_clear_mapping(bpy.types.Operator):
    """Remove the mapping rows: the rig preset is used as it is"""

    bl_idname = "video_mocap.clear_mapping"
    bl_label = "Clear Mapping"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.video_mocap
        settings.mapping_rows.clear()
        settings.mapping_preset = ""
        return {"FINISHED"}


class VIDEO_MOCAP_OT_save_mapping(_FileOperator, bpy.types.Operator):
    """Save the mapping rows as a JSON file (for other rigs of the family, or for batch --mapping)"""

    bl_idname = "video_mocap.save_mapping"
    bl_label = "Save Mapping"
    bl_options = {"INTERNAL"}

    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        mapping = mapping_from_rows(context.scene.video_mocap)
        if mapping is None:
            self.report({"ERROR"}, "no mapping rows to save: press Detect Mapping first")
            return {"CANCELLED"}
        path = bpy.path.ensure_ext(bpy.path.abspath(self.filepath), ".json")
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(mapping_to_json(mapping))
        except OSError as exc:
            self.report({"ERROR"}, f"{path}: cannot write the mapping ({exc.strerror or exc})")
            return {"CANCELLED"}
        self.report({"INFO"}, f"mapping saved to {path}")
        return {"FINISHED"}


class VIDEO_MOCAP_OT_load_mapping(_FileOperator, bpy.types.Operator):
    """Load mapping rows from a JSON mapping file"""

    bl_idname = "video_mocap.load_mapping"
    bl_label = "Load Mapping"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            mapping = load_mapping_file(bpy.path.abspath(self.filepath))
        except MappingError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        fill_mapping_rows(context.scene.video_mocap, mapping)
        return {"FINISHED"}


CLASSES = (
    VIDEO_MOCAP_OT_import_video,
    VIDEO_MOCAP_OT_import_person,
    VIDEO_MOCAP_OT_cancel_import,
    VIDEO_MOCAP_OT_select_video,
    VIDEO_MOCAP_OT_import_motion_file,
    VIDEO_MOCAP_OT_refresh_models,
    VIDEO_MOCAP_OT_install_backend,
    VIDEO_MOCAP_OT_cancel_install,
    VIDEO_MOCAP_OT_check_backend,
    VIDEO_MOCAP_OT_detect_mapping,
    VIDEO_MOCAP_OT_clear_mapping,
    VIDEO_MOCAP_OT_save_mapping,
    VIDEO_MOCAP_OT_load_mapping,
)
