"""Synthetic motions with known truth for the grounding stage: a walk, jumps, a seated person.

Built in a world frame (y up, floor at y = 0, metres) on SMPL's mean rest skeleton, then seen by
a pinhole camera pitched down by a chosen angle, and returned in the motion file's camera frame
(x right, y down, z forward). `add_mediapipe_like_noise` adds what the built-in model's output
shows after smoothing: per-joint rotation jitter, root jitter (worst in depth) and 2-5 cm of
sliding of each planted foot (a slow drift of the hip angle over the stance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry.skeleton import JOINT_INDEX, PARENTS, forward_kinematics, matrix_to_axis_angle

#: SMPL neutral rest joints (mean shape), body frame: y up, metres, the body facing +z.
SMPL_REST_JOINTS = np.array([
    [-0.0018, -0.2233, 0.0282], [0.0695, -0.3141, 0.0239], [-0.0678, -0.3143, 0.0215],
    [-0.0043, -0.1144, 0.0015], [0.1026, -0.6895, 0.0169], [-0.1055, -0.6941, 0.0151],
    [0.0013, 0.0203, 0.0026], [0.0884, -1.0877, -0.0267], [-0.0918, -1.0914, -0.0273],
    [0.0024, 0.0736, 0.0280], [0.1149, -1.1439, 0.0929], [-0.1178, -1.1441, 0.0968],
    [-0.0002, 0.2877, -0.0152], [0.0769, 0.1958, -0.0027], [-0.0757, 0.1955, -0.0061],
    [0.0033, 0.3523, 0.0409], [0.1999, 0.2393, -0.0180], [-0.1913, 0.2369, -0.0152],
    [0.4547, 0.2216, -0.0410], [-0.4524, 0.2219, -0.0448], [0.7159, 0.2340, -0.0346],
    [-0.7194, 0.2311, -0.0386], [0.8038, 0.2239, -0.0497], [-0.8054, 0.2230, -0.0520],
])
LEGS = (("left_hip", "left_knee", "left_ankle", "left_foot"), ("right_hip", "right_knee", "right_ankle", "right_foot"))


@dataclass
class SyntheticClip:
    """Truth and camera for one synthetic clip (camera frame unless said otherwise)."""

    poses: np.ndarray        # [N, 24, 3] axis-angle, root in the camera frame
    transl: np.ndarray       # [N, 3]
    rest_joints: np.ndarray  # [24, 3]
    contacts: np.ndarray     # [N, 4] bool, CONTACT_JOINTS order (ankle, ball per foot)
    fps: float
    up: np.ndarray           # [3] true up in the camera frame
    camera_height: float     # metres above the floor
    world_from_camera: np.ndarray  # [3, 3]
    camera_position: np.ndarray    # [3] world
    flight: np.ndarray | None = None  # [N] bool: both feet in the air (jumps)

    def joints(self, poses: np.ndarray | None = None, transl: np.ndarray | None = None) -> np.ndarray:
        return forward_kinematics(self.poses if poses is None else poses, self.rest_joints,
                                  self.transl if transl is None else transl)

    def to_world(self, joints: np.ndarray) -> np.ndarray:
        return joints @ self.world_from_camera.T + self.camera_position


def _rot_y(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    z, o = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(angle.shape + (3, 3))


def _rot_axis(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    from ..geometry.skeleton import axis_angle_to_matrix

    return axis_angle_to_matrix(np.asarray(axis, float) * np.asarray(angle, float)[..., None])


def _frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """[..., 3, 3] orthonormal frame: columns (primary, secondary made orthogonal, their cross)."""
    a = primary / np.linalg.norm(primary, axis=-1, keepdims=True)
    b = secondary - (secondary * a).sum(-1, keepdims=True) * a
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


def _leg_globals(hip: np.ndarray, ankle: np.ndarray, forward: np.ndarray, rest: np.ndarray,
                 ids: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """World rotations of thigh and shin that put the ankle at `ankle`, knee bending forward."""
    h, k, a = ids
    upper, lower = np.linalg.norm(rest[k] - rest[h]), np.linalg.norm(rest[a] - rest[k])
    to = ankle - hip
    dist = np.linalg.norm(to, axis=-1)
    if np.any(dist > upper + lower - 1e-4):
        raise ValueError(f"synthetic leg out of reach by {float((dist - upper - lower).max()):.4f} m")
    axis = to / dist[:, None]
    pole = forward - (forward * axis).sum(-1, keepdims=True) * axis
    pole /= np.linalg.norm(pole, axis=-1, keepdims=True)
    along = (upper**2 - lower**2 + dist**2) / (2 * dist)
    knee = hip + axis * along[:, None] + pole * np.sqrt(np.maximum(upper**2 - along**2, 0))[:, None]
    rest_fwd = np.array([0.0, 0.0, 1.0])
    rest_thigh = _frame(rest[k] - rest[h], rest_fwd)
    rest_shin = _frame(rest[a] - rest[k], rest_fwd)
    g_thigh = _frame(knee - hip, forward) @ rest_thigh.T
    g_shin = _frame(ankle - knee, forward) @ rest_shin.T
    return g_thigh, g_shin


def _assemble(root_rot: np.ndarray, pelvis: np.ndarray, feet: list[np.ndarray], foot_rot: np.ndarray,
              upper_local: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World-frame poses [N, 24, 3 ,3 local] and root position from leg targets; returns (local, transl)."""
    n = len(pelvis)
    local = np.tile(np.eye(3), (n, 24, 1, 1))
    local[:] = upper_local
    local[:, 0] = root_rot
    forward = root_rot[:, :, 2]
    for leg, ankle in zip(LEGS, feet, strict=True):
        h, k, a, _ = (JOINT_INDEX[name] for name in leg)
        hip = pelvis + np.einsum("nij,j->ni", root_rot, rest[h] - rest[0])
        g_thigh, g_shin = _leg_globals(hip, ankle, forward, rest, (h, k, a))
        local[:, h] = np.swapaxes(root_rot, -1, -2) @ g_thigh
        local[:, k] = np.swapaxes(g_thigh, -1, -2) @ g_shin
        local[:, a] = np.swapaxes(g_shin, -1, -2) @ foot_rot
    return local, pelvis - rest[0]


