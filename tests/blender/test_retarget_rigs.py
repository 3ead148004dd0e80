"""Retargeting the real backend output onto real and convention-built rigs, measured in Blender.

For every rig: the SMPL armature (the add-on's own, target "new") and the rig are animated from
the same motion file (the backend's output on samples/single_person_demo.mp4); Blender evaluates
both, and the test compares world-space results: limb directions (median <= 1 deg, max <= 3 deg
over all frames), pelvis/chest/head facing about the limb (<= 3 deg), the lowest foot's 5th
percentile height (0 +- 1 cm) and root travel (SMPL travel x leg-length ratio within 1 %).
Limb directions are head -> next mapped joint's head, or a leaf's limb axis (Y for rigs whose
bones lie along Y, X for UE5), defined here independently of the add-on's code.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType

import bpy
import numpy as np
import pytest
from blender_helpers import key_frames, submodule
from rig_builders import build_rig

MEDIAN_DEG, MAX_DEG, FACING_DEG = 1.0, 3.0, 3.0
FLOOR_TOLERANCE_M = 0.01
TRAVEL_TOLERANCE = 0.01

# (SMPL joint, SMPL joint it points to or None for the bone's own Y, rig bone, rig bone it points to or axis)
Limb = tuple[str, str | None, str, str]


def _sided(rows: list[Limb]) -> list[Limb]:
    out = []
    for row in rows:
        if "{side}" in row[0]:
            for side, short, big in (("left", "L", "Left"), ("right", "R", "Right")):
                out.append(tuple(part.format(side=side, S=short, s=short.lower(), Side=big) if part else part
                                 for part in row))
        else:
            out.append(row)
    return out


def mixamo_limbs(prefix: str) -> list[Limb]:
    p = prefix
    return _sided([
        ("{side}_hip", "{side}_knee", p + "{Side}UpLeg", p + "{Side}Leg"),
        ("{side}_knee", "{side}_ankle", p + "{Side}Leg", p + "{Side}Foot"),
        ("{side}_ankle", "{side}_foot", p + "{Side}Foot", p + "{Side}ToeBase"),
        ("{side}_shoulder", "{side}_elbow", p + "{Side}Arm", p + "{Side}ForeArm"),
        ("{side}_elbow", "{side}_wrist", p + "{Side}ForeArm", p + "{Side}Hand"),
        ("{side}_wrist", None, p + "{Side}Hand", "Y"),
        ("spine1", "spine2", p + "Spine", p + "Spine1"), ("spine2", "spine3", p + "Spine1", p + "Spine2"),
        ("spine3", "neck", p + "Spine2", p + "Neck"), ("neck", "head", p + "Neck", p + "Head"),
    ])


UE5_LIMBS: list[Limb] = _sided([
    ("{side}_hip", "{side}_knee", "thigh_{s}", "calf_{s}"), ("{side}_knee", "{side}_ankle", "calf_{s}", "foot_{s}"),
    ("{side}_ankle", "{side}_foot", "foot_{s}", "ball_{s}"),
    ("{side}_shoulder", "{side}_elbow", "upperarm_{s}", "lowerarm_{s}"),
    ("{side}_elbow", "{side}_wrist", "lowerarm_{s}", "hand_{s}"), ("{side}_wrist", None, "hand_{s}", "X"),
    ("spine1", "spine2", "spine_02", "spine_03"), ("spine2", "spine3", "spine_03", "spine_04"),
    ("spine3", "neck", "spine_05", "neck_01"), ("neck", "head", "neck_02", "head"),
])
VROID_LIMBS: list[Limb] = _sided([
    ("{side}_hip", "{side}_knee", "J_Bip_{S}_UpperLeg", "J_Bip_{S}_LowerLeg"),
    ("{side}_knee", "{side}_ankle", "J_Bip_{S}_LowerLeg", "J_Bip_{S}_Foot"),
    ("{side}_ankle", "{side}_foot", "J_Bip_{S}_Foot", "J_Bip_{S}_ToeBase"),
    ("{side}_shoulder", "{side}_elbow", "J_Bip_{S}_UpperArm", "J_Bip_{S}_LowerArm"),
    ("{side}_elbow", "{side}_wrist", "J_Bip_{S}_LowerArm", "J_Bip_{S}_Hand"),
    ("{side}_wrist", None, "J_Bip_{S}_Hand", "Y"),
    ("spine1", "spine2", "J_Bip_C_Spine", "J_Bip_C_Chest"), ("spine2", "spine3", "J_Bip_C_Chest", "J_Bip_C_UpperChest"),
    ("spine3", "neck", "J_Bip_C_UpperChest", "J_Bip_C_Neck"), ("neck", "head", "J_Bip_C_Neck", "J_Bip_C_Head"),
])
METARIG_LIMBS: list[Limb] = _sided([
    ("{side}_hip", "{side}_knee", "thigh.{S}", "shin.{S}"), ("{side}_knee", "{side}_ankle", "shin.{S}", "foot.{S}"),
    ("{side}_ankle", "{side}_foot", "foot.{S}", "toe.{S}"),
    ("{side}_shoulder", "{side}_elbow", "upper_arm.{S}", "forearm.{S}"),
    ("{side}_elbow", "{side}_wrist", "forearm.{S}", "hand.{S}"), ("{side}_wrist", None, "hand.{S}", "Y"),
    ("spine1", "spine2", "spine.001", "spine.002"), ("spine2", "spine3", "spine.002", "spine.003"),
    ("spine3", "neck", "spine.003", "spine.004"), ("neck", "head", "spine.005", "spine.006"),
])
GENERATED_LIMBS: list[Limb] = _sided([
    ("{side}_hip", "{side}_knee", "thigh_fk.{S}", "shin_fk.{S}"),
    ("{side}_knee", "{side}_ankle", "shin_fk.{S}", "foot_fk.{S}"),
    ("{side}_ankle", "{side}_foot", "foot_fk.{S}", "toe_fk.{S}"),
    ("{side}_shoulder", "{side}_elbow", "upper_arm_fk.{S}", "forearm_fk.{S}"),
    ("{side}_elbow", "{side}_wrist", "forearm_fk.{S}", "hand_fk.{S}"), ("{side}_wrist", None, "hand_fk.{S}", "Y"),
    # the deform skeleton follows the FK controls through Rigify's own constraints:
    ("{side}_hip", "{side}_knee", "DEF-thigh.{S}", "DEF-shin.{S}"),
    ("{side}_elbow", "{side}_wrist", "DEF-forearm.{S}", "DEF-hand.{S}"),
    ("spine2", "spine3", "spine_fk.002", "spine_fk.003"), ("spine3", "neck", "spine_fk.003", "neck"),
    ("neck", "head", "neck", "head"),
])


def facing(limbs: list[Limb], pelvis: tuple[str, str, str, str]) -> list[Limb]:
    """Pelvis (given), chest (the spine3 limb) and head (the neck limb's end bone, its own axis)."""
    chest = next(row for row in limbs if row[0] == "spine3")
    neck = next(row for row in limbs if row[0] == "neck")
    head_axis = "X" if any(row[3] == "X" for row in limbs) else "Y"
    return [pelvis, chest, ("head", None, neck[3], head_axis)]


RIGS = {
    # name: (builder kwargs or None for Rigify, limbs, pelvis facing row, foot bones, hips bone, leg bones)
    "mixamo_t_m": (dict(family="mixamo"), mixamo_limbs("mixamorig:")),
    "mixamo_t_cm": (dict(family="mixamo", centimetres=True, location=(1.5, -2.0, 0.0), yaw_deg=35.0),
                    mixamo_limbs("mixamorig:")),
    "mixamo_a45_m": (dict(family="mixamo", a_pose_deg=45.0), mixamo_limbs("mixamorig:")),
    "mixamo_a45_cm_hips_origin": (dict(family="mixamo", a_pose_deg=45.0, centimetres=True, origin_at_hips=True),
                                  mixamo_limbs("mixamorig:")),
    "mixamo_fbx_y_up_cm": (dict(family="mixamo", centimetres=True, y_up=True, yaw_deg=-30.0),
                           mixamo_limbs("mixamorig:")),
    "ue5_m": (dict(family="ue5"), UE5_LIMBS),
    "ue5_fbx_y_up_cm": (dict(family="ue5", centimetres=True, y_up=True), UE5_LIMBS),
    "ue5_cm": (dict(family="ue5", centimetres=True, yaw_deg=-90.0), UE5_LIMBS),
    "vroid_m": (dict(family="vroid", origin_at_hips=True), VROID_LIMBS),
    "vroid_cm": (dict(family="vroid", centimetres=True), VROID_LIMBS),
}
PELVIS = {
    "mixamo": ("pelvis", "spine1", "mixamorig:Hips", "mixamorig:Spine"),
    "ue5": ("pelvis", "spine1", "pelvis", "spine_01"),
    "vroid": ("pelvis", "spine1", "J_Bip_C_Hips", "J_Bip_C_Spine"),
    "metarig": ("pelvis", "spine1", "spine", "spine.001"),
    "generated": ("pelvis", "spine2", "torso", "spine_fk.002"),
}
FEET = {
    "mixamo": ["mixamorig:LeftFoot", "mixamorig:RightFoot", "mixamorig:LeftToeBase", "mixamorig:RightToeBase"],
    "ue5": ["foot_l", "foot_r", "ball_l", "ball_r"],
    "vroid": ["J_Bip_L_Foot", "J_Bip_R_Foot", "J_Bip_L_ToeBase", "J_Bip_R_ToeBase"],
    "metarig": ["foot.L", "foot.R", "toe.L", "toe.R"],
    "generated": ["foot_fk.L", "foot_fk.R", "toe_fk.L", "toe_fk.R"],
}
LEGS = {  # hip, knee, ankle bones (left) whose rest heads give the leg length
    "mixamo": ["mixamorig:LeftUpLeg", "mixamorig:LeftLeg", "mixamorig:LeftFoot"],
    "ue5": ["thigh_l", "calf_l", "foot_l"], "vroid": ["J_Bip_L_UpperLeg", "J_Bip_L_LowerLeg", "J_Bip_L_Foot"],
    "metarig": ["thigh.L", "shin.L", "foot.L"], "generated": ["thigh_fk.L", "shin_fk.L", "foot_fk.L"],
}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(_unit(a) * _unit(b), axis=-1), -1.0, 1.0)))


