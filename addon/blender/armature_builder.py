"""Building the SMPL armature from a clip's rest skeleton."""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

from ..core.rig_layout import smpl_bone_layout


def build_smpl_armature(context: bpy.types.Context, name: str, rest_joints_body: np.ndarray,
                        lift: np.ndarray | None = None) -> bpy.types.Object:
    """A new armature object at the origin, linked to the active collection and made active.

    Bones are named after SMPL's joints, heads at the rest joints in Blender's frame moved by
    `lift` (`retarget.rest_lift`: the rest skeleton stands on Z = 0, its origin at the floor),
    tails at the main child, rolls from `rig_layout`. Pose bones use quaternions.
    """
    offset = Vector(lift) if lift is not None else Vector((0.0, 0.0, 0.0))
    armature = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, armature)
    collection = context.collection or context.scene.collection
    collection.objects.link(obj)
    view_layer = context.view_layer
    for selected in list(context.selected_objects):
        selected.select_set(False)
    view_layer.objects.active = obj
    obj.select_set(True)
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit_bones = armature.edit_bones
        for layout in smpl_bone_layout(rest_joints_body):
            bone = edit_bones.new(layout.name)
            bone.head = Vector(layout.head) + offset
            bone.tail = Vector(layout.tail) + offset
            bone.align_roll(Vector(layout.roll_axis))
            if layout.parent is not None:
                bone.parent = edit_bones[layout.parent]
                bone.use_connect = layout.connected
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    for pose_bone in obj.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"
    return obj