def _upper_body(n: int, fps: float, seed: int) -> np.ndarray:
    """Some arm swing and spine sway, so "joints above the hips" are not all still."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fps
    local = np.tile(np.eye(3), (n, 24, 1, 1))
    for name in ("spine1", "spine2", "spine3", "neck", "head", "left_shoulder", "right_shoulder",
                 "left_elbow", "right_elbow"):
        j = JOINT_INDEX[name]
        amp = 0.35 if "shoulder" in name or "elbow" in name else 0.05
        axis = rng.normal(size=3)
        local[:, j] = _rot_axis(axis / np.linalg.norm(axis), amp * np.sin(2 * np.pi * 0.9 * t + rng.uniform(0, 6)))
    return local


def _camera(pitch_deg: float, look_at: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """(camera-from-world rotation, camera position): looking along world -z, pitched down."""
    p = np.radians(pitch_deg)
    forward = np.array([0.0, -np.sin(p), -np.cos(p)])
    down = np.array([0.0, -np.cos(p), np.sin(p)])
    right = np.cross(down, forward)
    r_cw = np.stack([right, down, forward])
    return r_cw, look_at - distance * forward


def _to_camera(local: np.ndarray, pelvis_transl: np.ndarray, rest: np.ndarray, pitch_deg: float,
               look_at: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r_cw, position = _camera(pitch_deg, look_at, distance)
    local = local.copy()
    local[:, 0] = r_cw @ local[:, 0]
    root_world = pelvis_transl + rest[0]
    transl = (root_world - position) @ r_cw.T - rest[0]
    return matrix_to_axis_angle(local), transl, r_cw, position


def walking_clip(pitch_deg: float = 15.0, fps: float = 30.0, seconds: float = 5.0, heading_deg: float = 30.0,
                 seed: int = 0) -> SyntheticClip:
    """A flat-footed walk (stance 60 % of a 1.2 s cycle, 0.8 m/s) along a line `heading_deg` off the
    image's x axis, towards the camera; feet are exactly still while planted."""
    rest = SMPL_REST_JOINTS.copy()
    n = int(round(seconds * fps))
    t = np.arange(n) / fps
    period, stance, speed = 1.2, 0.6, 0.8
    heading = np.radians(heading_deg)
    direction = np.array([np.cos(heading), 0.0, np.sin(heading)])
    side = np.cross(np.array([0.0, 1.0, 0.0]), direction)   # the walker's left
    yaw = np.arctan2(direction[0], direction[2])
    root_rot = np.broadcast_to(_rot_y(np.array(yaw)), (n, 3, 3)).copy()
    start = -0.5 * speed * seconds * direction
    ball_rest = rest[JOINT_INDEX["left_foot"], 1]
    contacts = np.zeros((n, 4), bool)
    feet = []
    for leg, phase_shift in ((0, 0.0), (1, 0.5)):
        ankle_id = JOINT_INDEX[LEGS[leg][2]]
        lateral = rest[ankle_id, 0]
        ankle_height = rest[ankle_id, 1] - ball_rest
        phase = (t / period + phase_shift) % 1.0
        cycle = np.floor(t / period + phase_shift)
        # Stance k holds the foot at the spot the pelvis passes at mid-stance.
        mid_time = (cycle + stance / 2 - phase_shift) * period
        spot = mid_time * speed
        in_stance = phase < stance
        swing = np.clip((phase - stance) / (1 - stance), 0, 1)
        ease = swing * swing * (3 - 2 * swing)
        along = np.where(in_stance, spot, spot + ease * speed * period)
        lift = np.where(in_stance, 0.0, 0.12 * np.sin(np.pi * swing))
        ankle_x = rest[ankle_id, 2] - rest[0, 2]
        ankle = (start + along[:, None] * direction + (lateral * side)[None] * 1.0
                 + ankle_x * direction + (ankle_height + lift)[:, None] * np.array([0, 1.0, 0]))
        feet.append(ankle)
        contacts[:, 2 * leg] = in_stance
        contacts[:, 2 * leg + 1] = in_stance
    pelvis_h = _pelvis_height(feet, start, direction, speed, t, rest, side)
    pelvis = start + (speed * t)[:, None] * direction + pelvis_h[:, None] * np.array([0, 1.0, 0])
    upper = _upper_body(n, fps, seed)
    local, transl_w = _assemble(root_rot, pelvis, feet, root_rot, upper, rest)
    poses, transl, r_cw, position = _to_camera(local, transl_w, rest, pitch_deg, np.array([0.0, 1.0, 0.0]), 6.0)
    return SyntheticClip(poses=poses, transl=transl, rest_joints=rest, contacts=contacts, fps=fps,
                         up=r_cw @ np.array([0.0, 1.0, 0.0]), camera_height=float(position[1]),
                         world_from_camera=r_cw.T, camera_position=position)


