"""SMPL's 24-joint kinematic tree, rotation conversions and forward kinematics (numpy only).

Shared by the built-in model, the seed models' writer and the preview, so every stage
poses a skeleton the same way the add-on does: local rotations applied about each joint,
parent first, SMPL's T-pose as rest.
"""

from __future__ import annotations

import numpy as np

from ..core.motion_schema import JOINT_NAMES, PARENTS

NUM_JOINTS = 24
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """Rodrigues' formula on [..., 3] axis-angle vectors; stable near zero."""
    aa = np.asarray(aa, dtype=np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    small = theta < 1e-8
    axis = aa / np.where(small, 1.0, theta)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    t = theta[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    rot = eye + np.sin(t) * k + (1.0 - np.cos(t)) * (k @ k)
    # First-order expansion for tiny angles keeps the map smooth through the origin.
    skew_small = np.stack([zero, -aa[..., 2], aa[..., 1], aa[..., 2], zero, -aa[..., 0],
                           -aa[..., 1], aa[..., 0], zero], axis=-1).reshape(k.shape)
    return np.where(small[..., None], eye + skew_small, rot)


def matrix_to_quaternion(rot: np.ndarray) -> np.ndarray:
    """[..., 3, 3] rotation matrices to unit quaternions (w, x, y, z) with w >= 0."""
    rot = np.asarray(rot, dtype=np.float64)
    m00, m11, m22 = rot[..., 0, 0], rot[..., 1, 1], rot[..., 2, 2]
    trace = m00 + m11 + m22
    candidates = np.stack([
        np.stack([1 + trace, rot[..., 2, 1] - rot[..., 1, 2], rot[..., 0, 2] - rot[..., 2, 0],
                  rot[..., 1, 0] - rot[..., 0, 1]], -1),
        np.stack([rot[..., 2, 1] - rot[..., 1, 2], 1 + m00 - m11 - m22, rot[..., 0, 1] + rot[..., 1, 0],
                  rot[..., 0, 2] + rot[..., 2, 0]], -1),
        np.stack([rot[..., 0, 2] - rot[..., 2, 0], rot[..., 0, 1] + rot[..., 1, 0], 1 - m00 + m11 - m22,
                  rot[..., 1, 2] + rot[..., 2, 1]], -1),
        np.stack([rot[..., 1, 0] - rot[..., 0, 1], rot[..., 0, 2] + rot[..., 2, 0], rot[..., 1, 2] + rot[..., 2, 1],
                  1 - m00 - m11 + m22], -1),
    ], axis=-2)
    # Pick the numerically largest of the four equivalent formulas per rotation.
    best = np.argmax(np.stack([trace, m00, m11, m22], -1), axis=-1)
    quat = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    quat /= np.linalg.norm(quat, axis=-1, keepdims=True)
    return np.where(quat[..., :1] < 0, -quat, quat)


def quaternion_to_axis_angle(quat: np.ndarray) -> np.ndarray:
    """Unit quaternions (w, x, y, z) to axis-angle with angle in [0, pi]."""
    quat = np.asarray(quat, dtype=np.float64)
    quat = np.where(quat[..., :1] < 0, -quat, quat)
    vec = quat[..., 1:]
    sin_half = np.linalg.norm(vec, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, quat[..., :1])
    scale = np.where(sin_half > 1e-12, angle / np.maximum(sin_half, 1e-12), 2.0)
    return vec * scale


def matrix_to_axis_angle(rot: np.ndarray) -> np.ndarray:
    return quaternion_to_axis_angle(matrix_to_quaternion(rot))


def quaternion_to_matrix(quat: np.ndarray) -> np.ndarray:
    quat = np.asarray(quat, dtype=np.float64)
    quat = quat / np.linalg.norm(quat, axis=-1, keepdims=True)
    w, x, y, z = quat[..., 0], quat[..., 1], quat[..., 2], quat[..., 3]
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], axis=-1).reshape(quat.shape[:-1] + (3, 3))


def global_rotations(local_rot: np.ndarray, parents: tuple[int, ...] = PARENTS) -> np.ndarray:
    """Chain local [..., J, 3, 3] rotations down the tree into global ones."""
    glob = np.empty_like(local_rot)
    for j, p in enumerate(parents):
        glob[..., j, :, :] = local_rot[..., j, :, :] if p < 0 else glob[..., p, :, :] @ local_rot[..., j, :, :]
    return glob


def local_from_global(global_rot: np.ndarray, parents: tuple[int, ...] = PARENTS) -> np.ndarray:
    """Inverse of `global_rotations`: each joint's rotation relative to its parent."""
    local = np.empty_like(global_rot)
    for j, p in enumerate(parents):
        if p < 0:
            local[..., j, :, :] = global_rot[..., j, :, :]
        else:
            local[..., j, :, :] = np.swapaxes(global_rot[..., p, :, :], -1, -2) @ global_rot[..., j, :, :]
    return local


def forward_kinematics(poses_aa: np.ndarray, rest_joints: np.ndarray,
                       transl: np.ndarray | None = None) -> np.ndarray:
    """SMPL joint positions for [N, 24, 3] axis-angle poses, as smplx computes them.

    The root stays at its rest position, each child hangs off its parent through the
    parent's global rotation, and `transl` is added last.
    """
    local = axis_angle_to_matrix(poses_aa)
    glob = global_rotations(local)
    rest = np.asarray(rest_joints, dtype=np.float64)
    out = np.empty(local.shape[:-2] + (3,))
    out[..., 0, :] = rest[0]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        out[..., j, :] = out[..., p, :] + np.einsum("...ij,j->...i", glob[..., p, :, :], rest[j] - rest[p])
    if transl is not None:
        out = out + np.asarray(transl, dtype=np.float64)[..., None, :]
    return out


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit vectors `a` onto unit vectors `b` ([..., 3] each)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    cos = np.sum(a * b, axis=-1, keepdims=True)
    angle = np.arctan2(sin, cos)
    # Antiparallel vectors: rotate by pi about any axis perpendicular to `a`.
    fallback = np.cross(a, np.array([1.0, 0.0, 0.0]))
    fallback_alt = np.cross(a, np.array([0.0, 1.0, 0.0]))
    fallback = np.where(np.linalg.norm(fallback, axis=-1, keepdims=True) < 1e-6, fallback_alt, fallback)
    axis = np.where(sin < 1e-9, fallback, axis)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    return axis_angle_to_matrix(axis * angle)
