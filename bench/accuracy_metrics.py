"""Accuracy figures of a motion against ground truth (pure numpy; no bpy, no MediaPipe).

Every function takes joints in SMPL's 24-joint order (`truth_motions.JOINT_NAMES`), in one shared
frame (the camera frame: x right, y down, z forward, metres), [N, 24, 3] for N frames, and returns
plain floats or arrays. `evaluate` computes the whole table of issue #8 for one clip; the other
functions are its parts, each defined precisely in its docstring so the figures can be reproduced.

Conventions:
- "valid" frames are those where the product says it detected the person; every figure is over
  valid frames only (acceleration: over runs of three consecutive valid frames).
- Left/right are the person's own, as in SMPL.
- The root is the midpoint of the two hip joints (less dependent on where each skeleton puts its
  pelvis joint than SMPL's pelvis joint itself).
"""

from __future__ import annotations

import numpy as np

from backend.core.motion_schema import level_rotation  # the rotation Auto import levels the scene with

#: SMPL indices of the 14 evaluation joints (LSP order): R ankle, R knee, R hip, L hip, L knee,
#: L ankle, R wrist, R elbow, R shoulder, L shoulder, L elbow, L wrist, neck, head.
EVAL14: tuple[int, ...] = (8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, 15)

#: The 12 limb joints of EVAL14 (no neck, no head): where the neck and the head centre sit is a
#: matter of definition that differs between skeletons (MediaPipe has no neck landmark).
LIMB12: tuple[int, ...] = EVAL14[:12]

#: Limbs as (parent joint, child joint) pairs for the left and right side (SMPL indices).
LIMBS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "upper_arm": ((16, 18), (17, 19)),
    "forearm": ((18, 20), (19, 21)),
    "thigh": ((1, 4), (2, 5)),
    "shin": ((4, 7), (5, 8)),
}

#: Hinge joints as (proximal, hinge, distal) triples for the left and right side.
HINGES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "knee": ((1, 4, 7), (2, 5, 8)),
    "elbow": ((16, 18, 20), (17, 19, 21)),
}

LEFT_LEG, RIGHT_LEG = (4, 7), (5, 8)  # knee, ankle
LEFT_ANKLE, RIGHT_ANKLE = 7, 8


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between vectors a and b [..., 3] in degrees (atan2 form: accurate near 0 and 180)."""
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.degrees(np.arctan2(cross, (a * b).sum(-1)))


def procrustes_align(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per frame, the similarity transform (scale, rotation, translation) of `pred` that best fits `truth`.

    pred, truth [N, K, 3] -> aligned pred [N, K, 3]. Least squares (Umeyama 1991), reflections
    excluded. This is the alignment of PA-MPJPE (e.g. HMR, SPIN, TCMR evaluations).
    """
    mu_p, mu_t = pred.mean(1, keepdims=True), truth.mean(1, keepdims=True)
    p, t = pred - mu_p, truth - mu_t
    cov = np.einsum("nki,nkj->nij", t, p)                     # sum_k t_k p_k^T
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones_like(s)
    fix[:, -1] = d
    rot = u @ (fix[..., None] * vt)                            # R = U diag(1, 1, d) V^T
    var_p = (p ** 2).sum((1, 2))
    scale = (s * fix).sum(-1) / np.maximum(var_p, 1e-12)
    return scale[:, None, None] * np.einsum("nij,nkj->nki", rot, p) + mu_t


def mpjpe(pred: np.ndarray, truth: np.ndarray, joints: tuple[int, ...] = EVAL14) -> np.ndarray:
    """[N] mean distance (m) over `joints` after aligning the roots (mid-hips) only."""
    p = pred[:, joints] - root(pred)[:, None]
    t = truth[:, joints] - root(truth)[:, None]
    return np.linalg.norm(p - t, axis=-1).mean(-1)