def _pelvis_height(feet: list[np.ndarray], start: np.ndarray, direction: np.ndarray, speed: float,
                   t: np.ndarray, rest: np.ndarray, side: np.ndarray) -> np.ndarray:
    """The highest pelvis (below standing) that keeps both knees bent at least ~20 degrees."""
    base = start + (speed * t)[:, None] * direction
    heights = np.full(len(t), rest[0, 1] - rest[JOINT_INDEX["left_foot"], 1] - 0.02)
    for leg, ankle in zip(LEGS, feet, strict=True):
        h, k, a = (JOINT_INDEX[name] for name in leg[:3])
        reach = (np.linalg.norm(rest[k] - rest[h]) + np.linalg.norm(rest[a] - rest[k])) * np.cos(np.radians(10))
        hip_off = rest[h] - rest[0]
        hip_flat = base + hip_off[0] * side + hip_off[2] * direction
        horizontal = np.linalg.norm((ankle - hip_flat)[:, [0, 2]], axis=-1)
        vertical = np.sqrt(np.maximum(reach**2 - horizontal**2, 0.0))
        heights = np.minimum(heights, ankle[:, 1] + vertical - hip_off[1])
    # A smooth bob no higher than allowed anywhere: a running minimum, then a short average of that.
    window = 5
    padded = np.pad(heights, window, mode="edge")
    low = np.array([padded[i:i + 2 * window + 1].min() for i in range(len(heights))])
    kernel = np.ones(2 * window + 1) / (2 * window + 1)
    smooth = np.convolve(np.pad(low, window, mode="edge"), kernel, mode="valid")
    return np.minimum(smooth, heights) - 0.005