def _rot(matrix: object) -> np.ndarray:
    m = np.array(matrix)[:3, :3]
    return m / np.linalg.norm(m, axis=0, keepdims=True)


class Sampler:
    """World heads and rotations of chosen pose bones at each frame (one frame_set per frame)."""

    def __init__(self, frames: np.ndarray, wanted: dict[bpy.types.Object, set[str]]) -> None:
        scene = bpy.context.scene
        self.heads: dict[tuple[str, str], list[np.ndarray]] = {}
        self.rots: dict[tuple[str, str], list[np.ndarray]] = {}
        for frame in frames:
            whole = int(np.floor(frame + 1e-6))
            scene.frame_set(whole, subframe=max(0.0, float(frame) - whole))
            for obj, bones in wanted.items():
                world = obj.matrix_world
                for bone in bones:
                    matrix = world @ obj.pose.bones[bone].matrix
                    self.heads.setdefault((obj.name, bone), []).append(np.array(matrix.translation))
                    self.rots.setdefault((obj.name, bone), []).append(_rot(matrix))

    def head(self, obj: bpy.types.Object, bone: str) -> np.ndarray:
        return np.array(self.heads[(obj.name, bone)])

    def rot(self, obj: bpy.types.Object, bone: str) -> np.ndarray:
        return np.array(self.rots[(obj.name, bone)])


