"""Synthetic clips with exact 3D truth, and landmarks spoiled the way MediaPipe spoils them.

A known skeleton (body proportions from `from_lengths`, scaled to a chosen stature) performs a
procedural motion (walk across the view, walk towards the camera, squat, turn on the spot) seen by a
known pinhole camera, possibly pitched down. From the exact joints we make what MediaPipe would
report, with the faults measured on rendered clips (issue 8):

- 2D landmarks with a few pixels of jitter;
- world landmarks (hip-centred, metres) that are uniformly short (`world_scale`, 0.85 measured),
  with per-joint depth noise and occasional depth bias of a whole limb;
- some frames where the legs' left/right labels are swapped, in 2D and 3D together.

Used by tests to hold the fitter, the left/right repair and the scale to the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..body import landmarks_def as lm
from ..builtin.rest_skeleton import RestSkeleton, from_lengths
from ..geometry import camera
from ..geometry.skeleton import axis_angle_to_matrix, global_rotations

#: Adult proportions (metres) for a 1.75 m person, from Drillis & Contini's segment fractions.
BASE_LENGTHS = {
    "hip_width": 0.17, "shoulder_width": 0.34, "torso": 0.50, "thigh": 0.43, "shin": 0.43,
    "upper_arm": 0.30, "forearm": 0.25, "ankle_heel": 0.07, "ankle_toe": 0.15, "heel_toe": 0.19,
    "wrist_index": 0.10, "wrist_pinky": 0.09, "index_pinky": 0.05, "ear_width": 0.15, "neck_head": 0.20,
    "ears_nose": 0.10,
}

LEG_PAIRS = ((lm.LEFT_KNEE, lm.RIGHT_KNEE), (lm.LEFT_ANKLE, lm.RIGHT_ANKLE), (lm.LEFT_HEEL, lm.RIGHT_HEEL),
             (lm.LEFT_TOE, lm.RIGHT_TOE))


@dataclass
class TruthClip:
    rest: RestSkeleton  # true skeleton, body frame
    poses: np.ndarray  # [N, 24, 3] axis-angle, root in the camera frame
    transl: np.ndarray  # [N, 3]
    joints: np.ndarray  # [N, 24, 3] camera frame, metres
    landmarks2d: np.ndarray  # [N, 33, 3] noisy, as MediaPipe would give
    world: np.ndarray  # [N, 33, 3] noisy world landmarks, camera-aligned axes, hip-centred
    swapped: np.ndarray  # [N] bool, legs' labels swapped in this frame
    focal_length: float
    image_size: tuple[int, int]
    fps: float


def true_rest(stature_m: float) -> RestSkeleton:
    return from_lengths({k: v * stature_m / 1.75 for k, v in BASE_LENGTHS.items()})


def _motion(kind: str, n: int, fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local rotations [N, 24, 3] (axis-angle, body frame), yaw [N] (radians) and root path [N, 3] (level
    camera frame) for a procedural motion."""
    t = np.arange(n) / fps
    aa = np.zeros((n, 24, 3))
    # Arms down from the T-pose, elbows a little bent.
    aa[:, 16, 2] = -np.deg2rad(70)
    aa[:, 17, 2] = np.deg2rad(70)
    yaw = np.zeros(n)
    path = np.zeros((n, 3))
    if kind in ("walk_across", "walk_towards", "walk_away", "run_circle"):
        speed = {"walk_across": 1.3, "walk_towards": 1.2, "walk_away": 1.2, "run_circle": 3.0}[kind]
        cadence = {"walk_across": 0.9, "walk_towards": 0.9, "walk_away": 0.9, "run_circle": 1.4}[kind]  # strides/s
        phase = 2 * np.pi * cadence * t
        swing = np.deg2rad(28 if kind != "run_circle" else 40)
        for side, sign in ((1, 1.0), (2, -1.0)):
            aa[:, side, 0] = -swing * sign * np.sin(phase)  # hip flexion: negative about x = forward
            knee = np.deg2rad(8) + np.deg2rad(55 if kind != "run_circle" else 85) * np.clip(
                np.sin(phase * sign + (0 if sign > 0 else np.pi) - 1.2), 0, None) ** 2
            aa[:, side + 3, 0] = knee
        for arm, sign in ((16, -1.0), (17, 1.0)):
            aa[:, arm, 0] = np.deg2rad(20) * sign * np.sin(phase)
        aa[:, 18, 1] = -np.deg2rad(25 if kind != "run_circle" else 80)
        aa[:, 19, 1] = np.deg2rad(25 if kind != "run_circle" else 80)
        bob = 0.02 * np.cos(2 * phase)
        if kind == "walk_across":
            yaw[:] = np.pi / 2  # facing image right
            path = np.stack([-2.0 + speed * t, 0.0 * t + bob, np.full(n, 5.5)], -1)
        elif kind == "walk_towards":
            yaw[:] = 0.2
            path = np.stack([0.3 * np.sin(0.5 * t), bob, 7.0 - speed * t], -1)
        elif kind == "walk_away":  # back to the camera
            yaw[:] = np.pi + 0.2
            path = np.stack([0.3 * np.sin(0.5 * t), bob, 4.0 + speed * t], -1)
        else:
            radius = 2.0
            ang = speed / radius * t
            path = np.stack([radius * np.sin(ang), bob, 6.5 + radius * np.cos(ang)], -1)
            yaw = ang + np.pi / 2 + np.pi
    elif kind == "squat":
        depth = 0.5 * (1 - np.cos(2 * np.pi * 0.5 * t))
        aa[:, 1, 0] = aa[:, 2, 0] = -np.deg2rad(95) * depth
        aa[:, 4, 0] = aa[:, 5, 0] = np.deg2rad(110) * depth
        aa[:, 7, 0] = aa[:, 8, 0] = -np.deg2rad(25) * depth
        aa[:, 3, 0] = np.deg2rad(15) * depth
        aa[:, 16, 2], aa[:, 17, 2] = -np.deg2rad(10), np.deg2rad(10)
        aa[:, 16, 1], aa[:, 17, 1] = -np.deg2rad(80) * depth, np.deg2rad(80) * depth  # arms forward
        yaw[:] = 0.5
        path = np.stack([np.zeros(n), 0.35 * depth, np.full(n, 3.2)], -1)
    elif kind == "turn":
        yaw = 2 * np.pi * t / (n / fps)
        aa[:, 16, 0] = np.deg2rad(30) * np.sin(2 * np.pi * t)
        aa[:, 18, 1] = -np.deg2rad(60)
        aa[:, 19, 1] = np.deg2rad(60)
        path = np.stack([np.zeros(n), np.zeros(n), np.full(n, 4.0)], -1)
    else:
        raise ValueError(f"unknown motion {kind!r}")
    return aa, yaw, path


