"""Putting a checked motion into the scene: armature, action, frame range.

Everything the import changes happens inside `import_motion`, after every check has passed;
the operator calls it in one modal step, so it is one undo step. If anything still fails
half-way, what was created is removed again, so an error never leaves the scene half-changed.

An existing armature is retargeted (`core/rig_retarget.py`): its mapping comes from the panel's
rows, a mapping file, a named preset or the detected one; `check_target` refuses a mapping with
missing bones before the backend starts. The rig's previous action is kept with a fake user
(it would otherwise have no user and be lost on save), and the new action is named after the clip.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import bpy
import numpy as np

from ..backend_client.backend_paths import IMAGE_SUFFIXES
from ..core.motion_data import Motion, detected_span
from ..core.resample import EXACT, resample_channels, resample_rig_channels, whole_frames
from ..core.retarget import (
    compute_bone_channels,
    ground_warning,
    rest_lift,
    smpl_world_motion,
)
from ..core.rig_presets import BoneMapping, MappingError, mapping_for
from ..core.rig_retarget import RetargetProblem, retarget_to_rig
from ..core.smpl import JOINT_NAMES
from ..core.timing import frame_range_for, render_fps_for, scene_frames_for
from .armature_builder import build_smpl_armature
from .keyframe_writer import curves_for_channels, curves_for_rig_channels, write_action
from .rig_reader import (
    apply_switches,
    bone_parents,
    dependency_bones,
    read_rig,
    restore_switches,
    unsupported_constraints,
    vrm_humanoid,
)

TARGETS = ("NEW", "EXISTING")


class ImportProblem(ValueError):
    """The import cannot go ahead (bad target); the message says what to change."""


@dataclass(frozen=True)
class ImportOptions:
    target: str = "NEW"
    target_object: str = ""        # name of an existing armature when target == "EXISTING"
    bone_preset: str = "auto"      # a preset name (addon/presets) or "auto" (detected from the bone names)
    mapping: BoneMapping | None = None  # the panel's rows or a mapping file; overrides bone_preset
    accept_partial: bool = False   # retarget what is mapped even when mapped bones are missing
    scale: str = "LEG"             # root travel scaled by leg-length ratio (LEG) or kept in metres (METRES)
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
    notes: tuple[str, ...] = ()     # what was done to the rig (preset, previous action kept, switches)


def clip_name(video_path: str | None, motion: Motion) -> str:
    """`<source>_<model>`; an image sequence (its first image, or a `%04d` pattern) is named by its folder,
    so `shots/walk/0000.png` gives `walk_blazepose`, not `0000_blazepose`."""
    path = Path(video_path) if video_path else None
    stem = path.stem if path else ""
    if path and path.suffix.lower() in IMAGE_SUFFIXES and path.parent.name:
        stem = path.parent.name
    return f"{stem or 'SMPL'}_{motion.model}"


def _armature(options: ImportOptions) -> bpy.types.Object:
    obj = bpy.data.objects.get(options.target_object) if options.target_object else None
    if obj is None or obj.type != "ARMATURE":
        raise ImportProblem("choose an existing armature as the target, or target a new SMPL armature")
    return obj


def target_mapping(obj: bpy.types.Object, options: ImportOptions) -> BoneMapping:
    """The mapping used for `obj`: the given one, else the preset (or the detected one / a guess)."""
    if options.mapping is not None:
        return options.mapping
    try:
        return mapping_for(list(obj.data.bones.keys()), bone_parents(obj), options.bone_preset or "auto",
                           vrm_humanoid(obj))
    except MappingError as exc:
        raise ImportProblem(str(exc)) from None


def check_target(options: ImportOptions) -> BoneMapping | None:
    """Everything about the target that can be checked before the backend runs (milliseconds):
    the armature exists, its mapping's bones exist (ImportProblem names the missing ones unless a
    partial mapping is accepted), the pelvis is mapped. Returns the mapping (None for a new armature)."""
    if options.target == "NEW":
        if options.root_motion == "ROOT":
            raise ImportProblem("root motion on a root bone needs an existing armature with a root bone; "
                                "the new SMPL armature takes it on the pelvis or the object")
        return None
    if options.target != "EXISTING":
        raise ImportProblem(f"unknown target {options.target!r}")
    obj = _armature(options)
    mapping = target_mapping(obj, options)
    lacking = mapping.missing(obj.data.bones.keys())
    if lacking and not options.accept_partial:
        # A given mapping (the panel's rows, a mapping file) overrides the preset: choosing another
        # preset would not help then.
        fix = ("edit the mapping, detect it again for this armature (or clear it to use the rig preset)"
               if options.mapping is not None else "choose another rig preset, or detect and edit the mapping")
        raise ImportProblem(
            f"armature '{obj.name}' lacks bones of the {mapping.preset} mapping: {', '.join(lacking[:8])}"
            f"{f' and {len(lacking) - 8} more' if len(lacking) > 8 else ''}; {fix}, or accept a partial mapping")
    if lacking:
        mapping = mapping.restricted_to(set(obj.data.bones.keys()))
    if not mapping.joints.get("pelvis"):
        raise ImportProblem(f"armature '{obj.name}': map SMPL's pelvis to the rig's hips bone "
                            "(it carries the body's position)")
    if options.root_motion == "ROOT" and not mapping.root_bone:
        raise ImportProblem(f"armature '{obj.name}' has no root bone in its mapping; root motion on the root "
                            "needs one (set Root Bone), or put it on the hips")
    return mapping


def import_motion(context: bpy.types.Context, motion: Motion, options: ImportOptions) -> ImportResult:
    """Animate a new or existing armature with `motion`; all-or-nothing."""
    mapping = check_target(options)
    if options.start_at_detection:
        motion = detected_span(motion)
    if mapping is not None:
        return _retarget_existing(context, motion, options, _armature(options), mapping)
    bone_names = JOINT_NAMES
    scene = context.scene
    saved_scene = (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end)
    created: list[bpy.types.ID] = []
    try:
        lift = rest_lift(motion.rest_joints)
        armature = build_smpl_armature(context, options.name, motion.rest_joints, lift)
        created += [armature, armature.data]
        bones = armature.data.bones
        rest_rotations = np.array([np.array(bones[name].matrix_local.to_3x3()) for name in bone_names])
        channels = compute_bone_channels(
            motion.poses, motion.transl, motion.rest_joints, rest_rotations, options.root_motion,
            bone_names=bone_names, object_basis=np.array(armature.matrix_world.to_3x3().normalized()),
            ground=options.ground, floor_plane=motion.floor_plane, rest_offset=lift)
        for name in bone_names:
            armature.pose.bones[name].rotation_mode = "QUATERNION"
        frames = _scene_frames(scene, motion, options)
        if options.whole_frames and np.any(np.abs(frames - np.round(frames)) > EXACT):
            targets = whole_frames(frames)
            channels, frames = resample_channels(channels, frames, targets), targets
        action = write_action(armature, f"{options.name}_action", frames, curves_for_channels(channels))
        created.append(action)
        first, last = _set_frame_range(scene, frames, options)
    except Exception:
        for datablock in created:  # objects first, then the data they used
            _remove(datablock)
        scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end = saved_scene
        raise
    warning = ground_warning(options.ground, motion.floor_plane)
    return ImportResult(armature=armature, action=action, frames=frames, frame_range=(first, last),
                        warnings=(warning,) if warning else ())


def _scene_frames(scene: bpy.types.Scene, motion: Motion, options: ImportOptions) -> np.ndarray:
    if options.match_scene_fps:
        scene.render.fps, scene.render.fps_base = render_fps_for(motion.fps)
    scene_fps = scene.render.fps / scene.render.fps_base
    return scene_frames_for(motion.times, scene_fps, first_frame=scene.frame_start)


def _set_frame_range(scene: bpy.types.Scene, frames: np.ndarray, options: ImportOptions) -> tuple[int, int]:
    first, last = frame_range_for(frames)
    if not options.keep_frame_range:
        scene.frame_start, scene.frame_end = first, max(last, first)
        scene.frame_set(first)
    return first, last


def _retarget_existing(context: bpy.types.Context, motion: Motion, options: ImportOptions,
                       obj: bpy.types.Object, mapping: BoneMapping) -> ImportResult:
    """Retarget onto the user's armature; the rig's object transform and other bones are not touched."""
    scene = context.scene
    saved_scene = (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end)
    anim = obj.animation_data
    previous = anim.action if anim is not None else None
    previous_slot = getattr(anim, "action_slot", None) if anim is not None else None
    previous_fake_user = previous.use_fake_user if previous is not None else False
    driven = mapping.mapped_bones()
    rotation_modes = {name: obj.pose.bones[name].rotation_mode for name in driven}
    switches: dict = {}
    action = None
    notes: list[str] = [f"mapping: {mapping.preset}"]
    warnings: list[str] = []
    try:
        switches = apply_switches(obj, mapping.properties)
        if switches:
            obj.update_tag()  # an ID property set from Python does not tag the rig: its drivers would not rerun
            context.view_layer.update()
            notes.append("set " + ", ".join(f"{bone}[{name}]" for bone, name in switches))
        rig = read_rig(obj)
        odd = unsupported_constraints(obj, dependency_bones(rig, driven))
        if odd:
            warnings.append("constraints the retarget does not model may move these bones: "
                            + ", ".join(odd[:6]) + (" ..." if len(odd) > 6 else ""))
        source = smpl_world_motion(motion.poses, motion.transl, motion.rest_joints, options.ground,
                                   motion.floor_plane)
        channels = retarget_to_rig(source, rig, mapping.joints, options.root_motion, mapping.root_bone,
                                   options.scale, sorted(mapping.free_direction))
        if channels.object_location is not None and obj.parent is not None:
            # The maths gives the object's world origin; a parented object's location is in its parent's space.
            to_parent = np.linalg.inv(np.array(obj.parent.matrix_world @ obj.matrix_parent_inverse))
            channels = replace(channels, object_location=channels.object_location @ to_parent[:3, :3].T
                               + to_parent[:3, 3])
        for name in channels.bone_names:
            obj.pose.bones[name].rotation_mode = "QUATERNION"
        frames = _scene_frames(scene, motion, options)
        if options.whole_frames and np.any(np.abs(frames - np.round(frames)) > EXACT):
            targets = whole_frames(frames)
            channels, frames = resample_rig_channels(channels, frames, targets), targets
        if previous is not None:
            previous.use_fake_user = True  # otherwise it has no user once replaced, and is lost on save
            notes.append(f"previous action '{previous.name}' kept (fake user)")
        action = write_action(obj, f"{options.name}_action", frames, curves_for_rig_channels(channels))
        first, last = _set_frame_range(scene, frames, options)
    except Exception as exc:
        if action is not None:
            bpy.data.actions.remove(action)
        if previous is not None:
            previous.use_fake_user = previous_fake_user
            obj.animation_data.action = previous
            if previous_slot is not None:
                obj.animation_data.action_slot = previous_slot
        for name, mode in rotation_modes.items():
            obj.pose.bones[name].rotation_mode = mode
        restore_switches(obj, switches)
        scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end = saved_scene
        if isinstance(exc, RetargetProblem):
            raise ImportProblem(f"armature '{obj.name}': {exc}") from None
        raise
    warning = ground_warning(options.ground, motion.floor_plane)
    if warning:
        warnings.append(warning)
    notes.append(f"root travel x{channels.scale:.3f} ({'leg-length ratio' if options.scale == 'LEG' else 'metres'})")
    return ImportResult(armature=obj, action=action, frames=frames, frame_range=(first, last),
                        warnings=tuple(warnings), notes=tuple(notes))


def _remove(datablock: bpy.types.ID) -> None:
    """Remove one datablock that `import_motion` created."""
    for kind, collection in ((bpy.types.Object, bpy.data.objects), (bpy.types.Armature, bpy.data.armatures),
                             (bpy.types.Action, bpy.data.actions)):
        if isinstance(datablock, kind):
            collection.remove(datablock)
            return