def limb_vector(sampler: Sampler, obj: bpy.types.Object, bone: str, towards: str | None) -> np.ndarray:
    if towards in (None, "X", "Y", "Z"):
        column = {"X": 0, "Y": 1, "Z": 2}[towards or "Y"]
        return sampler.rot(obj, bone)[:, :, column]
    return sampler.head(obj, towards) - sampler.head(obj, bone)


def rest_world(obj: bpy.types.Object, bone: str) -> tuple[np.ndarray, np.ndarray]:
    matrix = obj.matrix_world @ obj.data.bones[bone].matrix_local
    return np.array(matrix.translation), _rot(matrix)


def import_onto(ext: ModuleType, path: Path, target: bpy.types.Object | None, **settings: object) -> bpy.types.Object:
    scene_settings = bpy.context.scene.video_mocap
    scene_settings.target = "NEW" if target is None else "EXISTING"
    if target is not None:
        scene_settings.target_object = target
    for key, value in settings.items():
        setattr(scene_settings, key, value)
    assert bpy.ops.video_mocap.import_motion_file(filepath=str(path)) == {"FINISHED"}
    return bpy.context.view_layer.objects.active if target is None else target


def measure(ext: ModuleType, motion: Path, rig: bpy.types.Object, family: str, limbs: list[Limb],
            **settings: object) -> dict[str, float]:
    """Import onto the SMPL armature and onto `rig`; return the figures the issue asks for."""
    smpl_rig = import_onto(ext, motion, None)
    leg = LEGS[family]
    rig_leg = sum(np.linalg.norm(rest_world(rig, b)[0] - rest_world(rig, a)[0]) for a, b in zip(leg, leg[1:]))
    smpl_leg = sum(np.linalg.norm(rest_world(smpl_rig, b)[0] - rest_world(smpl_rig, a)[0])
                   for a, b in zip(["left_hip", "left_knee"], ["left_knee", "left_ankle"]))
    import_onto(ext, motion, rig, **settings)
    face = facing(limbs, PELVIS[family])
    wanted_rig = {bone for row in limbs + face for bone in (row[2], row[3]) if bone not in ("X", "Y", "Z")}
    wanted_rig |= set(FEET[family]) | {PELVIS[family][2]}
    frames = key_frames(motion)
    sampler = Sampler(frames, {smpl_rig: {b.name for b in smpl_rig.data.bones}, rig: wanted_rig})

    def smpl_vector(joint: str, towards: str | None) -> np.ndarray:
        return limb_vector(sampler, smpl_rig, joint, towards if towards else "Y")

    per_limb = {bone: _angle(limb_vector(sampler, rig, bone, to), smpl_vector(joint, sto))
                for joint, sto, bone, to in limbs}
    errors = np.concatenate(list(per_limb.values()))
    worst = max(per_limb, key=lambda bone: per_limb[bone].max())
    facing_errors = []
    # the built rigs say where they face; Rigify's face -Y of their object
    rig_front = np.array(rig["test_front_world"]) if "test_front_world" in rig else \
        _rot(rig.matrix_world) @ np.array([0.0, -1.0, 0.0])
    for joint, sto, bone, _to in face:
        direction = _unit(smpl_vector(joint, sto))
        front = []
        for obj, name, rest_front in ((rig, bone, rig_front), (smpl_rig, joint, np.array([0.0, -1.0, 0.0]))):
            delta = sampler.rot(obj, name) @ rest_world(obj, name)[1].T
            vector = delta @ rest_front
            front.append(vector - np.sum(vector * direction, axis=-1, keepdims=True) * direction)
        facing_errors.append(_angle(front[0], front[1]))
    print("worst limb:", worst, round(float(per_limb[worst].max()), 3), "facing:",
          [round(float(e.max()), 2) for e in facing_errors],
          {bone: round(float(np.median(e)), 2) for bone, e in per_limb.items()})
    feet = np.stack([sampler.head(rig, bone)[:, 2] for bone in FEET[family]], axis=1)
    ratio = rig_leg / smpl_leg
    hips = sampler.head(rig, PELVIS[family][2])
    smpl_pelvis = sampler.head(smpl_rig, "pelvis")
    travel_rig = (hips - hips[0])[:, :2]
    travel_smpl = ratio * (smpl_pelvis - smpl_pelvis[0])[:, :2]
    travel_scale = max(float(np.linalg.norm(travel_smpl, axis=1).max()), 1e-6)
    return {
        "frames": len(frames),
        "median_deg": float(np.median(errors)), "max_deg": float(errors.max()),
        "facing_max_deg": float(np.max(np.concatenate(facing_errors))),
        "foot_p5_m": float(np.percentile(feet.min(axis=1), 5)),
        "travel_err": float(np.linalg.norm(travel_rig - travel_smpl, axis=1).max() / travel_scale),
        "travel_m": travel_scale, "ratio": ratio,
    }


