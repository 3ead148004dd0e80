"""Inverse kinematics: MediaPipe world landmarks -> SMPL local joint rotations.

Every bone is aimed along the landmarks' bone direction, and its twist is taken from the
landmarks that carry it: hips and shoulders for the torso, heel and toe for the feet, index and
pinky for the hands, ears and nose for the head. Knees and elbows are hinges (flexion only), so a
straight, noisy limb cannot bend backwards; their hinge axis fixes the twist of the thigh or upper
arm. The spine shares the pelvis-to-chest rotation evenly among its three joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..body import landmarks_def as lm
from ..geometry.skeleton import (
    JOINT_INDEX as J,
)
from ..geometry.skeleton import (
    NUM_JOINTS,
    PARENTS,
    axis_angle_to_matrix,
    local_from_global,
    matrix_to_axis_angle,
    rotation_between,
)
from .rest_skeleton import RestSkeleton

#: Flexion limits (degrees): knees and elbows never bend backwards past the human range.
KNEE_RANGE = (0.0, 155.0)
ELBOW_RANGE = (0.0, 160.0)
#: Out-of-hinge play (degrees) allowed at knees and elbows: real joints have a few degrees of
#: varus/valgus and a carrying angle; anything larger is landmark noise and is not followed.
HINGE_PLAY_DEG = 15.0
#: Below this bend (degrees) a limb counts as straight and its hinge axis comes from elsewhere.
STRAIGHT_LIMB_DEG = 25.0


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal basis (columns): primary exactly, secondary projected perpendicular to it."""
    e1 = _unit(primary)
    e2 = _unit(secondary - np.sum(secondary * e1, -1, keepdims=True) * e1)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def _align(rest_primary: np.ndarray, rest_secondary: np.ndarray,
           target_primary: np.ndarray, target_secondary: np.ndarray) -> np.ndarray:
    """Rotation taking the rest pair onto the target pair, primary direction exact."""
    rest = _frame(np.broadcast_to(rest_primary, target_primary.shape),
                  np.broadcast_to(rest_secondary, target_secondary.shape))
    return _frame(target_primary, target_secondary) @ np.swapaxes(rest, -1, -2)