def pa_mpjpe(pred: np.ndarray, truth: np.ndarray, joints: tuple[int, ...] = EVAL14) -> np.ndarray:
    """[N] PA-MPJPE per frame (m): mean joint distance over `joints` after `procrustes_align` per frame."""
    p, t = pred[:, joints], truth[:, joints]
    return np.linalg.norm(procrustes_align(p, t) - t, axis=-1).mean(-1)


def pa_joint_errors(pred: np.ndarray, truth: np.ndarray, joints: tuple[int, ...] = EVAL14) -> np.ndarray:
    """[len(joints)] mean distance (m) of each joint after the per-frame Procrustes alignment of PA-MPJPE."""
    p, t = pred[:, joints], truth[:, joints]
    return np.linalg.norm(procrustes_align(p, t) - t, axis=-1).mean(0)


def root(joints: np.ndarray) -> np.ndarray:
    """[N, 3] midpoint of the two hip joints."""
    return 0.5 * (joints[:, 1] + joints[:, 2])


def flexion_deg(joints: np.ndarray, hinge: str) -> np.ndarray:
    """[N, 2] flexion of the left and right knee or elbow (degrees; 0 = straight limb).

    Flexion is the angle between the proximal segment (hip->knee, shoulder->elbow) and the distal one
    (knee->ankle, elbow->wrist); it does not depend on the camera, scale or global orientation.
    """
    out = []
    for a, b, c in HINGES[hinge]:
        out.append(_angle_deg(joints[:, b] - joints[:, a], joints[:, c] - joints[:, b]))
    return np.stack(out, -1)


def flexion_error_deg(pred: np.ndarray, truth: np.ndarray, hinge: str) -> float:
    """Mean over frames and both sides of |flexion(pred) - flexion(truth)| (degrees)."""
    return float(np.abs(flexion_deg(pred, hinge) - flexion_deg(truth, hinge)).mean())


def limb_direction_error_deg(pred: np.ndarray, truth: np.ndarray, limb: str) -> np.ndarray:
    """[N, 2] angle between the product's and the truth's limb directions, left and right (degrees).

    Directions are compared in the shared camera frame with no alignment, so a wrong global
    orientation counts: this is how the limb looks in the animation.
    """
    out = []
    for a, b in LIMBS[limb]:
        out.append(_angle_deg(pred[:, b] - pred[:, a], truth[:, b] - truth[:, a]))
    return np.stack(out, -1)


def mean_acceleration(joints: np.ndarray, fps: float, valid: np.ndarray | None = None,
                      joint_ids: tuple[int, ...] = EVAL14) -> float:
    """Mean joint acceleration (m/s^2): mean over joints and frames t of |x[t+1] - 2 x[t] + x[t-1]| * fps^2.

    Only frames t whose neighbours t-1, t+1 are valid too count. Positions in the camera frame (root
    motion included, as the animation shows it).
    """
    x = joints[:, joint_ids]
    acc = np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1).mean(-1) * fps ** 2
    if valid is not None:
        acc = acc[valid[2:] & valid[1:-1] & valid[:-2]]
    return float(acc.mean()) if len(acc) else float("nan")