def check(rig: str, figures: dict[str, float]) -> None:
    print(f"FIGURES {rig}:", {key: round(value, 4) for key, value in figures.items()})  # they go into the note
    assert figures["median_deg"] <= MEDIAN_DEG and figures["max_deg"] <= MAX_DEG, figures
    assert figures["facing_max_deg"] <= FACING_DEG, figures
    assert abs(figures["foot_p5_m"]) <= FLOOR_TOLERANCE_M, figures
    assert figures["travel_err"] <= TRAVEL_TOLERANCE, figures


@pytest.mark.parametrize("rig_name", list(RIGS))
def test_built_rigs(clean_scene: ModuleType, real_motion_file: Path, rig_name: str) -> None:
    kwargs, limbs = RIGS[rig_name]
    rig = build_rig(name=rig_name, **kwargs)
    transform = rig.matrix_world.copy()
    check(rig_name, measure(clean_scene, real_motion_file, rig, kwargs["family"], limbs))
    assert rig.matrix_world == transform


@pytest.mark.parametrize(("family", "rig_name", "limbs"), [("metarig", "metarig", METARIG_LIMBS),
                                                           ("generated", "rig", GENERATED_LIMBS)])
def test_rigify(ext: ModuleType, rigify_file: Path, real_motion_file: Path, family: str, rig_name: str,
                limbs: list[Limb]) -> None:
    bpy.ops.wm.open_mainfile(filepath=str(rigify_file))
    rig = bpy.data.objects[rig_name]
    check(f"rigify_{family}", measure(ext, real_motion_file, rig, family, limbs))
    if family == "generated":  # the switches were set to FK
        assert rig.pose.bones["upper_arm_parent.L"]["IK_FK"] == 1.0


