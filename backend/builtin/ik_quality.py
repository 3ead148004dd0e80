"""How well a posed skeleton follows the landmarks: bone-direction errors, per bone and frame.

Used by the tests and the benchmark to hold the IK to its targets, and by `run` to report a
summary in the motion file's `meta`.
"""

from __future__ import annotations

import numpy as np

from ..body import landmarks_def as lm
from ..geometry.skeleton import NUM_JOINTS, PARENTS, axis_angle_to_matrix, global_rotations
from .rest_skeleton import RestSkeleton

# bone name -> (skeleton point a, skeleton point b, landmark a, landmark b); points are SMPL joint
# indices or marker names; landmark entries are an index or a tuple averaged.
BONES: dict[str, tuple] = {
    "left_thigh": (1, 4, lm.LEFT_HIP, lm.LEFT_KNEE),
    "right_thigh": (2, 5, lm.RIGHT_HIP, lm.RIGHT_KNEE),
    "left_shin": (4, 7, lm.LEFT_KNEE, lm.LEFT_ANKLE),
    "right_shin": (5, 8, lm.RIGHT_KNEE, lm.RIGHT_ANKLE),
    "left_foot": (7, 10, lm.LEFT_ANKLE, lm.LEFT_TOE),
    "right_foot": (8, 11, lm.RIGHT_ANKLE, lm.RIGHT_TOE),
    "spine": ("hip_mid", 12, (lm.LEFT_HIP, lm.RIGHT_HIP), (lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER)),
    "hips": (2, 1, lm.RIGHT_HIP, lm.LEFT_HIP),
    "neck": (12, 15, (lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER), (lm.LEFT_EAR, lm.RIGHT_EAR)),
    "head_ears": ("right_ear", "left_ear", lm.RIGHT_EAR, lm.LEFT_EAR),
    "head_nose": (15, "nose", (lm.LEFT_EAR, lm.RIGHT_EAR), lm.NOSE),
    "shoulders": (17, 16, lm.RIGHT_SHOULDER, lm.LEFT_SHOULDER),
    "left_upper_arm": (16, 18, lm.LEFT_SHOULDER, lm.LEFT_ELBOW),
    "right_upper_arm": (17, 19, lm.RIGHT_SHOULDER, lm.RIGHT_ELBOW),
    "left_forearm": (18, 20, lm.LEFT_ELBOW, lm.LEFT_WRIST),
    "right_forearm": (19, 21, lm.RIGHT_ELBOW, lm.RIGHT_WRIST),
    "left_hand": (20, 22, lm.LEFT_WRIST, (lm.LEFT_INDEX, lm.LEFT_PINKY)),
    "right_hand": (21, 23, lm.RIGHT_WRIST, (lm.RIGHT_INDEX, lm.RIGHT_PINKY)),
}


# Twist checks: the normal of a plane through three points, skeleton side vs landmark side.
PLANES: dict[str, tuple] = {
    "left_foot_roll": ((7, "left_heel", "left_toe"), (lm.LEFT_ANKLE, lm.LEFT_HEEL, lm.LEFT_TOE)),
    "right_foot_roll": ((8, "right_heel", "right_toe"), (lm.RIGHT_ANKLE, lm.RIGHT_HEEL, lm.RIGHT_TOE)),
    "left_palm": ((20, "left_index", "left_pinky"), (lm.LEFT_WRIST, lm.LEFT_INDEX, lm.LEFT_PINKY)),
    "right_palm": ((21, "right_index", "right_pinky"), (lm.RIGHT_WRIST, lm.RIGHT_INDEX, lm.RIGHT_PINKY)),
}


def posed_points(poses_aa: np.ndarray, rest: RestSkeleton) -> dict[object, np.ndarray]:
    """Joints and markers of the rest skeleton posed by [N, 24, 3] axis-angle (root at rest, no transl)."""
    glob = global_rotations(axis_angle_to_matrix(poses_aa))
    rj = rest.joints
    joints = np.empty(poses_aa.shape[:-2] + (NUM_JOINTS, 3))
    joints[:, 0] = rj[0]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        joints[:, j] = joints[:, p] + np.einsum("nij,j->ni", glob[:, p], rj[j] - rj[p])
    points: dict[object, np.ndarray] = {j: joints[:, j] for j in range(NUM_JOINTS)}
    for name, (joint, _) in rest.markers.items():
        points[name] = joints[:, joint] + np.einsum("nij,j->ni", glob[:, joint], rest.marker_offset(name))
    points["hip_mid"] = (joints[:, 1] + joints[:, 2]) / 2
    return points


def _landmark(world: np.ndarray, spec: int | tuple[int, ...]) -> np.ndarray:
    return world[:, list(spec)].mean(1) if isinstance(spec, tuple) else world[:, spec]


def bone_errors_deg(poses_aa: np.ndarray, rest: RestSkeleton, world: np.ndarray) -> dict[str, np.ndarray]:
    """Angle in degrees between each posed bone and the landmarks' bone, per frame."""
    points = posed_points(np.asarray(poses_aa, np.float64), rest)
    errors = {}
    for bone, (a, b, la, lb) in BONES.items():
        posed = points[b] - points[a]
        target = _landmark(world, lb) - _landmark(world, la)
        errors[bone] = _angle_deg(posed, target)
    for plane, ((a, b, c), (la, lb, lc)) in PLANES.items():
        posed = np.cross(points[b] - points[a], points[c] - points[a])
        target = np.cross(world[:, lb] - world[:, la], world[:, lc] - world[:, la])
        errors[plane] = _angle_deg(posed, target)
    return errors


def _angle_deg(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cos = np.sum(u * v, -1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
