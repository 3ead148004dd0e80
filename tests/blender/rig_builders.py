"""Target rigs built from each family's published bone names and conventions (not from SMPL's skeleton).

Joint positions are one generic adult (1.8 m) written here, in a T-pose facing -Y, feet at Z = 0;
the A-pose variant turns each arm 45 degrees down about its shoulder. Conventions:
- Mixamo: bones named `mixamorig:<Name>`, Y along each bone (head -> child), arbitrary rolls;
- UE5 Manny: root, pelvis, spine_01..05, neck_01/02, ..._l/_r, X along each bone (the Blender bone's
  Y, head -> tail, is perpendicular to the limb, as an FBX import without automatic bone
  orientation gives);
- VRoid: J_Bip_* names, Y along each bone.
Each builder can put the rig in centimetres with object scale 0.01 (how FBX imports arrive), give
it any object location / rotation, and put its origin at the hips instead of the floor.
"""

from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Matrix, Vector

#: name -> (x, y, z) metres, the character's left on +X, facing -Y.
JOINTS: dict[str, tuple[float, float, float]] = {
    "hips": (0.0, 0.01, 0.98), "spine_a": (0.0, 0.0, 1.07), "spine_b": (0.0, -0.005, 1.17),
    "spine_c": (0.0, -0.005, 1.28), "spine_d": (0.0, 0.0, 1.36), "spine_e": (0.0, 0.005, 1.43),
    "neck": (0.0, 0.015, 1.52), "neck_mid": (0.0, 0.01, 1.57), "head": (0.0, 0.0, 1.62),
    "head_top": (0.0, 0.0, 1.80),
    "collar": (0.03, 0.0, 1.45), "shoulder": (0.18, 0.02, 1.46), "elbow": (0.46, 0.03, 1.46),
    "wrist": (0.72, 0.01, 1.46), "hand_tip": (0.81, 0.0, 1.455),
    "hip": (0.09, 0.01, 0.93), "knee": (0.095, -0.005, 0.50), "ankle": (0.10, 0.03, 0.08),
    "ball": (0.10, -0.10, 0.02), "toe_tip": (0.10, -0.18, 0.02),
}
ARM = ("shoulder", "elbow", "wrist", "hand_tip")


def joint_positions(a_pose_deg: float = 0.0) -> dict[str, np.ndarray]:
    """Left and right joints (suffix _L/_R for the sided ones); arms turned down by `a_pose_deg`."""
    out: dict[str, np.ndarray] = {}
    angle = math.radians(a_pose_deg)
    for name, point in JOINTS.items():
        p = np.array(point, dtype=float)
        if p[0] == 0.0 and name not in ("collar",):
            out[name] = p
            continue
        for side, sign in (("L", 1.0), ("R", -1.0)):
            q = p.copy()
            if name in ARM[1:] and angle:
                pivot = np.array(JOINTS["shoulder"])
                d = q - pivot
                # about the front axis, arm down: x' = x cos - z sin, z' = x sin + z cos with z' < z.
                d = np.array([d[0] * math.cos(angle) + d[2] * math.sin(angle), d[1],
                              -d[0] * math.sin(angle) + d[2] * math.cos(angle)])
                q = pivot + d
            q[0] *= sign
            out[f"{name}_{side}"] = q
    return out


