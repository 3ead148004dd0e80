"""The panel's settings, stored on the scene so they are saved with the .blend."""

from __future__ import annotations

import os

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ..backend_client.backend_paths import IMAGE_SUFFIXES, pasted_path
from ..blender.session import SESSION
from ..core.rig_presets import BODY_JOINTS, presets

_NO_WINDOW = [("NONE", "n/a", "This model has no window setting", 0)]


def _model_items(_self: bpy.types.PropertyGroup, _context: bpy.types.Context) -> list:
    return SESSION.catalog.enum_items


def _window_items(self: bpy.types.PropertyGroup, _context: bpy.types.Context) -> list:
    return SESSION.catalog.window_items(self.model) or _NO_WINDOW


def normalise_window(settings: bpy.types.PropertyGroup) -> None:
    """Set the window to the model's default when the stored one is not allowed for the model."""
    model = SESSION.catalog.get(settings.model)
    allowed = {str(window) for window in model.windows} if model is not None else set()
    if allowed and settings.window not in allowed and model.default_window is not None:
        settings.window = str(model.default_window)


def _on_video_path_changed(self: bpy.types.PropertyGroup, _context: bpy.types.Context) -> None:
    cleaned = pasted_path(self.video_path)
    if cleaned != self.video_path:  # the second assignment changes nothing, so this runs once more at most
        self.video_path = cleaned


def _on_model_changed(self: bpy.types.PropertyGroup, _context: bpy.types.Context) -> None:
    """Each model has its own allowed windows: reset to its default on every change."""
    model = SESSION.catalog.get(self.model)
    if model is not None and model.default_window is not None:
        self.window = str(model.default_window)


