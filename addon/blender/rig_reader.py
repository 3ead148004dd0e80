"""Reading a target armature for the retarget maths, and the rig switches it needs (thin bpy).

`read_rig` collects rest matrices, current bases and effective parents. Three constraint patterns
that control rigs use to move mechanism bones are folded into the hierarchy so the maths can
evaluate the pose without Blender: a world-space Copy Transforms at full influence (the bone
takes its target's pose: Rigify's ORG-shoulder.*), a local-space Copy Transforms (the bone takes
part of its target's basis: Rigify's MCH-spine.*), and an Armature constraint
with one full-weight bone target (the bone behaves as that bone's child: Rigify's
MCH-torso.parent under `root`). Other active constraints on a bone the import depends on are
reported by `unsupported_constraints`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import bpy
import numpy as np

from ..core.rig_presets import PropertySetting
from ..core.rig_retarget import RigRest

#: Constraints that never change a bone's rotation or position in a way the maths must know.
_HARMLESS = {"COPY_SCALE", "LIMIT_SCALE", "MAINTAIN_VOLUME", "LIMIT_DISTANCE"}


def _active(constraint: bpy.types.Constraint) -> bool:
    return not constraint.mute and constraint.influence > 1e-6 and getattr(constraint, "enabled", True)


def _copied_bone(obj: bpy.types.Object, pose_bone: bpy.types.PoseBone) -> str | None:
    """The bone whose world pose this one copies exactly, if it does (the last full Copy Transforms wins)."""
    copied = None
    for constraint in pose_bone.constraints:
        if (constraint.type == "COPY_TRANSFORMS" and _active(constraint) and constraint.influence > 0.999
                and constraint.target == obj and constraint.subtarget
                and constraint.owner_space == "WORLD" and constraint.target_space == "WORLD"
                and constraint.mix_mode == "REPLACE" and constraint.head_tail == 0.0):
            copied = constraint.subtarget
    return copied


def _local_copy(obj: bpy.types.Object, pose_bone: bpy.types.PoseBone) -> tuple[str, float] | None:
    """(bone, influence) when this bone copies another's local transform (its only Copy Transforms)."""
    found = [c for c in pose_bone.constraints if c.type == "COPY_TRANSFORMS" and _active(c)]
    if len(found) != 1:
        return None
    constraint = found[0]
    if (constraint.target == obj and constraint.subtarget and constraint.owner_space == "LOCAL"
            and constraint.target_space == "LOCAL" and constraint.mix_mode == "REPLACE"):
        return constraint.subtarget, float(constraint.influence)
    return None


def _armature_parent(obj: bpy.types.Object, pose_bone: bpy.types.PoseBone) -> str | None:
    for constraint in pose_bone.constraints:
        if constraint.type != "ARMATURE" or not _active(constraint) or constraint.influence < 0.999:
            continue
        weighted = [target for target in constraint.targets if target.weight > 1e-3]
        if len(weighted) == 1 and weighted[0].weight > 0.999 and weighted[0].target == obj and weighted[0].subtarget:
            return weighted[0].subtarget
    return None


def read_rig(obj: bpy.types.Object) -> RigRest:
    """The armature's bones as the maths sees them (call after `apply_switches` + a view-layer update)."""
    bones = obj.data.bones
    names = tuple(bone.name for bone in bones)
    index = {name: i for i, name in enumerate(names)}
    count = len(names)
    rest = np.empty(count * 16, dtype=np.float32)
    bones.foreach_get("matrix_local", rest)
    basis = np.empty(count * 16, dtype=np.float32)
    obj.pose.bones.foreach_get("matrix_basis", basis)
    parents = []
    copies: dict[int, int] = {}
    local_copies: dict[int, tuple[int, float]] = {}
    for i, bone in enumerate(bones):
        pose_bone = obj.pose.bones[bone.name]
        parent = bone.parent.name if bone.parent is not None else _armature_parent(obj, pose_bone)
        parents.append(index.get(parent, -1) if parent else -1)
        copied = _copied_bone(obj, pose_bone)
        if copied in index and copied != bone.name:
            copies[i] = index[copied]
        local = _local_copy(obj, pose_bone)
        if local is not None and local[0] in index and local[0] != bone.name:
            local_copies[i] = (index[local[0]], local[1])
    # foreach_get lays matrices out column-major (Blender's memory order): transpose to rows.
    rest_m = rest.reshape(count, 4, 4).transpose(0, 2, 1).astype(np.float64)
    basis_m = basis.reshape(count, 4, 4).transpose(0, 2, 1).astype(np.float64)
    return RigRest(names=names, parents=tuple(parents), rest=rest_m, basis=basis_m,
                   object_matrix=np.array(obj.matrix_world, dtype=np.float64), copies=copies,
                   local_copies=local_copies)