def _apply(rot: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", rot, v)


def _hinge_angle(rot_parent: np.ndarray, rest_dir: np.ndarray, axis: np.ndarray, target: np.ndarray,
                 limits: tuple[float, float]) -> np.ndarray:
    """Flexion about `axis` (parent's rest frame) that best aims `rest_dir` at `target`, clamped."""
    local = _unit(_apply(np.swapaxes(rot_parent, -1, -2), target))
    u = _unit(rest_dir)
    angle = np.arctan2(np.sum(np.cross(u, local) * axis, -1), np.sum(u * local, -1))
    return np.clip(angle, *np.deg2rad(limits))


def _hinge_target(upper: np.ndarray, lower: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The limb's hinge axis in the camera frame.

    From the bend itself when the limb is clearly bent; from `fallback` (an anatomical guess) when it
    is nearly straight or seemingly bent backwards, blended smoothly between the two.
    """
    upper_u, lower_u = _unit(upper), _unit(lower)
    bend = np.cross(upper_u, lower_u)
    sin_bend = np.linalg.norm(bend, axis=-1, keepdims=True)
    fallback = _unit(fallback - np.sum(fallback * upper_u, -1, keepdims=True) * upper_u)
    agrees = np.sum(bend * fallback, -1, keepdims=True) >= 0
    straight = np.sin(np.deg2rad(STRAIGHT_LIMB_DEG))
    weight = np.clip(sin_bend / straight, 0.0, 1.0)
    # A backward bend of a nearly straight limb is noise: trust the fallback there.
    weight = np.where(agrees | (sin_bend > straight), weight, 0.0)
    return _unit(weight * _unit(bend) + (1.0 - weight) * fallback)


def _with_play(glob_joint: np.ndarray, rest_dir: np.ndarray, hinge_axis: np.ndarray,
               target: np.ndarray) -> np.ndarray:
    """Tilt the bone out of its hinge plane toward `target`, at most HINGE_PLAY_DEG.

    Only the out-of-plane part is followed; flexion stays what the hinge gave it, so play can
    never bend a knee or elbow backwards.
    """
    current = _unit(_apply(glob_joint, rest_dir))
    hinge = _unit(_apply(glob_joint, hinge_axis))
    elevation = np.arcsin(np.clip(np.sum(_unit(target) * hinge, -1), -1.0, 1.0))
    limit = np.deg2rad(HINGE_PLAY_DEG)
    tilt_axis = _unit(np.cross(current, hinge))
    return axis_angle_to_matrix(tilt_axis * np.clip(elevation, -limit, limit)[:, None]) @ glob_joint


def _scale_rotation(rot: np.ndarray, fraction: float) -> np.ndarray:
    return axis_angle_to_matrix(matrix_to_axis_angle(rot) * fraction)


#: SMPL knees flex about +x; elbows flex the forearm forward: about -y on the left arm, +y on the right.
KNEE_AXIS = np.array([1.0, 0.0, 0.0])
ELBOW_AXIS = {"left": np.array([0.0, -1.0, 0.0]), "right": np.array([0.0, 1.0, 0.0])}


@dataclass
class _Solve:
    """The state one solve builds up: landmarks by name, global rotations and posed positions by joint name."""

    world: np.ndarray  # [N, 33, 3]
    rest: RestSkeleton
    glob: np.ndarray  # [N, 24, 3, 3] global rotations, filled parent first
    pos: np.ndarray  # [N, 24, 3] posed joint positions (torso only: the collars need them)

    def lm(self, name: str) -> np.ndarray:
        """[N, 3] one landmark by name ("left_hip", ...)."""
        return self.world[:, lm.LANDMARK_INDEX[name]]

    def mid(self, name: str) -> np.ndarray:
        """[N, 3] midpoint of the left and right landmark of that name ("hip", "shoulder", "ear")."""
        return (self.lm(f"left_{name}") + self.lm(f"right_{name}")) / 2

    def rest_bone(self, parent: str, child: str) -> np.ndarray:
        """[3] rest vector from one SMPL joint to another."""
        return self.rest.joints[J[child]] - self.rest.joints[J[parent]]

    def set(self, joint: str, rotation: np.ndarray) -> None:
        self.glob[:, J[joint]] = rotation

    def get(self, joint: str) -> np.ndarray:
        return self.glob[:, J[joint]]


def solve(world: np.ndarray, rest: RestSkeleton) -> np.ndarray:
    """[N, 33, 3] world landmarks (camera-aligned, y down) -> [N, 24, 3, 3] local rotations.

    Torso first (the limbs hang from it), then the head, then each leg and arm.
    """
    world = np.asarray(world, dtype=np.float64)
    n = world.shape[0]
    state = _Solve(world, rest, np.tile(np.eye(3), (n, NUM_JOINTS, 1, 1)), np.zeros((n, NUM_JOINTS, 3)))
    _torso(state)
    _head(state)
    for side in ("left", "right"):
        _leg(state, side)
        _arm(state, side)
    return local_from_global(state.glob)


def _torso(s: _Solve) -> None:
    """Pelvis from the hip line, chest from the shoulder line, both about the same up axis; the spine
    shares the pelvis-to-chest rotation evenly among its three joints."""
    up = s.mid("shoulder") - s.mid("hip")
    rest_up = s.rest_bone("pelvis", "neck")
    s.set("pelvis", _align(rest_up, s.rest_bone("right_hip", "left_hip"), up, s.lm("left_hip") - s.lm("right_hip")))
    chest = _align(rest_up, s.rest_bone("right_shoulder", "left_shoulder"), up,
                   s.lm("left_shoulder") - s.lm("right_shoulder"))
    spine_step = _scale_rotation(np.swapaxes(s.get("pelvis"), -1, -2) @ chest, 1.0 / 3.0)
    for joint in ("spine1", "spine2", "spine3"):
        s.set(joint, s.glob[:, PARENTS[J[joint]]] @ spine_step)
    # Posed positions along the spine, anchored so the rest hip midpoint lands on the landmarks'.
    rj = s.rest.joints
    s.pos[:, J["pelvis"]] = s.mid("hip") - _apply(s.get("pelvis"), (rj[J["left_hip"]] + rj[J["right_hip"]]) / 2
                                                  - rj[J["pelvis"]])
    for joint in ("spine1", "spine2", "spine3", "neck", "left_collar", "right_collar"):
        index, parent = J[joint], PARENTS[J[joint]]
        s.pos[:, index] = s.pos[:, parent] + _apply(s.glob[:, parent], rj[index] - rj[parent])


def _head(s: _Solve) -> None:
    """Neck aims at the ears' midpoint; the head takes its frame from ears and nose."""
    left_ear, right_ear = s.rest.marker_offset("left_ear"), s.rest.marker_offset("right_ear")
    ear_line = s.lm("left_ear") - s.lm("right_ear")
    s.set("neck", _align(s.rest_bone("neck", "head"), left_ear - right_ear, s.mid("ear") - s.mid("shoulder"),
                         ear_line))
    s.set("head", _align(left_ear - right_ear, s.rest.marker_offset("nose") - (left_ear + right_ear) / 2,
                         ear_line, s.lm("nose") - s.mid("ear")))


def _leg(s: _Solve, side: str) -> None:
    """Thigh aimed at the knee, twisted so the knee hinge lies in the leg's plane; a hinge knee with
    a little play; the foot aimed at the toe, rolled so heel and toe stay in the foot's plane."""
    hip, knee, ankle, foot = (f"{side}_{joint}" for joint in ("hip", "knee", "ankle", "foot"))
    thigh = s.lm(f"{side}_knee") - s.lm(f"{side}_hip")
    shin = s.lm(f"{side}_ankle") - s.lm(f"{side}_knee")
    rest_thigh, rest_shin = s.rest_bone(hip, knee), s.rest_bone(knee, ankle)
    foot_forward = s.lm(f"{side}_toe") - s.lm(f"{side}_heel")
    hinge = _hinge_target(thigh, shin, np.cross(foot_forward, thigh))
    s.set(hip, _align(rest_thigh, KNEE_AXIS, thigh, hinge))
    flex = _hinge_angle(s.get(hip), rest_shin, KNEE_AXIS, shin, KNEE_RANGE)
    s.set(knee, _with_play(s.get(hip) @ axis_angle_to_matrix(flex[:, None] * KNEE_AXIS), rest_shin, KNEE_AXIS, shin))
    heel_off, toe_off = s.rest.marker_offset(f"{side}_heel"), s.rest.marker_offset(f"{side}_toe")
    to_toe, to_heel = s.lm(f"{side}_toe") - s.lm(f"{side}_ankle"), s.lm(f"{side}_heel") - s.lm(f"{side}_ankle")
    s.set(ankle, _align(s.rest_bone(ankle, foot), np.cross(heel_off, toe_off), to_toe, np.cross(to_heel, to_toe)))
    s.set(foot, s.get(ankle))


def _arm(s: _Solve, side: str) -> None:
    """The collar aims the shoulder joint at the shoulder landmark (shrugs); the upper arm is twisted
    so the elbow hinge lies in the arm's plane; a hinge elbow with a little play; the hand aimed
    between the index and pinky knuckles, palm plane from the two."""
    collar, shoulder, elbow, wrist, hand = (f"{side}_{joint}" for joint in ("collar", "shoulder", "elbow", "wrist",
                                                                            "hand"))
    spine3 = s.get("spine3")
    s.set(collar, rotation_between(_apply(spine3, s.rest_bone(collar, shoulder)),
                                   s.lm(f"{side}_shoulder") - s.pos[:, J[collar]]) @ spine3)
    upper = s.lm(f"{side}_elbow") - s.lm(f"{side}_shoulder")
    fore = s.lm(f"{side}_wrist") - s.lm(f"{side}_elbow")
    rest_upper, rest_fore = s.rest_bone(shoulder, elbow), s.rest_bone(elbow, wrist)
    axis = ELBOW_AXIS[side]
    # Straight arm: keep the upper arm's twist as the collar carries it (least surprising default).
    hinge = _hinge_target(upper, fore, _apply(s.get(collar), axis))
    s.set(shoulder, _align(rest_upper, axis, upper, hinge))
    flex = _hinge_angle(s.get(shoulder), rest_fore, axis, fore, ELBOW_RANGE)
    s.set(elbow, _with_play(s.get(shoulder) @ axis_angle_to_matrix(flex[:, None] * axis), rest_fore, axis, fore))
    index_off, pinky_off = s.rest.marker_offset(f"{side}_index"), s.rest.marker_offset(f"{side}_pinky")
    knuckles = (s.lm(f"{side}_index") + s.lm(f"{side}_pinky")) / 2 - s.lm(f"{side}_wrist")
    palm = np.cross(s.lm(f"{side}_index") - s.lm(f"{side}_wrist"), s.lm(f"{side}_pinky") - s.lm(f"{side}_wrist"))
    s.set(wrist, _align(s.rest_bone(wrist, hand), np.cross(index_off, pinky_off), knuckles, palm))
    s.set(hand, s.get(wrist))