def jumping_clip(pitch_deg: float = 15.0, fps: float = 30.0, seed: int = 0) -> SyntheticClip:
    """Standing, then two vertical jumps (crouch, 0.4 s of flight with the feet 20 cm up, land)."""
    rest = SMPL_REST_JOINTS.copy()
    n = int(round(4.0 * fps))
    t = np.arange(n) / fps
    stand = rest[0, 1] - rest[JOINT_INDEX["left_foot"], 1] - 0.03
    pelvis_h = np.full(n, stand)
    foot_lift = np.zeros(n)
    flight = np.zeros(n, bool)
    for t0 in (1.0, 2.6):
        crouch = np.exp(-0.5 * ((t - (t0 - 0.25)) / 0.1) ** 2) + np.exp(-0.5 * ((t - (t0 + 0.6)) / 0.1) ** 2)
        pelvis_h -= 0.18 * crouch
        air = (t >= t0) & (t <= t0 + 0.4)
        s = np.clip((t - t0) / 0.4, 0, 1)
        arc = 4 * s * (1 - s)
        foot_lift += np.where(air, 0.2 * arc, 0.0)
        pelvis_h += np.where(air, 0.2 * arc, 0.0)
        flight |= air & (arc > 0.15)
    root_rot = np.broadcast_to(_rot_y(np.array(np.radians(20.0))), (n, 3, 3)).copy()
    pelvis = np.stack([np.zeros(n), pelvis_h, np.zeros(n)], -1)
    feet, contacts = [], np.zeros((n, 4), bool)
    ball_rest = rest[JOINT_INDEX["left_foot"], 1]
    for leg in range(2):
        a = JOINT_INDEX[LEGS[leg][2]]
        spot = root_rot[0] @ (rest[a] - rest[0])
        spot[1] = rest[a, 1] - ball_rest
        ankle = np.tile(spot, (n, 1))
        ankle[:, 1] += foot_lift
        feet.append(ankle)
        contacts[:, 2 * leg] = contacts[:, 2 * leg + 1] = foot_lift < 1e-6
    local, transl_w = _assemble(root_rot, pelvis, feet, root_rot, _upper_body(n, fps, seed), rest)
    poses, transl, r_cw, position = _to_camera(local, transl_w, rest, pitch_deg, np.array([0.0, 1.0, 0.0]), 5.0)
    return SyntheticClip(poses=poses, transl=transl, rest_joints=rest, contacts=contacts, fps=fps,
                         up=r_cw @ np.array([0.0, 1.0, 0.0]), camera_height=float(position[1]),
                         world_from_camera=r_cw.T, camera_position=position, flight=flight)