def make_clip(kind: str = "walk_across", n: int = 90, fps: float = 30.0, stature_m: float = 1.78,
              pitch_deg: float = 0.0, image_size: tuple[int, int] = (1280, 720), jitter_px: float = 3.0,
              world_scale: float = 0.85, depth_noise_m: float = 0.06, swap_fraction: float = 0.05,
              seed: int = 0) -> TruthClip:
    """A clip of `kind` with exact truth and MediaPipe-like landmarks (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rest = true_rest(stature_m)
    aa, yaw, path = _motion(kind, n, fps)
    # Body frame (y up, z forward) -> level camera frame (y down, z away): facing the camera is a
    # half turn about x; yaw turns about the body's up axis first.
    facing = np.diag([1.0, -1.0, -1.0])
    yaw_rot = axis_angle_to_matrix(np.stack([np.zeros(n), yaw, np.zeros(n)], -1))
    pitch = axis_angle_to_matrix(np.array([-np.deg2rad(pitch_deg), 0.0, 0.0]))  # camera tilted down
    root = pitch @ facing @ yaw_rot
    aa[:, 0] = _matrix_to_aa(root)
    level_joints_root = rest.joints[0]
    # Place the pelvis on the path, standing on a floor: feet reach y = path_y + leg length.
    transl = (pitch @ (path + np.array([0.0, -0.05, 0.0])).T).T - level_joints_root
    from ..geometry.skeleton import forward_kinematics

    joints = forward_kinematics(aa, rest.joints, transl)
    glob = global_rotations(axis_angle_to_matrix(aa))
    marks = {name: joints[:, j] + np.einsum("nij,j->ni", glob[:, j], rest.marker_offset(name))
             for name, (j, _) in rest.markers.items()}
    points = np.zeros((n, 33, 3))
    for smpl, landmark in lm.SMPL_TO_LANDMARK.items():
        points[:, landmark] = joints[:, smpl]
    for name, landmark in (("left_heel", lm.LEFT_HEEL), ("right_heel", lm.RIGHT_HEEL), ("left_index", lm.LEFT_INDEX),
                           ("right_index", lm.RIGHT_INDEX), ("left_pinky", lm.LEFT_PINKY),
                           ("right_pinky", lm.RIGHT_PINKY), ("left_ear", lm.LEFT_EAR), ("right_ear", lm.RIGHT_EAR),
                           ("nose", lm.NOSE)):
        points[:, landmark] = marks[name]
    for k in (1, 2, 3, 4, 5, 6, 9, 10):  # eyes and mouth: near the nose
        points[:, k] = marks["nose"]
    points[:, 21], points[:, 22] = marks["left_index"], marks["right_index"]  # thumbs
    pixels = camera.project(points, 1.0, (0, 0))  # normalised; scaled below
    focal = float(max(image_size))
    pixels = camera.project(points, focal, image_size) + rng.normal(0.0, jitter_px, (n, 33, 2))
    visibility = np.full((n, 33, 1), 0.95)
    lm2d = np.concatenate([pixels, visibility], -1)
    hip_mid = points[:, [lm.LEFT_HIP, lm.RIGHT_HIP]].mean(1, keepdims=True)
    world = (points - hip_mid) * world_scale
    world[..., 2] += rng.normal(0.0, depth_noise_m, (n, 33))
    # Whole-limb depth bias that drifts slowly (MediaPipe's depth guesses are correlated in time).
    drift = np.cumsum(rng.normal(0.0, 0.02, (n, 4)), 0)
    for limb, ids in enumerate(((25, 27, 29, 31), (26, 28, 30, 32), (13, 15, 17, 19), (14, 16, 18, 20))):
        world[:, list(ids), 2] += np.clip(drift[:, limb:limb + 1], -0.15, 0.15)
    swapped = np.zeros(n, bool)
    if swap_fraction > 0 and n > 12:
        count = max(1, int(round(swap_fraction * n / 3)))
        for start in rng.choice(np.arange(5, n - 5), count, replace=False):
            swapped[start:start + 3] = True
    for a, b in LEG_PAIRS:
        for arr in (lm2d, world):
            arr[swapped, a], arr[swapped, b] = arr[swapped, b].copy(), arr[swapped, a].copy()
    _ = pixels
    return TruthClip(rest=rest, poses=aa.astype(np.float64), transl=transl, joints=joints, landmarks2d=lm2d,
                     world=world, swapped=swapped, focal_length=focal, image_size=image_size, fps=fps)


def _matrix_to_aa(rot: np.ndarray) -> np.ndarray:
    from ..geometry.skeleton import matrix_to_axis_angle

    return matrix_to_axis_angle(rot)


def procrustes_mpjpe(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-frame PA-MPJPE (metres) of [N, J, 3] against [N, J, 3]: similarity-aligned per frame."""
    out = np.empty(len(pred))
    for i, (p, t) in enumerate(zip(pred, truth)):
        pc, tc = p - p.mean(0), t - t.mean(0)
        u, s, vt = np.linalg.svd(pc.T @ tc)
        d = np.sign(np.linalg.det(u @ vt))
        fix = np.diag([1.0, 1.0, d])
        rot = u @ fix @ vt
        scale = (s * np.diag(fix)).sum() / (pc ** 2).sum()
        out[i] = np.linalg.norm(scale * pc @ rot - tc, axis=-1).mean()
    return out