def test_preset_detection(ext: ModuleType, clean_scene: ModuleType) -> None:
    presets = submodule(ext, "core.rig_presets")
    for family, preset in (("mixamo", "mixamo"), ("ue5", "ue5_manny"), ("vroid", "vroid")):
        rig = build_rig(family, f"detect_{family}")
        assert presets.find_preset(list(rig.data.bones.keys())).name == preset
    names = ["mixamorig12:" + n for n in presets.presets()["mixamo"].required_bones()]
    mapping = presets.mapping_for(names, {}, "auto")
    assert mapping.preset == "mixamo" and mapping.joints["left_hip"] == ("mixamorig12:LeftUpLeg",)


def test_rig_left_as_it_was(clean_scene: ModuleType, real_motion_file: Path) -> None:
    """Other bones, the previous action and the object transform are unchanged; two imports, two actions."""
    rig = build_rig("ue5", "keep", centimetres=True)
    extra = rig.data.bones  # an unmapped bone with a pose of its own
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    prop = rig.data.edit_bones.new("prop_r")
    prop.head, prop.tail, prop.parent = (30, 0, 100), (30, 0, 120), rig.data.edit_bones["hand_r"]
    bpy.ops.object.mode_set(mode="OBJECT")
    rig.pose.bones["prop_r"].location = (1.0, 2.0, 3.0)
    rig.pose.bones["root"].keyframe_insert("location", frame=1)
    previous = rig.animation_data.action
    previous_keys = len(submodule(clean_scene, "blender.keyframe_writer").action_fcurves(previous))
    transform = rig.matrix_world.copy()
    import_onto(clean_scene, real_motion_file, rig)
    first = rig.animation_data.action
    import_onto(clean_scene, real_motion_file, rig)
    second = rig.animation_data.action
    assert first != second and previous != first
    for action in (previous, first, second):
        assert action.name in bpy.data.actions
    assert previous.use_fake_user and first.use_fake_user
    assert len(submodule(clean_scene, "blender.keyframe_writer").action_fcurves(previous)) == previous_keys
    assert tuple(rig.pose.bones["prop_r"].location) == (1.0, 2.0, 3.0)
    paths = {fc.data_path for fc in submodule(clean_scene, "blender.keyframe_writer").action_fcurves(second)}
    assert not any("prop_r" in path for path in paths)
    assert rig.matrix_world == transform and len(extra) == len(rig.data.bones)


def test_missing_bones_refused_before_the_backend(clean_scene: ModuleType, tmp_path: Path) -> None:
    rig = build_rig("mixamo", "broken")
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    for name in ("mixamorig:LeftForeArm", "mixamorig:LeftHand"):
        rig.data.edit_bones.remove(rig.data.edit_bones[name])
    bpy.ops.object.mode_set(mode="OBJECT")
    settings = bpy.context.scene.video_mocap
    settings.target, settings.target_object, settings.bone_preset = "EXISTING", rig, "mixamo"
    settings.video_path = str(tmp_path / "never_read.mp4")
    operators = submodule(clean_scene, "ui.operators")
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="LeftForeArm"):  # background Blender raises the operator's error
        bpy.ops.video_mocap.import_video()
    elapsed = time.perf_counter() - started
    print(f"refused in {elapsed * 1000:.1f} ms")
    assert operators.SESSION.imports.job is None  # no backend was started
    assert elapsed < 1.0
    message = operators.SESSION.imports.message
    assert "mixamorig:LeftForeArm" in message and "mixamorig:LeftHand" in message


