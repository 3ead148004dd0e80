"""Inverse kinematics: MediaPipe world landmarks -> SMPL local joint rotations.

Every bone is aimed along the landmarks' bone direction, and its twist is taken from the
landmarks that carry it: hips and shoulders for the torso, heel and toe for the feet, index and
pinky for the hands, ears and nose for the head. Knees and elbows are hinges (flexion only), so a
straight, noisy limb cannot bend backwards; their hinge axis fixes the twist of the thigh or upper
arm. The spine shares the pelvis-to-chest rotation evenly among its three joints.
"""

from __future__ import annotations

import numpy as np

from ..body import landmarks_def as lm
from ..geometry.skeleton import NUM_JOINTS, PARENTS, axis_angle_to_matrix, matrix_to_axis_angle, rotation_between
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


def solve(world: np.ndarray, rest: RestSkeleton) -> np.ndarray:
    """[N, 33, 3] world landmarks (camera-aligned, y down) -> [N, 24, 3, 3] local rotations."""
    world = np.asarray(world, dtype=np.float64)
    n = world.shape[0]
    rj = rest.joints
    glob = np.tile(np.eye(3), (n, NUM_JOINTS, 1, 1))
    p = {k: world[:, k] for k in range(world.shape[1])}
    mid_hip = (p[lm.LEFT_HIP] + p[lm.RIGHT_HIP]) / 2
    mid_shoulder = (p[lm.LEFT_SHOULDER] + p[lm.RIGHT_SHOULDER]) / 2
    mid_ear = (p[lm.LEFT_EAR] + p[lm.RIGHT_EAR]) / 2
    up = mid_shoulder - mid_hip

    # Torso: pelvis from the hip line, chest from the shoulder line, both about the same up axis.
    rest_up = rj[12] - rj[0]
    glob[:, 0] = _align(rest_up, rj[1] - rj[2], up, p[lm.LEFT_HIP] - p[lm.RIGHT_HIP])
    chest = _align(rest_up, rj[16] - rj[17], up, p[lm.LEFT_SHOULDER] - p[lm.RIGHT_SHOULDER])
    spine_step = _scale_rotation(np.swapaxes(glob[:, 0], -1, -2) @ chest, 1.0 / 3.0)
    for joint in (3, 6, 9):
        glob[:, joint] = glob[:, PARENTS[joint]] @ spine_step

    # Posed positions along the spine, anchored so the rest hip midpoint lands on the landmarks'.
    pos = np.zeros((n, NUM_JOINTS, 3))
    pos[:, 0] = mid_hip - _apply(glob[:, 0], (rj[1] + rj[2]) / 2 - rj[0])
    for joint in (3, 6, 9, 12, 13, 14):
        parent = PARENTS[joint]
        pos[:, joint] = pos[:, parent] + _apply(glob[:, parent], rj[joint] - rj[parent])

    # Neck and head: neck aims at the ears' midpoint, head takes its frame from ears and nose.
    glob[:, 12] = _align(rj[15] - rj[12], rest.marker_offset("left_ear") - rest.marker_offset("right_ear"),
                         mid_ear - mid_shoulder, p[lm.LEFT_EAR] - p[lm.RIGHT_EAR])
    rest_ears = (rest.marker_offset("left_ear"), rest.marker_offset("right_ear"))
    glob[:, 15] = _align(rest_ears[0] - rest_ears[1], rest.marker_offset("nose") - (rest_ears[0] + rest_ears[1]) / 2,
                         p[lm.LEFT_EAR] - p[lm.RIGHT_EAR], p[lm.NOSE] - mid_ear)

    for side, name in ((0, "left"), (1, "right")):
        # Legs: thigh aimed at the knee, twisted so the knee hinge lies in the leg's plane.
        hip_lm, knee_lm, ankle_lm = (lm.LEFT_HIP, lm.LEFT_KNEE, lm.LEFT_ANKLE) if side == 0 else (
            lm.RIGHT_HIP, lm.RIGHT_KNEE, lm.RIGHT_ANKLE)
        heel_lm, toe_lm = (lm.LEFT_HEEL, lm.LEFT_TOE) if side == 0 else (lm.RIGHT_HEEL, lm.RIGHT_TOE)
        hip, knee, ankle, foot = 1 + side, 4 + side, 7 + side, 10 + side
        thigh = p[knee_lm] - p[hip_lm]
        shin = p[ankle_lm] - p[knee_lm]
        rest_thigh, rest_shin = rj[knee] - rj[hip], rj[ankle] - rj[knee]
        knee_axis = np.array([1.0, 0.0, 0.0])  # SMPL knees flex about +x
        foot_forward = p[toe_lm] - p[heel_lm]
        hinge = _hinge_target(thigh, shin, np.cross(foot_forward, thigh))
        glob[:, hip] = _align(rest_thigh, knee_axis, thigh, hinge)
        flex = _hinge_angle(glob[:, hip], rest_shin, knee_axis, shin, KNEE_RANGE)
        glob[:, knee] = _with_play(glob[:, hip] @ axis_angle_to_matrix(flex[:, None] * knee_axis), rest_shin,
                                   knee_axis, shin)
        # Feet: aimed at the toe, rolled so heel and toe stay in the foot's plane.
        heel_off, toe_off = rest.marker_offset(f"{name}_heel"), rest.marker_offset(f"{name}_toe")
        glob[:, ankle] = _align(rj[foot] - rj[ankle], np.cross(heel_off, toe_off),
                                p[toe_lm] - p[ankle_lm],
                                np.cross(p[heel_lm] - p[ankle_lm], p[toe_lm] - p[ankle_lm]))
        glob[:, foot] = glob[:, ankle]

        # Arms: collar aims the shoulder joint at the shoulder landmark (shrugs), then a hinge elbow.
        sh_lm, el_lm, wr_lm = (lm.LEFT_SHOULDER, lm.LEFT_ELBOW, lm.LEFT_WRIST) if side == 0 else (
            lm.RIGHT_SHOULDER, lm.RIGHT_ELBOW, lm.RIGHT_WRIST)
        idx_lm, pk_lm = (lm.LEFT_INDEX, lm.LEFT_PINKY) if side == 0 else (lm.RIGHT_INDEX, lm.RIGHT_PINKY)
        collar, shoulder, elbow, wrist, hand = 13 + side, 16 + side, 18 + side, 20 + side, 22 + side
        rest_collar = rj[shoulder] - rj[collar]
        glob[:, collar] = rotation_between(_apply(glob[:, 9], rest_collar), p[sh_lm] - pos[:, collar]) @ glob[:, 9]
        upper = p[el_lm] - p[sh_lm]
        fore = p[wr_lm] - p[el_lm]
        rest_upper, rest_fore = rj[elbow] - rj[shoulder], rj[wrist] - rj[elbow]
        # SMPL elbows flex the forearm forward: about -y on the left arm, +y on the right.
        elbow_axis = np.array([0.0, -1.0, 0.0]) if side == 0 else np.array([0.0, 1.0, 0.0])
        # Straight arm: keep the upper arm's twist as the collar carries it (least surprising default).
        default_hinge = _apply(glob[:, collar], elbow_axis)
        hinge = _hinge_target(upper, fore, default_hinge)
        glob[:, shoulder] = _align(rest_upper, elbow_axis, upper, hinge)
        flex = _hinge_angle(glob[:, shoulder], rest_fore, elbow_axis, fore, ELBOW_RANGE)
        glob[:, elbow] = _with_play(glob[:, shoulder] @ axis_angle_to_matrix(flex[:, None] * elbow_axis),
                                    rest_fore, elbow_axis, fore)
        # Hands: aimed between index and pinky knuckles, palm plane from the two.
        idx_off, pk_off = rest.marker_offset(f"{name}_index"), rest.marker_offset(f"{name}_pinky")
        glob[:, wrist] = _align(rj[hand] - rj[wrist], np.cross(idx_off, pk_off),
                                (p[idx_lm] + p[pk_lm]) / 2 - p[wr_lm],
                                np.cross(p[idx_lm] - p[wr_lm], p[pk_lm] - p[wr_lm]))
        glob[:, hand] = glob[:, wrist]

    local = np.empty_like(glob)
    local[:, 0] = glob[:, 0]
    for joint in range(1, NUM_JOINTS):
        local[:, joint] = np.swapaxes(glob[:, PARENTS[joint]], -1, -2) @ glob[:, joint]
    return local