def _is_armature(_self: bpy.types.PropertyGroup, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


def _preset_items() -> list[tuple[str, str, str, int]]:
    items = [("auto", "Auto-detect", "Find the rig family from its bone names (or guess by name)", 0)]
    for number, preset in enumerate(presets().values(), start=1):
        items.append((preset.name, preset.title, "; ".join(preset.sources)[:400], number))
    return items


def _preset_changed(settings: bpy.types.PropertyGroup, _context: bpy.types.Context) -> None:
    # The rows override the preset; rows detected from another preset would silently win over the choice.
    if len(settings.mapping_rows) and settings.mapping_preset != settings.bone_preset:
        settings.mapping_rows.clear()
        settings.mapping_preset = ""


class VIDEO_MOCAP_PG_mapping_row(bpy.types.PropertyGroup):
    """One editable mapping row: an SMPL joint and the target bones it drives (comma-separated chain)."""

    joint: StringProperty(name="Joint")
    bones: StringProperty(name="Bones", description="Target bone(s) this SMPL joint drives; a chain is "
                          "comma-separated, parent first; empty: not driven")


class VIDEO_MOCAP_PG_settings(bpy.types.PropertyGroup):
    video_path: StringProperty(name="Video", description="The video to capture motion from, or the first image of "
                               "an image sequence (the numbered images after it in its folder are the frames); a "
                               "path starting with // is relative to the saved .blend file; quotes around a pasted "
                               "path are removed", default="", update=_on_video_path_changed)
    sequence_fps: FloatProperty(name="Sequence FPS", description="Frame rate of an image sequence (video files carry "
                                "their own timestamps)", min=0.01, soft_min=1.0, soft_max=240.0, default=30.0)
    model: EnumProperty(name="Model", description="Pose model (listed by the backend; ready or missing weights)",
                        items=_model_items, update=_on_model_changed)
    window: EnumProperty(name="Window", description="Frames the model sees at once (only the model's allowed values)",
                         items=_window_items)
    person_mode: EnumProperty(name="Person", items=[
        ("AUTO", "Auto", "The main person: the longest, largest track"),
        ("ID", "ID", "A person chosen by id: after a run the panel lists everyone found, with their ids"),
    ], default="AUTO", description="Whose motion to import when several people are in the video")
    person_id: IntProperty(name="Person ID", min=0, default=0,
                           description="Id of the person to import (0, 1, ...): the panel lists the ids found "
                                       "after a run; 0 is not always the main person")
    use_frame_range: BoolProperty(name="Frame Range", description="Only process part of the video", default=False)
    frame_start: IntProperty(name="Start", description="First source frame of the video (0-based), whatever the "
                             "scene's rate", min=0, default=0)
    frame_end: IntProperty(name="End", description="Source frame of the video to stop before", min=1, default=100)
    use_smoothing: BoolProperty(name="Custom Smoothing",
                                description="Override the backend's default smoothing strength", default=False)
    smoothing: FloatProperty(name="Smoothing", description="Temporal smoothing strength: 0 off, 1 the backend's "
                             "default, 2 stronger", min=0.0, soft_max=2.0, default=1.0)
    fit: BoolProperty(name="Fit Whole Clip",
                      description="Fit rotations, root path and one skeleton to the whole clip's 2D landmarks "
                                  "(built-in model); off gives the per-frame result", default=True)
    use_height: BoolProperty(name="Person's Height",
                             description="Give the person's real height: sets the skeleton's size and so how far "
                                         "from the camera the root is", default=False)
    height: FloatProperty(name="Height", description="The person's stature (standing height)", min=0.5, max=2.6,
                          default=1.70, subtype="DISTANCE", unit="LENGTH")
    start_at_detection: BoolProperty(name="Start at First Detection",
                                     description="Key only from the first to the last frame where the person was "
                                                 "detected; before and after there is no motion to key",
                                     default=True)
    target: EnumProperty(name="Target", description="Which armature receives the motion", items=[
        ("NEW", "New SMPL Armature", "Build a new armature from the clip's rest skeleton"),
        ("EXISTING", "Existing Armature", "Animate an armature that already has the preset's bone names"),
    ], default="NEW")
    target_object: PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature,
                                   description="The armature to animate: any humanoid rig (its family is detected "
                                               "from the bone names, or chosen under Rig)")
    bone_preset: EnumProperty(name="Rig", description="The target rig's family (its bone names); presets are "
                              "the files in the add-on's presets folder; choosing one clears mapping rows "
                              "made for another", items=_preset_items(), update=_preset_changed)
    mapping_rows: bpy.props.CollectionProperty(type=VIDEO_MOCAP_PG_mapping_row,
                                               description="SMPL joint -> target bones, one row per joint "
                                                           "(filled by Detect Mapping, editable, saved as JSON)")
    mapping_preset: StringProperty(name="Mapping From", description="The preset the rows were filled from")
    root_bone: StringProperty(name="Root Bone", description="The rig's root bone (game-engine root motion: "
                              "horizontal travel on it, the rest on the hips)")
    accept_partial: BoolProperty(name="Accept Partial Mapping", description="Retarget the mapped bones even "
                                 "when some mapped bones are missing from the rig", default=False)
    retarget_scale: EnumProperty(name="Travel", description="How the clip's travel through space is scaled on "
                                 "the rig", items=[
        ("LEG", "Leg Ratio", "Scale root travel by the rig's leg length over the person's"),
        ("METRES", "Metres", "Keep root travel in metres"),
    ], default="LEG")
    root_motion: EnumProperty(name="Root Motion", description="Where the clip's travel through space goes", items=[
        ("BONE", "Pelvis", "Root motion on: translation keyed on the pelvis / hips bone"),
        ("ROOT", "Root Bone", "Game-engine root motion: horizontal travel on the rig's root bone, the rest on "
                              "the hips (existing armatures with a root bone)"),
        ("OBJECT", "Object", "Root motion on: translation keyed on the armature object"),
        ("IN_PLACE", "Off", "Root motion off: in place, keeping only vertical motion"),
    ], default="BONE")
    ground: EnumProperty(name="Feet on Ground", description="How the clip is stood on the floor (Z = 0)", items=[
        ("AUTO", "Auto", "Stand the motion on the floor found from the planted feet (Z up along gravity, the "
                         "camera's tilt taken out); with too few contacts, up from the body's balance, or one "
                         "constant lift"),
        ("PLANE", "Plane", "Use the file's floor (found from the feet, or up from the body's balance), even a "
                           "poorly conditioned plane"),
        ("CONSTANT", "Constant", "Lift the whole clip by one constant so the feet touch Z = 0; up stays the "
                                 "camera's up"),
        ("OFF", "Off", "Keep the camera frame: Z = 0 at the camera, about a camera height above the feet"),
    ], default="AUTO")
    foot_lock: BoolProperty(name="Foot Locking",
                            description="Hold planted feet still (leg IK, eased in and out; the upper body is "
                                        "untouched). Turn off for sliding, skating or dancing on a slippery floor",
                            default=True)
    keep_frame_range: BoolProperty(name="Keep Scene Frame Range",
                                   description="Leave the scene's start and end frames as they are; otherwise "
                                               "the import sets them to the clip's frames",
                                   default=False)
    whole_frames: BoolProperty(name="Keys on Whole Frames",
                               description="When the video's frame rate differs from the scene's, bake one key per "
                                           "whole scene frame (rotations interpolated along the shortest arc); a "
                                           "video frame that falls exactly on a scene frame keeps its exact pose. "
                                           "Otherwise keys sit at the video frames' times, often between frames",
                               default=False)
    match_scene_fps: BoolProperty(name="Set Scene FPS to Video",
                                  description="Change the scene frame rate to the video's, so keys land on whole "
                                              "frames; otherwise keys are placed by time at the scene's rate",
                                  default=False)

    def is_image_sequence(self) -> bool:
        """The chosen path is an image (the first of a sequence) or a folder of images."""
        path = bpy.path.abspath(self.video_path).strip()
        return bool(path) and (os.path.isdir(path) or os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES)

    # The `*_argument` methods give `backend run`'s values (run_options.py names them in its `panel` column).
    def model_argument(self) -> str:
        return self.model or "blazepose"

    def person_argument(self) -> int | None:
        """None = auto (the main person), else the chosen id."""
        return None if self.person_mode == "AUTO" else self.person_id

    def frames_argument(self) -> str | None:
        return f"{self.frame_start}:{self.frame_end}" if self.use_frame_range else None

    def smooth_argument(self) -> float | None:
        return self.smoothing if self.use_smoothing else None

    def fps_argument(self) -> float | None:
        """An image sequence's rate; None for a video file (it carries its own timestamps)."""
        return self.sequence_fps if self.is_image_sequence() else None

    def ground_argument(self) -> str:
        return self.ground.lower()

    def height_argument(self) -> float | None:
        """The person's stature in metres when given, else None (the backend's population prior)."""
        return float(self.height) if self.use_height else None

    def window_argument(self) -> int | None:
        """The chosen window if the model allows it, else the model's default (None: no window)."""
        model = SESSION.catalog.get(self.model)
        if model is None or not model.windows:
            return None
        chosen = int(self.window) if self.window.isdigit() else None
        return chosen if chosen in model.windows else model.default_window


CLASSES = (VIDEO_MOCAP_PG_mapping_row, VIDEO_MOCAP_PG_settings)

#: The rows the panel shows, in SMPL order.
MAPPING_JOINTS = BODY_JOINTS


def register_properties() -> None:
    bpy.types.Scene.video_mocap = PointerProperty(type=VIDEO_MOCAP_PG_settings)


def unregister_properties() -> None:
    del bpy.types.Scene.video_mocap