def test_partial_mapping_accepted_explicitly(clean_scene: ModuleType, real_motion_file: Path) -> None:
    rig = build_rig("mixamo", "partial")
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    rig.data.edit_bones.remove(rig.data.edit_bones["mixamorig:LeftHand"])
    bpy.ops.object.mode_set(mode="OBJECT")
    settings = bpy.context.scene.video_mocap
    settings.target, settings.target_object = "EXISTING", rig
    with pytest.raises(RuntimeError, match="LeftHand"):
        bpy.ops.video_mocap.import_motion_file(filepath=str(real_motion_file))
    settings.accept_partial = True
    assert bpy.ops.video_mocap.import_motion_file(filepath=str(real_motion_file)) == {"FINISHED"}
    paths = {fc.data_path for fc in submodule(clean_scene, "blender.keyframe_writer").action_fcurves(
        rig.animation_data.action)}
    assert any("LeftForeArm" in path for path in paths)


def test_mapping_rows_and_file(clean_scene: ModuleType, tmp_path: Path) -> None:
    """Detect fills one row per joint; a saved mapping loads back; an edited row to a missing bone is refused."""
    rig = build_rig("vroid", "rows")
    settings = bpy.context.scene.video_mocap
    settings.target, settings.target_object, settings.bone_preset = "EXISTING", rig, "auto"
    assert bpy.ops.video_mocap.detect_mapping() == {"FINISHED"}
    rows = {row.joint: row.bones for row in settings.mapping_rows}
    assert rows["left_hip"] == "J_Bip_L_UpperLeg" and settings.mapping_preset == "vroid"
    path = tmp_path / "vroid_mapping.json"
    assert bpy.ops.video_mocap.save_mapping(filepath=str(path)) == {"FINISHED"}
    settings.mapping_rows.clear()
    assert bpy.ops.video_mocap.load_mapping(filepath=str(path)) == {"FINISHED"}
    assert {row.joint: row.bones for row in settings.mapping_rows} == rows
    next(row for row in settings.mapping_rows if row.joint == "head").bones = "NoSuchHead"
    scene_import = submodule(clean_scene, "blender.scene_import")
    operators = submodule(clean_scene, "ui.operators")
    with pytest.raises(scene_import.ImportProblem, match="NoSuchHead"):
        scene_import.check_target(operators.import_options_from(bpy.context, None, ""))


def test_root_motion_on_the_root_bone(clean_scene: ModuleType, real_motion_file: Path) -> None:
    """Game-engine root motion: the root bone carries the horizontal travel at Z = 0, the hips the rest."""
    rig = build_rig("ue5", "rooted", centimetres=True)
    import_onto(clean_scene, real_motion_file, rig, root_motion="ROOT")
    sampler = Sampler(key_frames(real_motion_file), {rig: {"root", "pelvis"}})
    root, hips = sampler.head(rig, "root"), sampler.head(rig, "pelvis")
    assert np.abs(root[:, 2]).max() < 1e-6
    np.testing.assert_allclose(root[:, :2] - root[0, :2], hips[:, :2] - hips[0, :2], atol=1e-5)
    assert np.linalg.norm(root[-1, :2] - root[0, :2]) > 0.05


def test_smpl_armature_stands_on_the_floor(clean_scene: ModuleType, real_motion_file: Path) -> None:
    obj = import_onto(clean_scene, real_motion_file, None)
    heads = {bone.name: np.array(obj.matrix_world @ bone.head_local) for bone in obj.data.bones}
    lowest = min(heads[name][2] for name in ("left_ankle", "right_ankle", "left_foot", "right_foot"))
    assert abs(lowest) < 1e-5 and tuple(obj.location) == (0.0, 0.0, 0.0)