def legs_swapped(pred: np.ndarray, truth: np.ndarray, min_separation: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(swapped [N] bool, decidable [N] bool): frames where the product's legs carry the wrong labels.

    Knees and ankles are taken relative to each skeleton's root (mid-hips). A frame is swapped when
    matching the product's left knee+ankle to the truth's right ones (and vice versa) is closer,
    in summed distance, than matching them as labelled. It is decidable only when the truth's
    left and right legs are apart: the summed knee and ankle distance between them is at least
    `min_separation` metres (otherwise both labellings fit equally well).
    """
    p = pred - root(pred)[:, None]
    t = truth - root(truth)[:, None]
    left, right = list(LEFT_LEG), list(RIGHT_LEG)

    def cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.linalg.norm(a - b, axis=-1).sum(-1)

    straight = cost(p[:, left], t[:, left]) + cost(p[:, right], t[:, right])
    crossed = cost(p[:, left], t[:, right]) + cost(p[:, right], t[:, left])
    decidable = cost(t[:, left], t[:, right]) >= min_separation
    return (crossed < straight) & decidable, decidable


def limb_length_ratio(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Per limb (both sides pooled): median product length / median truth length (1 = right size)."""
    out = {}
    for name, sides in LIMBS.items():
        p = np.concatenate([np.linalg.norm(pred[:, b] - pred[:, a], axis=-1) for a, b in sides])
        t = np.concatenate([np.linalg.norm(truth[:, b] - truth[:, a], axis=-1) for a, b in sides])
        out[name] = float(np.median(p) / np.median(t))
    return out


def root_depth_error(pred: np.ndarray, truth: np.ndarray) -> float:
    """RMS (m) of the root's depth error after removing its mean: sqrt(mean((e - mean(e))^2)), e = z_pred - z_truth.

    The root is the mid-hip point; depth is the camera-frame z. Removing a constant forgives one
    overall scale/distance offset but not depth that wanders or jumps during the clip.
    """
    e = root(pred)[:, 2] - root(truth)[:, 2]
    return float(np.sqrt(np.mean((e - e.mean()) ** 2)))


def floor_up_error_deg(pred_up: np.ndarray, truth_floor: np.ndarray) -> float:
    """Angle (deg) between the product's floor up (camera frame) and the truth's floor normal."""
    return float(_angle_deg(_unit(np.asarray(pred_up, np.float64)), _unit(np.asarray(truth_floor[:3], np.float64))))


def lean_error_deg(pred: np.ndarray, pred_up: np.ndarray, truth: np.ndarray, truth_floor: np.ndarray) -> float:
    """Mean angle (deg) between the product's and the truth's pelvis->neck direction, each in its own
    levelled world: the camera turned so that its floor's up is vertical, as the add-on's Auto import
    levels the scene (the product's `floor_plane`, or the camera's own up when the file has none).

    This is the lean an animator sees: a body upright on the truth's floor but tilted against the
    product's floor (a floor up that is wrong, or a body tilted against a right floor) counts.
    """
    def spine(joints: np.ndarray, up: np.ndarray) -> np.ndarray:
        return (joints[:, 12] - root(joints)) @ level_rotation(up).T

    return float(_angle_deg(spine(pred, pred_up), spine(truth, np.asarray(truth_floor[:3]))).mean())


def planted_frames(soles: np.ndarray, floor: np.ndarray, fps: float, max_height: float = 0.03,
                   max_speed: float = 0.2) -> np.ndarray:
    """[N, 2] truth contacts of the left and right foot from the truth's sole points.

    soles [N, 2, S, 3] (camera frame; S points under each foot, e.g. heel and toe), floor
    (nx, ny, nz, d) with n . x + d = height above the floor. A foot is planted in frame t when one
    of its sole points is within `max_height` m of the floor and moves slower than `max_speed` m/s
    there (central difference): a heel or a toe that grips, as in a rolling stance.
    """
    height = soles @ floor[:3] + floor[3]                       # [N, 2, S]
    speed = np.zeros(height.shape)
    speed[1:-1] = np.linalg.norm(soles[2:] - soles[:-2], axis=-1) * fps / 2
    speed[0], speed[-1] = speed[1], speed[-2]
    return ((height < max_height) & (speed < max_speed)).any(-1)


def foot_skate_mm(joints: np.ndarray, planted: np.ndarray, floor: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean slide (mm per frame) of the ankles along the floor while the truth's foot is planted.

    Over consecutive frame pairs (t, t+1) where the foot is planted in both (and both are valid), the
    ankle's displacement with its component along the floor normal removed; mean over pairs and feet.
    """
    normal = floor[:3] / np.linalg.norm(floor[:3])
    steps = []
    for side, ankle in enumerate((LEFT_ANKLE, RIGHT_ANKLE)):
        d = joints[1:, ankle] - joints[:-1, ankle]
        d = d - (d @ normal)[:, None] * normal
        keep = planted[1:, side] & planted[:-1, side]
        if valid is not None:
            keep &= valid[1:] & valid[:-1]
        steps.append(np.linalg.norm(d[keep], axis=-1))
    steps_all = np.concatenate(steps)
    return float(steps_all.mean() * 1000) if len(steps_all) else float("nan")


def evaluate(pred: np.ndarray, truth: dict[str, np.ndarray], valid: np.ndarray,
             pred_up: np.ndarray | None = None) -> dict[str, float]:
    """The whole table for one clip: product joints [N, 24, 3] (camera frame) against a truth.npz dict.

    `valid` [N] bool marks the frames the product detected. Returned keys (units in the names):
    valid_pct, pa_mpjpe_mm, pa_mpjpe12_mm (limb joints only), mpjpe_mm, knee_flexion_err_deg, elbow_flexion_err_deg,
    <limb>_dir_err_deg (mean), limb_dir_err_median_deg (all four limbs pooled), accel_ratio
    (product / truth), accel_truth_m_s2, legs_swapped_pct (of decidable valid frames),
    <limb>_length_ratio, limb_length_ratio (mean of the four), root_depth_err_m,
    foot_skate_mm (product), foot_skate_truth_mm (the truth's own residual slide), planted_frames,
    pa_joint_<smpl index>_mm (each of the 14 joints after the PA alignment), floor_up_err_deg and
    lean_err_deg (`pred_up`: the product's floor up in the camera frame; None = the camera's own up).
    """
    true_joints = truth["joints_cam"]
    fps = float(truth["fps"])
    floor = truth["floor_cam"]
    if pred.shape != true_joints.shape:
        raise ValueError(f"product joints {pred.shape} and truth joints {true_joints.shape} differ in shape")
    v = np.asarray(valid, bool)
    if not v.any():
        raise ValueError("no valid frame to evaluate")
    p, t = pred[v], true_joints[v]
    out: dict[str, float] = {"valid_pct": 100.0 * v.mean()}
    out["pa_mpjpe_mm"] = 1000 * float(pa_mpjpe(p, t).mean())
    for joint, err in zip(EVAL14, pa_joint_errors(p, t)):
        out[f"pa_joint_{joint}_mm"] = 1000 * float(err)
    out["pa_mpjpe12_mm"] = 1000 * float(pa_mpjpe(p, t, LIMB12).mean())
    out["mpjpe_mm"] = 1000 * float(mpjpe(p, t).mean())
    out["knee_flexion_err_deg"] = flexion_error_deg(p, t, "knee")
    out["elbow_flexion_err_deg"] = flexion_error_deg(p, t, "elbow")
    pooled = []
    for limb in LIMBS:
        err = limb_direction_error_deg(p, t, limb)
        out[f"{limb}_dir_err_deg"] = float(err.mean())
        pooled.append(err.ravel())
    out["limb_dir_err_median_deg"] = float(np.median(np.concatenate(pooled)))
    acc_truth = mean_acceleration(true_joints, fps, v)
    out["accel_truth_m_s2"] = acc_truth
    out["accel_ratio"] = mean_acceleration(pred, fps, v) / acc_truth
    swapped, decidable = legs_swapped(p, t)
    out["legs_swapped_pct"] = 100.0 * swapped.sum() / max(int(decidable.sum()), 1)
    ratios = limb_length_ratio(p, t)
    for limb, ratio in ratios.items():
        out[f"{limb}_length_ratio"] = ratio
    out["limb_length_ratio"] = float(np.mean(list(ratios.values())))
    out["root_depth_err_m"] = root_depth_error(p, t)
    planted = planted_frames(truth["soles_cam"], floor, fps)
    out["planted_frames"] = float(planted.any(-1).sum())
    out["foot_skate_mm"] = foot_skate_mm(pred, planted, floor, v)
    out["foot_skate_truth_mm"] = foot_skate_mm(true_joints, planted, floor, v)
    up = np.array([0.0, -1.0, 0.0]) if pred_up is None else np.asarray(pred_up, np.float64)
    out["floor_up_err_deg"] = floor_up_error_deg(up, floor)
    out["lean_err_deg"] = lean_error_deg(p, up, t, floor)
    return out