def seated_clip(pitch_deg: float = 15.0, fps: float = 30.0, seed: int = 0) -> SyntheticClip:
    """Sitting on a high stool, feet off the floor, swinging the lower legs: no contact anywhere."""
    rest = SMPL_REST_JOINTS.copy()
    n = int(round(4.0 * fps))
    t = np.arange(n) / fps
    root_rot = np.broadcast_to(_rot_y(np.array(np.radians(-25.0))), (n, 3, 3)).copy()
    local = _upper_body(n, fps, seed)
    local[:, 0] = root_rot
    left, right = JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]
    x_axis = np.array([1.0, 0.0, 0.0])
    local[:, left] = _rot_axis(x_axis, np.full(n, -np.pi / 2))   # thighs forward, horizontal
    local[:, right] = _rot_axis(x_axis, np.full(n, -np.pi / 2))
    for knee, shift in ((JOINT_INDEX["left_knee"], 0.0), (JOINT_INDEX["right_knee"], np.pi)):
        local[:, knee] = _rot_axis(x_axis, np.pi / 2 + 0.6 * np.sin(2 * np.pi * t / 1.2 + shift))
    pelvis = np.tile(np.array([0.0, 0.75, 0.0]), (n, 1))
    poses, transl, r_cw, position = _to_camera(local, pelvis - rest[0], rest, pitch_deg,
                                               np.array([0.0, 1.0, 0.0]), 5.0)
    return SyntheticClip(poses=poses, transl=transl, rest_joints=rest, contacts=np.zeros((n, 4), bool), fps=fps,
                         up=r_cw @ np.array([0.0, 1.0, 0.0]), camera_height=float(position[1]),
                         world_from_camera=r_cw.T, camera_position=position)


def add_mediapipe_like_noise(clip: SyntheticClip, seed: int = 0, rotation_deg: float = 1.5,
                             root_noise_m: tuple[float, float, float] = (0.01, 0.01, 0.04),
                             slide_m: tuple[float, float] = (0.02, 0.05), smooth: float = 1.0
                             ) -> tuple[np.ndarray, np.ndarray]:
    """(poses, transl) as the built-in model would give them after its smoothing.

    Per-joint rotation jitter (degrees, per axis), root translation jitter (metres, x/y/z in the
    camera frame: depth is the least certain), and during each planted stretch of a foot a slow
    drift of the hip angle that slides the foot by 2-5 cm; then the pipeline's own smoothing.
    """
    from ..geometry.skeleton import axis_angle_to_matrix
    from ..geometry.smoothing import smooth_translation
    from ..pipeline.post import smooth_poses

    rng = np.random.default_rng(seed)
    n = len(clip.poses)
    local = axis_angle_to_matrix(clip.poses)
    noise = rng.normal(scale=np.radians(rotation_deg), size=(n, 24, 3))
    jitter = axis_angle_to_matrix(noise)
    local = local @ jitter
    rest = clip.rest_joints
    for leg in range(2):
        hip = JOINT_INDEX[LEGS[leg][0]]
        leg_length = float(np.linalg.norm(rest[JOINT_INDEX[LEGS[leg][2]]] - rest[hip]))
        planted = clip.contacts[:, 2 * leg]
        edges = np.diff(np.concatenate([[0], planted.astype(int), [0]]))
        for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            slide = rng.uniform(*slide_m) * rng.choice([-1.0, 1.0])
            ramp = np.linspace(-0.5, 0.5, end - start) * slide / leg_length
            local[start:end, hip] = local[start:end, hip] @ _rot_axis(np.array([1.0, 0, 0]), ramp)
    poses = matrix_to_axis_angle(local)
    transl = clip.transl + rng.normal(size=(n, 3)) * np.asarray(root_noise_m)
    if smooth > 0:
        poses = smooth_poses(poses, clip.fps, smooth)
        transl = smooth_translation(transl, clip.fps, smooth)
    return np.asarray(poses, np.float64), np.asarray(transl, np.float64)


__all__ = ["PARENTS", "SyntheticClip", "add_mediapipe_like_noise", "jumping_clip", "seated_clip", "walking_clip"]