#: (bone, head joint, tail joint, parent); "{S}"/"{s}" are the side markers of the family.
MIXAMO = [
    ("Hips", "hips", "spine_a", None), ("Spine", "spine_a", "spine_b", "Hips"),
    ("Spine1", "spine_b", "spine_c", "Spine"), ("Spine2", "spine_c", "neck", "Spine1"),
    ("Neck", "neck", "head", "Spine2"), ("Head", "head", "head_top", "Neck"),
    ("{S}Shoulder", "collar_{x}", "shoulder_{x}", "Spine2"), ("{S}Arm", "shoulder_{x}", "elbow_{x}", "{S}Shoulder"),
    ("{S}ForeArm", "elbow_{x}", "wrist_{x}", "{S}Arm"), ("{S}Hand", "wrist_{x}", "hand_tip_{x}", "{S}ForeArm"),
    ("{S}UpLeg", "hip_{x}", "knee_{x}", "Hips"), ("{S}Leg", "knee_{x}", "ankle_{x}", "{S}UpLeg"),
    ("{S}Foot", "ankle_{x}", "ball_{x}", "{S}Leg"), ("{S}ToeBase", "ball_{x}", "toe_tip_{x}", "{S}Foot"),
]
UE5 = [
    ("root", None, None, None), ("pelvis", "hips", "spine_a", "root"),
    ("spine_01", "spine_a", "spine_b", "pelvis"), ("spine_02", "spine_b", "spine_c", "spine_01"),
    ("spine_03", "spine_c", "spine_d", "spine_02"), ("spine_04", "spine_d", "spine_e", "spine_03"),
    ("spine_05", "spine_e", "neck", "spine_04"), ("neck_01", "neck", "neck_mid", "spine_05"),
    ("neck_02", "neck_mid", "head", "neck_01"), ("head", "head", "head_top", "neck_02"),
    ("clavicle_{s}", "collar_{x}", "shoulder_{x}", "spine_05"), ("upperarm_{s}", "shoulder_{x}", "elbow_{x}",
                                                                  "clavicle_{s}"),
    ("lowerarm_{s}", "elbow_{x}", "wrist_{x}", "upperarm_{s}"), ("hand_{s}", "wrist_{x}", "hand_tip_{x}",
                                                                 "lowerarm_{s}"),
    ("thigh_{s}", "hip_{x}", "knee_{x}", "pelvis"), ("calf_{s}", "knee_{x}", "ankle_{x}", "thigh_{s}"),
    ("foot_{s}", "ankle_{x}", "ball_{x}", "calf_{s}"), ("ball_{s}", "ball_{x}", "toe_tip_{x}", "foot_{s}"),
]
VROID = [
    ("J_Bip_C_Hips", "hips", "spine_a", None), ("J_Bip_C_Spine", "spine_a", "spine_b", "J_Bip_C_Hips"),
    ("J_Bip_C_Chest", "spine_b", "spine_c", "J_Bip_C_Spine"),
    ("J_Bip_C_UpperChest", "spine_c", "neck", "J_Bip_C_Chest"),
    ("J_Bip_C_Neck", "neck", "head", "J_Bip_C_UpperChest"), ("J_Bip_C_Head", "head", "head_top", "J_Bip_C_Neck"),
    ("J_Bip_{S}_Shoulder", "collar_{x}", "shoulder_{x}", "J_Bip_C_UpperChest"),
    ("J_Bip_{S}_UpperArm", "shoulder_{x}", "elbow_{x}", "J_Bip_{S}_Shoulder"),
    ("J_Bip_{S}_LowerArm", "elbow_{x}", "wrist_{x}", "J_Bip_{S}_UpperArm"),
    ("J_Bip_{S}_Hand", "wrist_{x}", "hand_tip_{x}", "J_Bip_{S}_LowerArm"),
    ("J_Bip_{S}_UpperLeg", "hip_{x}", "knee_{x}", "J_Bip_C_Hips"),
    ("J_Bip_{S}_LowerLeg", "knee_{x}", "ankle_{x}", "J_Bip_{S}_UpperLeg"),
    ("J_Bip_{S}_Foot", "ankle_{x}", "ball_{x}", "J_Bip_{S}_LowerLeg"),
    ("J_Bip_{S}_ToeBase", "ball_{x}", "toe_tip_{x}", "J_Bip_{S}_Foot"),
]
FAMILIES = {
    "mixamo": (MIXAMO, {"L": ("Left", "l"), "R": ("Right", "r")}, "Y", "mixamorig:"),
    "ue5": (UE5, {"L": ("Left", "l"), "R": ("Right", "r")}, "X", ""),
    "vroid": (VROID, {"L": ("L", "l"), "R": ("R", "r")}, "Y", ""),
}


def _expand(template: list, sides: dict) -> list[tuple[str, str | None, str | None, str | None]]:
    rows = []
    for bone, head, tail, parent in template:
        if "{S}" in bone or "{s}" in bone:
            for side, (big, small) in sides.items():
                fill = {"S": big, "s": small, "x": side}
                rows.append((bone.format(**fill), head.format(**fill) if head else None,
                             tail.format(**fill) if tail else None, parent.format(**fill) if parent else None))
        else:
            rows.append((bone, head, tail, parent))
    return rows