def bone_parents(obj: bpy.types.Object) -> dict[str, str | None]:
    return {bone.name: bone.parent.name if bone.parent is not None else None for bone in obj.data.bones}


def unsupported_constraints(obj: bpy.types.Object, bone_names: Iterable[str]) -> list[str]:
    """'bone: constraint' for active constraints the maths does not model on the given bones."""
    found = []
    for name in bone_names:
        pose_bone = obj.pose.bones.get(name)
        if pose_bone is None:
            continue
        for constraint in pose_bone.constraints:
            if not _active(constraint) or constraint.type in _HARMLESS:
                continue
            if constraint.type == "COPY_TRANSFORMS" and (_copied_bone(obj, pose_bone) or _local_copy(obj, pose_bone)):
                continue
            if constraint.type == "ARMATURE" and _armature_parent(obj, pose_bone):
                continue
            found.append(f"{name}: {constraint.name}")
    return found


def dependency_bones(rig: RigRest, bone_names: Iterable[str]) -> list[str]:
    """The given bones and every bone their pose depends on (parents and copied bones)."""
    index = rig.index()
    seen: set[int] = set()
    stack = [index[name] for name in bone_names if name in index]
    while stack:
        bone = stack.pop()
        if bone in seen:
            continue
        seen.add(bone)
        if rig.parents[bone] >= 0:
            stack.append(rig.parents[bone])
        if bone in rig.copies:
            stack.append(rig.copies[bone])
        if bone in rig.local_copies:
            stack.append(rig.local_copies[bone][0])
    return [rig.names[bone] for bone in sorted(seen)]


def apply_switches(obj: bpy.types.Object, settings: Iterable[PropertySetting]) -> dict[tuple[str, str], object]:
    """Set the preset's switch properties that exist on the rig (e.g. Rigify IK_FK = 1 for FK);
    returns the old values, for `restore_switches` and for the report."""
    old: dict[tuple[str, str], object] = {}
    for setting in settings:
        pose_bone = obj.pose.bones.get(setting.bone)
        if pose_bone is None or setting.name not in pose_bone:
            continue
        old[(setting.bone, setting.name)] = pose_bone[setting.name]
        current = pose_bone[setting.name]
        pose_bone[setting.name] = int(setting.value) if isinstance(current, int) else float(setting.value)
    return old


def restore_switches(obj: bpy.types.Object, old: Mapping[tuple[str, str], object]) -> None:
    for (bone, name), value in old.items():
        obj.pose.bones[bone][name] = value


def vrm_humanoid(obj: bpy.types.Object) -> dict[str, str]:
    """The VRM add-on's humanoid assignment (humanoid bone name -> bone), empty when there is none.

    The VRM Add-on for Blender keeps it on the armature data: `vrm_addon_extension.vrm1.humanoid.
    human_bones.<name>.node.bone_name` (VRM 1.0) or `...vrm0.humanoid.human_bones[i].bone /
    .node.bone_name` (VRM 0.x)."""
    extension = getattr(obj.data, "vrm_addon_extension", None)
    if extension is None:
        return {}
    found: dict[str, str] = {}
    try:
        human_bones = extension.vrm1.humanoid.human_bones
        for prop in human_bones.bl_rna.properties:
            item = getattr(human_bones, prop.identifier, None)
            bone_name = getattr(getattr(item, "node", None), "bone_name", "")
            if bone_name:
                found[prop.identifier] = bone_name
    except AttributeError:
        pass
    if not found:
        try:
            for item in extension.vrm0.humanoid.human_bones:
                if item.node.bone_name:
                    found[item.bone] = item.node.bone_name
        except AttributeError:
            pass
    # VRM 1.0 properties are snake_case (left_upper_leg); the specification's names are camelCase.
    camel = {"".join(word.capitalize() if i else word for i, word in enumerate(name.split("_"))): bone
             for name, bone in found.items()}
    return {name: bone for name, bone in camel.items() if bone in obj.data.bones}
