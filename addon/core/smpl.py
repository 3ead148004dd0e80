"""SMPL's 24-joint tree and forward kinematics in numpy (no bpy).

The joint order and parents are the contract's (`motion_schema.py`, shared with the backend byte
for byte); the add-on runs in Blender's Python and must not import the backend. Joints are posed
the way smplx does it: each local rotation is applied about its joint, parent first, the root
stays at `rest_joints[0]`, `transl` last.
"""

from __future__ import annotations

import numpy as np

from .motion_schema import JOINT_NAMES, PARENTS
from .rotations import axis_angle_to_matrix

NUM_JOINTS = len(JOINT_NAMES)
ROOT = 0
HEAD = JOINT_NAMES.index("head")


def global_rotations(local_rot: np.ndarray) -> np.ndarray:
    """Chain local [..., 24, 3, 3] rotations down the tree (parents come before children)."""
    chained = np.empty_like(local_rot)
    for joint, parent in enumerate(PARENTS):
        if parent < 0:
            chained[..., joint, :, :] = local_rot[..., joint, :, :]
        else:
            chained[..., joint, :, :] = chained[..., parent, :, :] @ local_rot[..., joint, :, :]
    return chained


def forward_kinematics(poses_axis_angle: np.ndarray, rest_joints: np.ndarray,
                       transl: np.ndarray | None = None) -> np.ndarray:
    """Posed joint positions [..., 24, 3] for [..., 24, 3] axis-angle poses, in the poses' frame."""
    chained = global_rotations(axis_angle_to_matrix(poses_axis_angle))
    rest = np.asarray(rest_joints, dtype=np.float64)
    joints = np.empty(chained.shape[:-2] + (3,))
    joints[..., ROOT, :] = rest[ROOT]
    for joint in range(1, NUM_JOINTS):
        parent = PARENTS[joint]
        offset = rest[joint] - rest[parent]
        joints[..., joint, :] = joints[..., parent, :] + np.einsum("...ij,j->...i", chained[..., parent, :, :], offset)
    if transl is not None:
        joints += np.asarray(transl, dtype=np.float64)[..., None, :]
    return joints
