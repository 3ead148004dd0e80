"""Where the SMPL armature's bones go: heads, tails, rolls, connections (no bpy).

Heads are the rest joints (converted to Blender's frame). Each bone points at its main child,
so the armature reads like a skeleton and exports cleanly to FBX/BVH; leaves continue their
parent's direction. Rolls put each bone's local Z axis towards the character's front (-Y),
or up (+Z) for bones that themselves point forward (the feet), the usual humanoid convention.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import smpl
from .axes import body_points_to_blender

#: The child a bone points at when it has several (pelvis -> spine, spine3 -> neck).
MAIN_CHILD: dict[int, int] = {0: 3, 9: 12}
MIN_BONE_LENGTH = 0.02
FRONT = np.array([0.0, -1.0, 0.0])
UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class BoneLayout:
    name: str
    parent: str | None
    head: np.ndarray
    tail: np.ndarray
    roll_axis: np.ndarray  # the direction the bone's Z axis should face (EditBone.align_roll)
    connected: bool


def main_child(joint: int) -> int | None:
    if joint in MAIN_CHILD:
        return MAIN_CHILD[joint]
    children = [child for child, parent in enumerate(smpl.PARENTS) if parent == joint]
    return children[0] if children else None


def smpl_bone_layout(rest_joints_body: np.ndarray) -> list[BoneLayout]:
    """Bones in SMPL joint order (parents first) for a rest skeleton given in the SMPL body frame."""
    heads = body_points_to_blender(rest_joints_body)
    layouts: list[BoneLayout] = []
    tails: dict[int, np.ndarray] = {}
    for joint, name in enumerate(smpl.JOINT_NAMES):
        parent = smpl.PARENTS[joint]
        child = main_child(joint)
        connected = False
        if child is not None and np.linalg.norm(heads[child] - heads[joint]) >= MIN_BONE_LENGTH:
            tail = heads[child].copy()
        else:
            direction = heads[joint] - heads[parent] if parent >= 0 else UP
            length = np.linalg.norm(direction)
            direction = direction / length if length > 1e-9 else UP
            tail = heads[joint] + direction * max(0.5 * length, MIN_BONE_LENGTH)
        if parent >= 0:
            connected = bool(np.allclose(tails[parent], heads[joint], atol=1e-7))
        tails[joint] = tail
        axis = (tail - heads[joint]) / np.linalg.norm(tail - heads[joint])
        roll_axis = UP if abs(float(axis @ FRONT)) > 0.7 else FRONT
        layouts.append(BoneLayout(name=name, parent=smpl.JOINT_NAMES[parent] if parent >= 0 else None,
                                  head=heads[joint], tail=tail, roll_axis=roll_axis, connected=connected))
    return layouts
