"""Putting a checked motion into the scene: armature, action, frame range.

Everything the import changes happens inside `import_motion`, after every check has passed;
the operator calls it in one modal step, so it is one undo step. If anything still fails
half-way, what was created is removed again, so an error never leaves the scene half-changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..backend_client.backend_paths import IMAGE_SUFFIXES
from ..core.motion_data import Motion, detected_span
from ..core.resample import EXACT, resample_channels, whole_frames
from ..core.retarget import compute_bone_channels, ground_warning, missing_bones, target_bone_names
from ..core.timing import frame_range_for, render_fps_for, scene_frames_for
from .armature_builder import build_smpl_armature
from .keyframe_writer import curves_for_channels, write_action

TARGETS = ("NEW", "EXISTING")


class ImportProblem(ValueError):
    """The import cannot go ahead (bad target); the message says what to change."""


@dataclass(frozen=True)
class ImportOptions:
    target: str = "NEW"
    target_object: str = ""        # name of an existing armature when target == "EXISTING"
    bone_preset: str = "SMPL"
    root_motion: str = "BONE"
    ground: str = "AUTO"  # retarget.GROUND_MODES: the floor plane when the file has one, else one lift
    start_at_detection: bool = True  # key only the rows from the first to the last detection
    match_scene_fps: bool = False
    keep_frame_range: bool = False  # leave the scene's start/end (and current frame) as they are
    whole_frames: bool = False  # bake the keys onto whole scene frames when the rates differ
    name: str = "SMPL"


@dataclass(frozen=True)
class ImportResult:
    armature: bpy.types.Object
    action: bpy.types.Action
    frames: np.ndarray
    frame_range: tuple[int, int]
    warnings: tuple[str, ...] = ()


def clip_name(video_path: str | None, motion: Motion) -> str:
    """`<source>_<model>`; an image sequence (its first image, or a `%04d` pattern) is named by its folder,
    so `shots/walk/0000.png` gives `walk_blazepose`, not `0000_blazepose`."""
    path = Path(video_path) if video_path else None
    stem = path.stem if path else ""
    if path and path.suffix.lower() in IMAGE_SUFFIXES and path.parent.name:
        stem = path.parent.name
    return f"{stem or 'SMPL'}_{motion.model}"


def check_target(target: str, target_object: str, bone_preset: str) -> None:
    """Raise ImportProblem when an EXISTING target is not an armature with the preset's bones.

    The operator calls this before it starts the backend, so a wrong rig is reported at once instead of
    after a whole run; `import_motion` calls it again (the scene may have changed meanwhile)."""
    if target == "EXISTING":
        _existing_target(target_object, bone_preset)


def _existing_target(target_object: str, bone_preset: str) -> bpy.types.Object:
    obj = bpy.data.objects.get(target_object) if target_object else None
    if obj is None or obj.type != "ARMATURE":
        raise ImportProblem("choose an existing armature as the target, or target a new SMPL armature")
    lacking = missing_bones(bone_preset, set(obj.data.bones.keys()))
    if lacking:
        raise ImportProblem(f"armature '{obj.name}' lacks the {bone_preset} bones {', '.join(lacking[:6])}"
                            f"{' ...' if len(lacking) > 6 else ''}; choose another target or bone preset")
    return obj


def import_motion(context: bpy.types.Context, motion: Motion, options: ImportOptions) -> ImportResult:
    """Animate a new or existing armature with `motion`; all-or-nothing."""
    if options.target not in TARGETS:
        raise ImportProblem(f"unknown target {options.target!r}")
    existing = (_existing_target(options.target_object, options.bone_preset)
                if options.target == "EXISTING" else None)
    if options.start_at_detection:
        motion = detected_span(motion)
    bone_names = target_bone_names(options.bone_preset)
    scene = context.scene
    saved_scene = (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end)
    created: list[bpy.types.ID] = []
    try:
        if existing is None:
            armature = build_smpl_armature(context, options.name, motion.rest_joints)
            created += [armature, armature.data]
        else:
            armature = existing
        bones = armature.data.bones
        rest_rotations = np.array([np.array(bones[name].matrix_local.to_3x3()) for name in bone_names])
        channels = compute_bone_channels(
            motion.poses, motion.transl, motion.rest_joints, rest_rotations, options.root_motion,
            bone_names=bone_names, object_basis=np.array(armature.matrix_world.to_3x3().normalized()),
            object_origin=np.array(armature.matrix_world.translation) if existing is not None else None,
            ground=options.ground, floor_plane=motion.floor_plane)
        for name in bone_names:
            armature.pose.bones[name].rotation_mode = "QUATERNION"
        if options.match_scene_fps:
            scene.render.fps, scene.render.fps_base = render_fps_for(motion.fps)
        scene_fps = scene.render.fps / scene.render.fps_base
        frames = scene_frames_for(motion.times, scene_fps, first_frame=scene.frame_start)
        if options.whole_frames and np.any(np.abs(frames - np.round(frames)) > EXACT):
            targets = whole_frames(frames)
            channels, frames = resample_channels(channels, frames, targets), targets
        action = write_action(armature, f"{options.name}_action", frames, curves_for_channels(channels))
        created.append(action)
        first, last = frame_range_for(frames)
        if not options.keep_frame_range:
            scene.frame_start, scene.frame_end = first, max(last, first)
            scene.frame_set(first)
    except Exception:
        for datablock in created:  # objects first, then the data they used
            _remove(datablock)
        scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end = saved_scene
        raise
    warning = ground_warning(options.ground, motion.floor_plane)
    return ImportResult(armature=armature, action=action, frames=frames, frame_range=(first, last),
                        warnings=(warning,) if warning else ())


def _remove(datablock: bpy.types.ID) -> None:
    """Remove one datablock that `import_motion` created."""
    for kind, collection in ((bpy.types.Object, bpy.data.objects), (bpy.types.Armature, bpy.data.armatures),
                             (bpy.types.Action, bpy.data.actions)):
        if isinstance(datablock, kind):
            collection.remove(datablock)
            return