def build_rig(family: str, name: str, a_pose_deg: float = 0.0, centimetres: bool = False,
              origin_at_hips: bool = False, location: tuple[float, float, float] = (0.0, 0.0, 0.0),
              yaw_deg: float = 0.0, seed: int = 3, y_up: bool = False) -> bpy.types.Object:
    """An armature of `family` in the active scene (object mode afterwards).

    `y_up`: the bones lie in a Y-up armature space and the object is turned +90 degrees about X, as
    Blender's FBX importer brings in a Mixamo character (same world pose).
    """
    to_armature = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]]) if y_up else np.eye(3)  # Rx(-90) or I
    template, sides, axis, prefix = FAMILIES[family]
    joints = joint_positions(a_pose_deg)
    unit = 100.0 if centimetres else 1.0
    origin = joints["hips"] * np.array([0, 0, 1.0]) if origin_at_hips else np.zeros(3)
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    rng = np.random.default_rng(seed)
    for bone_name, head, tail, parent in _expand(template, sides):
        bone = data.edit_bones.new(prefix + bone_name)
        if head is None:  # a root bone at the origin, pointing forward
            bone.head, bone.tail = Vector((0, 0, 0)), Vector(to_armature @ np.array([0, -0.3 * unit, 0]))
        else:
            h = to_armature @ ((joints[head] - origin) * unit)
            t = to_armature @ ((joints[tail] - origin) * unit)
            limb = t - h
            if axis == "Y":
                bone.head, bone.tail = Vector(h), Vector(t)
                bone.roll = float(rng.uniform(-math.pi, math.pi))  # any roll
            else:  # X along the limb: the bone's Y is a perpendicular, its Z = limb x Y so that X = limb
                up = to_armature @ np.array([0.0, 0.0, 1.0])
                helper = up if abs(limb @ up) < 0.9 * np.linalg.norm(limb) else np.array([1.0, 0.0, 0.0])
                perpendicular = np.cross(limb, helper)
                perpendicular *= np.linalg.norm(limb) / np.linalg.norm(perpendicular)
                bone.head, bone.tail = Vector(h), Vector(h + perpendicular)
                bone.align_roll(Vector(np.cross(limb, perpendicular)))
        if parent is not None:
            bone.parent = data.edit_bones[prefix + parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    obj.location = Vector(location) + Vector(origin)
    obj.rotation_euler = (math.pi / 2 if y_up else 0.0, 0.0, math.radians(yaw_deg))
    yaw = math.radians(yaw_deg)
    obj["test_front_world"] = (math.sin(yaw), -math.cos(yaw), 0.0)  # where the character faces (-Y, yawed)
    if centimetres:
        obj.scale = (0.01, 0.01, 0.01)
    bpy.context.view_layer.update()
    return obj


def limb_axis_world(obj: bpy.types.Object, bone: str, axis: str) -> np.ndarray:
    matrix = obj.matrix_world @ obj.pose.bones[bone].matrix
    column = {"X": 0, "Y": 1, "Z": 2}[axis]
    vector = np.array(matrix.to_3x3().col[column])
    return vector / np.linalg.norm(vector)


def identity() -> Matrix:
    return Matrix.Identity(4)


def generate_rigify() -> bpy.types.Object:
    """The rig Blender's bundled Rigify generates from its Human metarig (both left in the open file).

    Rigify runs the generated rig's UI script with `exec(text, {})` and registers its panels and
    operators. Their functions keep that plain globals dict alive, and the dict holds `bpy`; Python's
    shutdown clears module dicts only, so the `bpy` module is never freed, Blender's own exit never
    runs, and the bpy 4.5 wheel hangs at process exit (its audio device's delayed-close thread is never
    joined before its static state is destroyed). The rig UI is therefore unregistered again here:
    the tests need the rig, not its panels.
    """
    import addon_utils

    addon_utils.enable("rigify", default_set=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.object.armature_human_metarig_add()
    assert bpy.ops.pose.rigify_generate() == {"FINISHED"}
    rig = bpy.context.view_layer.objects.active
    release_rig_ui(rig)
    return rig


def release_rig_ui(rig: bpy.types.Object) -> None:
    """Unregister what the UI script of Rigify's generated `rig` registered (see `generate_rigify`).

    Raises AssertionError when no registered class of that script is found (Rigify changed how it runs
    the script, and the exit hang this prevents would be back).
    """
    rig_id = rig.data.get("rig_id")
    for panel in bpy.types.Panel.__subclasses__():
        script_globals = getattr(panel.__dict__.get("draw"), "__globals__", {})
        if script_globals.get("rig_id") == rig_id and callable(script_globals.get("unregister")):
            script_globals["unregister"]()
            return
    raise AssertionError(f"no registered UI of Rigify rig '{rig.name}' (rig_id {rig_id!r}) found")
