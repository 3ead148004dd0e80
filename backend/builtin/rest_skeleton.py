"""The person's rest skeleton (SMPL T-pose, body frame: y up, z forward, x the person's left).

Built from bone lengths measured on MediaPipe's world landmarks (medians over the clip, left and
right averaged), so the armature fits the person even without SMPL files. Alongside the 24 joints it
keeps "markers": rest positions of the landmarks that carry twist (heels, toes, index and pinky
knuckles, ears, nose), each attached to the joint that carries them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..body import landmarks_def as lm
from ..geometry.skeleton import NUM_JOINTS


@dataclass
class RestSkeleton:
    joints: np.ndarray  # [24, 3]
    markers: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)  # name -> (joint, rest position)
    lengths: dict[str, float] = field(default_factory=dict)

    def marker_offset(self, name: str) -> np.ndarray:
        joint, position = self.markers[name]
        return position - self.joints[joint]


def _median_distance(world: np.ndarray, weights: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Weighted median of |a - b| over frames; a, b are [N, 3] point tracks."""
    d = np.linalg.norm(a - b, axis=-1)
    order = np.argsort(d)
    cumulative = np.cumsum(weights[order])
    if cumulative[-1] <= 0:
        return float(np.median(d))
    return float(d[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def _triangle(apex_to_a: float, apex_to_b: float, a_to_b: float) -> tuple[float, float]:
    """Apex above segment a->b: returns (distance along a->b of the apex's foot, apex height)."""
    a_to_b = max(a_to_b, 1e-4)
    along = (apex_to_a**2 - apex_to_b**2 + a_to_b**2) / (2 * a_to_b)
    height = np.sqrt(max(apex_to_a**2 - along**2, (0.2 * apex_to_a) ** 2))
    return float(along), float(height)


def measure_lengths(world: np.ndarray, visibility: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """Bone lengths (metres) from [N, 33, 3] world landmarks, weighting frames by visibility."""
    w_frame = valid.astype(float) + 1e-3

    def dist(a: int | tuple[int, int], b: int | tuple[int, int]) -> float:
        pa = world[:, a] if isinstance(a, int) else world[:, list(a)].mean(1)
        pb = world[:, b] if isinstance(b, int) else world[:, list(b)].mean(1)
        ids = [i for i in (a if isinstance(a, tuple) else (a,)) + (b if isinstance(b, tuple) else (b,))]
        weight = w_frame * np.clip(visibility[:, ids].min(axis=1), 0.05, 1.0)
        return _median_distance(world, weight, pa, pb)

    def both(left: tuple, right: tuple) -> float:
        return 0.5 * (dist(*left) + dist(*right))

    hips, shoulders = (lm.LEFT_HIP, lm.RIGHT_HIP), (lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER)
    ears = (lm.LEFT_EAR, lm.RIGHT_EAR)
    return {
        "hip_width": dist(lm.LEFT_HIP, lm.RIGHT_HIP),
        "shoulder_width": dist(lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER),
        "torso": dist(hips, shoulders),
        "thigh": both((lm.LEFT_HIP, lm.LEFT_KNEE), (lm.RIGHT_HIP, lm.RIGHT_KNEE)),
        "shin": both((lm.LEFT_KNEE, lm.LEFT_ANKLE), (lm.RIGHT_KNEE, lm.RIGHT_ANKLE)),
        "upper_arm": both((lm.LEFT_SHOULDER, lm.LEFT_ELBOW), (lm.RIGHT_SHOULDER, lm.RIGHT_ELBOW)),
        "forearm": both((lm.LEFT_ELBOW, lm.LEFT_WRIST), (lm.RIGHT_ELBOW, lm.RIGHT_WRIST)),
        "ankle_heel": both((lm.LEFT_ANKLE, lm.LEFT_HEEL), (lm.RIGHT_ANKLE, lm.RIGHT_HEEL)),
        "ankle_toe": both((lm.LEFT_ANKLE, lm.LEFT_TOE), (lm.RIGHT_ANKLE, lm.RIGHT_TOE)),
        "heel_toe": both((lm.LEFT_HEEL, lm.LEFT_TOE), (lm.RIGHT_HEEL, lm.RIGHT_TOE)),
        "wrist_index": both((lm.LEFT_WRIST, lm.LEFT_INDEX), (lm.RIGHT_WRIST, lm.RIGHT_INDEX)),
        "wrist_pinky": both((lm.LEFT_WRIST, lm.LEFT_PINKY), (lm.RIGHT_WRIST, lm.RIGHT_PINKY)),
        "index_pinky": both((lm.LEFT_INDEX, lm.LEFT_PINKY), (lm.RIGHT_INDEX, lm.RIGHT_PINKY)),
        "ear_width": dist(lm.LEFT_EAR, lm.RIGHT_EAR),
        "neck_head": dist(shoulders, ears),
        "ears_nose": dist(ears, lm.NOSE),
    }


def nose_elevation(world: np.ndarray, valid: np.ndarray) -> float:
    """Median angle (radians) between the torso's up axis and the ears->nose direction.

    Calibrates the rest head so that the clip's typical head carriage counts as neutral.
    """
    up = world[:, [lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER]].mean(1) - world[:, [lm.LEFT_HIP, lm.RIGHT_HIP]].mean(1)
    nose = world[:, lm.NOSE] - world[:, [lm.LEFT_EAR, lm.RIGHT_EAR]].mean(1)
    cos = np.sum(up * nose, -1) / np.maximum(np.linalg.norm(up, axis=-1) * np.linalg.norm(nose, axis=-1), 1e-9)
    angles = np.arccos(np.clip(cos, -1, 1))
    return float(np.median(angles[valid] if valid.any() else angles))


def from_lengths(lengths: dict[str, float], nose_angle: float = np.deg2rad(100.0)) -> RestSkeleton:
    """Lay the measured bones out in SMPL's T-pose: legs straight down, arms out, palms down."""
    j = np.zeros((NUM_JOINTS, 3))
    torso, half_hip, half_sh = lengths["torso"], lengths["hip_width"] / 2, lengths["shoulder_width"] / 2
    for side, sign in ((0, 1.0), (1, -1.0)):  # 0 = left (+x), 1 = right
        hip, knee, ankle, foot = 1 + side, 4 + side, 7 + side, 10 + side
        j[hip] = (sign * half_hip, 0.0, 0.0)
        j[knee] = j[hip] + (0.0, -lengths["thigh"], 0.0)
        j[ankle] = j[knee] + (0.0, -lengths["shin"], 0.0)
        along, height = _triangle(lengths["ankle_heel"], lengths["ankle_toe"], lengths["heel_toe"])
        j[foot] = j[ankle] + (0.0, -height, lengths["heel_toe"] - along)
    j[3] = (0.0, 0.25 * torso, 0.0)
    j[6] = (0.0, 0.5 * torso, 0.0)
    j[9] = (0.0, 0.75 * torso, 0.0)
    j[12] = (0.0, torso, 0.0)
    j[15] = j[12] + (0.0, lengths["neck_head"], 0.0)
    markers: dict[str, tuple[int, np.ndarray]] = {}
    for side, sign, name in ((0, 1.0, "left"), (1, -1.0, "right")):
        collar, shoulder, elbow, wrist, hand = 13 + side, 16 + side, 18 + side, 20 + side, 22 + side
        j[collar] = (sign * 0.25 * half_sh, torso, 0.0)
        j[shoulder] = (sign * half_sh, torso, 0.0)
        j[elbow] = j[shoulder] + (sign * lengths["upper_arm"], 0.0, 0.0)
        j[wrist] = j[elbow] + (sign * lengths["forearm"], 0.0, 0.0)
        along, reach = _triangle(lengths["wrist_pinky"], lengths["wrist_index"], lengths["index_pinky"])
        pinky = j[wrist] + (sign * reach, 0.0, -along)  # palm down: thumb and index point forward
        index = pinky + (0.0, 0.0, lengths["index_pinky"])
        j[hand] = (index + pinky) / 2
        markers[f"{name}_index"] = (wrist, index)
        markers[f"{name}_pinky"] = (wrist, pinky)
        along, height = _triangle(lengths["ankle_heel"], lengths["ankle_toe"], lengths["heel_toe"])
        ankle = 7 + side
        markers[f"{name}_heel"] = (ankle, j[ankle] + (0.0, -height, -along))
        markers[f"{name}_toe"] = (ankle, j[10 + side].copy())
        markers[f"{name}_ear"] = (15, j[15] + (sign * lengths["ear_width"] / 2, 0.0, 0.0))
    markers["nose"] = (15, j[15] + lengths["ears_nose"] * np.array([0.0, np.cos(nose_angle), np.sin(nose_angle)]))
    return RestSkeleton(joints=j, markers=markers, lengths=dict(lengths))


def from_landmarks(world: np.ndarray, visibility: np.ndarray, valid: np.ndarray) -> RestSkeleton:
    return from_lengths(measure_lengths(world, visibility, valid), nose_elevation(world, valid))


def with_joints(rest: RestSkeleton, joints: np.ndarray) -> RestSkeleton:
    """Same markers, re-attached to another skeleton (e.g. SMPL's, from fitted betas) by their offsets."""
    markers = {name: (joint, joints[joint] + rest.marker_offset(name)) for name, (joint, _) in rest.markers.items()}
    return RestSkeleton(joints=np.asarray(joints, float), markers=markers, lengths=dict(rest.lengths))