def test_whole_frames_on_a_rig(clean_scene: ModuleType, real_motion_file: Path) -> None:
    """Keys on Whole Frames retargets too: a clip in a scene at 0.8 x its rate (30 fps in 24) gets one key
    per whole frame, and where a source pose lands on a whole frame it keeps the values keyed by time."""
    rig = build_rig("mixamo", "whole", centimetres=True)
    with np.load(real_motion_file) as data:
        clip_fps = float(data["fps"])
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = round(clip_fps * 0.8 * 1000), 1000.0
    writer = submodule(clean_scene, "blender.keyframe_writer")

    def keys(whole: bool) -> dict[tuple[str, int], np.ndarray]:
        import_onto(clean_scene, real_motion_file, rig, whole_frames=whole, match_scene_fps=False)
        out = {}
        for fcurve in writer.action_fcurves(rig.animation_data.action):
            co = np.empty(2 * len(fcurve.keyframe_points))
            fcurve.keyframe_points.foreach_get("co", co)
            out[(fcurve.data_path, fcurve.array_index)] = co.reshape(-1, 2)
        return out

    by_time, whole = keys(False), keys(True)
    assert sorted(by_time) == sorted(whole)
    sub = next(iter(by_time.values()))[:, 0]
    assert np.any(np.abs(sub - np.round(sub)) > 1e-3)  # the test is about a clip that lands on sub-frames
    for channel, co in whole.items():
        np.testing.assert_array_equal(co[:, 0], np.arange(np.ceil(sub[0] - 1e-4), np.floor(sub[-1] + 1e-4) + 1))
        on_frame = np.abs(by_time[channel][:, 0] - np.round(by_time[channel][:, 0])) < 1e-4
        assert on_frame.sum() >= 5
        index = np.round(by_time[channel][on_frame, 0]).astype(int) - int(co[0, 0])
        np.testing.assert_allclose(co[index, 1], by_time[channel][on_frame, 1], atol=1e-5, err_msg=str(channel))


def test_panel_draws_the_mapping_rows(clean_scene: ModuleType) -> None:
    """The panel's mapping box draws (also with a row naming a missing bone): one editable row per SMPL
    joint, the file buttons, root bone, partial mapping and travel. Choosing another Rig preset clears
    rows made from a different one (they override the preset)."""
    from test_ui_and_helpers import draw_panel

    rig = build_rig("mixamo", "drawn", a_pose_deg=45.0)
    settings = bpy.context.scene.video_mocap
    settings.target, settings.target_object, settings.bone_preset = "EXISTING", rig, "auto"
    before = draw_panel(clean_scene)
    assert "video_mocap.detect_mapping" in before["operators"] and "bones" not in before["props"]
    assert bpy.ops.video_mocap.detect_mapping() == {"FINISHED"}
    next(row for row in settings.mapping_rows if row.joint == "left_wrist").bones = "NoSuchHand"
    log = draw_panel(clean_scene)
    assert log["props"].count("bones") == len(settings.mapping_rows) >= 22
    files = {"video_mocap.save_mapping", "video_mocap.load_mapping", "video_mocap.clear_mapping"}
    assert files <= set(log["operators"])
    assert "Mapping (mixamo)" in log["labels"] and "left_wrist" in log["labels"]
    assert {"accept_partial", "retarget_scale", "root_bone"} <= set(log["props"])
    settings.bone_preset = "mixamo"  # the preset the rows came from: they stay
    assert len(settings.mapping_rows) >= 22
    settings.bone_preset = "ue5_manny"  # another preset: rows made from mixamo would silently win, so they go
    assert len(settings.mapping_rows) == 0 and settings.mapping_preset == ""


@pytest.mark.parametrize("root_motion", ["OBJECT", "BONE"])
def test_rig_parented_to_a_transformed_empty(clean_scene: ModuleType, real_motion_file: Path, root_motion: str) -> None:
    """A rig under a moved, turned, scaled parent (as some FBX files arrive): directions, floor and travel hold
    with root motion on the object too (its location is in the parent's space: it was 70 % off)."""
    rig = build_rig("mixamo", f"child_{root_motion}", centimetres=True)
    holder = bpy.data.objects.new("holder", None)
    bpy.context.scene.collection.objects.link(holder)
    holder.location, holder.rotation_euler, holder.scale = (2.0, 1.0, 0.3), (0.0, 0.0, 0.7), (0.5, 0.5, 0.5)
    bpy.context.view_layer.update()
    world = rig.matrix_world.copy()
    rig.parent = holder
    rig.matrix_world = world
    bpy.context.view_layer.update()
    check(f"mixamo_parented_{root_motion.lower()}", measure(clean_scene, real_motion_file, rig, "mixamo",
                                                            mixamo_limbs("mixamorig:"), root_motion=root_motion))
    assert rig.parent == holder
