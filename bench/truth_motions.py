"""Ground-truth bodies, motions and cameras for the accuracy harness (pure numpy; never imports bpy).

The synthetic person is a 24-joint skeleton laid out like SMPL's (same joint order and names,
same parents), about 1.75 m tall, so the product's SMPL joints compare one to one. World frame:
Blender's, Z up, metres; in the rest pose the person stands at the origin facing -Y, so their own
left is +X. A motion is a local rotation per joint per frame (rotation vectors, radians, relative
to the rest pose and expressed in the rest pose's world axes, as SMPL's are) plus a root
translation; `forward_kinematics` turns it into world joint positions, which ARE the truth: the
renderer (`make_truth_clips.py`) places every body part with the same global transforms. Seven
motions are procedural; `cmu_kick` is a CMU motion-capture take (`truth/mocap/`) retargeted onto
the skeleton by `mocap_retarget.py`.

Cameras are pinholes with square pixels and the principal point at the image centre. The camera
frame is OpenCV's and the product's: x right, y down, z forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

#: Rest joint positions (world, metres). Hip, knee, ankle, shoulder, elbow and wrist sit at the joint
#: centres (where MediaPipe puts its landmarks); `head` at the middle of the head, ear height.
REST_JOINTS = np.array([
    (0.0, 0.0, 0.95), (0.09, 0.0, 0.89), (-0.09, 0.0, 0.89), (0.0, 0.0, 1.05),
    (0.095, -0.01, 0.50), (-0.095, -0.01, 0.50), (0.0, 0.0, 1.18), (0.10, 0.02, 0.085),
    (-0.10, 0.02, 0.085), (0.0, 0.0, 1.30), (0.10, -0.12, 0.025), (-0.10, -0.12, 0.025),
    (0.0, 0.0, 1.50), (0.07, 0.0, 1.44), (-0.07, 0.0, 1.44), (0.0, -0.01, 1.63),
    (0.19, 0.0, 1.44), (-0.19, 0.0, 1.44), (0.20, 0.01, 1.16), (-0.20, 0.01, 1.16),
    (0.21, 0.0, 0.915), (-0.21, 0.0, 0.915), (0.21, -0.01, 0.83), (-0.21, -0.01, 0.83),
])

#: Points of each sole relative to its ankle in the rest pose (heel, toe); used to stand the feet on Z = 0.
SOLE_OFFSETS = np.array([(0.0, 0.05, -0.08), (0.0, -0.15, -0.08)])

#: SMPL joint indices of the 14 evaluation joints (the LSP-style set used for PA-MPJPE):
#: ankles, knees, hips, wrists, elbows, shoulders, neck, head.
EVAL14: tuple[int, ...] = (8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, 15)

FPS = 30.0

J = {name: i for i, name in enumerate(JOINT_NAMES)}


@dataclass
class Motion:
    """Local rotation vectors [N, 24, 3] (radians) and root translation [N, 3] (world metres)."""

    rotvecs: np.ndarray
    transl: np.ndarray
    feet_on_floor: bool = True  # lift/lower the root so the lowest sole point touches Z = 0
    plant_stance: bool = False  # move the root horizontally so the lower foot's sole does not slide (gaits)
    flight_clearance: float = np.inf  # with plant_stance: lower foot this far above its lowest = flight
    anchor_feet: bool = False   # move the root horizontally so the ankles' midpoint stays put
    lift: np.ndarray | None = None  # extra height [N] added after standing on the floor (jumps)


def forward_kinematics(rotvecs: np.ndarray, transl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotations [N, 24, 3] + root translation [N, 3] -> (joints [N, 24, 3], global rotations [N, 24, 3, 3]).

    joints[:, 0] = transl + REST_JOINTS[0]; each child = parent + G_parent (rest_child - rest_parent),
    with G_j = G_parent(j) L_j (SMPL's convention).
    """
    n = len(rotvecs)
    local = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_matrix().reshape(n, 24, 3, 3)
    glob = np.zeros_like(local)
    joints = np.zeros((n, 24, 3))
    for j, parent in enumerate(PARENTS):
        if parent < 0:
            glob[:, j] = local[:, j]
            joints[:, j] = REST_JOINTS[j] + transl
        else:
            glob[:, j] = glob[:, parent] @ local[:, j]
            joints[:, j] = joints[:, parent] + glob[:, parent] @ (REST_JOINTS[j] - REST_JOINTS[parent])
    return joints, glob


def settle(motion: Motion) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the motion's floor and anchoring rules; returns (transl, joints, global rotations)."""
    transl = motion.transl.astype(float).copy()
    joints, glob = forward_kinematics(motion.rotvecs, transl)
    if motion.plant_stance:
        transl = _planted_path(sole_points(joints, glob) - transl[:, None, None, :], transl, motion.flight_clearance)
    if motion.anchor_feet:
        mid = joints[:, [7, 8], :2].mean(axis=1)
        transl[:, :2] += mid[0] - mid + (motion.transl[:, :2] - motion.transl[0, :2])
    if motion.feet_on_floor:
        joints, glob = forward_kinematics(motion.rotvecs, transl)
        soles = joints[:, [7, 8], None, :] + np.einsum("nfab,sb->nfsa", glob[:, [7, 8]], SOLE_OFFSETS)
        transl[:, 2] -= soles[..., 2].reshape(len(transl), -1).min(axis=1)
    if motion.lift is not None:
        transl[:, 2] += motion.lift
    joints, glob = forward_kinematics(motion.rotvecs, transl)
    return transl, joints, glob


def _planted_path(soles: np.ndarray, start: np.ndarray, flight_clearance: float = 0.03,
                  handover: float = 0.01) -> np.ndarray:
    """Root path [N, 3] along which the stance foot's lowest sole point stays put on the floor.

    soles [N, 2, 2, 3] relative to the root translation. The stance foot grips the floor: between
    frames t-1 and t the root moves opposite to its lowest point's motion relative to the body, so a
    walking or running foot does not skate. The stance passes to the other foot only once that foot
    is `handover` m lower: a foot that is still landing (its sole moving fast relative to the body)
    does not take over in double support, which made the body lurch 12-15 cm in one frame once per
    step (walk_towards_away; now at most 4 cm/frame^2). When even the stance foot is
    `flight_clearance` m above the lowest sole of the clip, nothing grips (a run's flight) and the
    root keeps its velocity. The path starts at `start[0]`; the vertical is left to the floor rule.
    """
    low = soles[..., 2]                        # [N, 2, 2]
    lowest = low.min(-1)                       # [N, 2]
    floor = lowest.min()
    out = np.repeat(start[:1].astype(float), len(soles), axis=0)
    foot = int(lowest[0].argmin())
    for t in range(1, len(soles)):
        other = 1 - foot
        if lowest[t, foot] > lowest[t, other] + handover:
            foot = other
        if lowest[t, foot] >= floor + flight_clearance:  # a run's flight phase: keep the velocity
            out[t, :2] = out[t - 1, :2] + (out[t - 1, :2] - out[t - 2, :2] if t > 1 else 0.0)
            continue
        point = low[t, foot].argmin()
        delta = soles[t, foot, point] - soles[t - 1, foot, point]
        out[t, :2] = out[t - 1, :2] - delta[:2]
    return out


def sole_points(joints: np.ndarray, glob: np.ndarray) -> np.ndarray:
    """[N, 2, 2, 3] world heel and toe points of the left and right foot."""
    return joints[:, [7, 8], None, :] + np.einsum("nfab,sb->nfsa", glob[:, [7, 8]], SOLE_OFFSETS)


# --- procedural motions -------------------------------------------------------------------------------
def _rx(a: np.ndarray) -> np.ndarray:
    return np.stack([a, np.zeros_like(a), np.zeros_like(a)], -1)


def _ry(a: np.ndarray) -> np.ndarray:
    return np.stack([np.zeros_like(a), a, np.zeros_like(a)], -1)


def _rz(a: np.ndarray) -> np.ndarray:
    return np.stack([np.zeros_like(a), np.zeros_like(a), a], -1)


def _compose(*rotvecs: np.ndarray) -> np.ndarray:
    """Rotation vectors [N, 3] applied right to left (first argument outermost)."""
    out = Rotation.from_rotvec(rotvecs[0])
    for r in rotvecs[1:]:
        out = out * Rotation.from_rotvec(r)
    return out.as_rotvec()


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _gait(t: np.ndarray, period: float, hip_amp: float, knee_swing: float, knee_stance: float,
          arm_amp: float, elbow: float, lean: float) -> np.ndarray:
    """Local rotations [N, 24, 3] of a walk/run cycle in place, facing -Y (signs: module docstring)."""
    n = len(t)
    rot = np.zeros((n, 24, 3))
    phase = 2 * np.pi * t / period
    for side, offset in (("left", 0.0), ("right", np.pi)):
        p = phase + offset
        hip = hip_amp * np.sin(p) + 0.05                      # + = thigh forward
        swing = np.clip(np.cos(p - 0.3), 0, None) ** 2       # knee bends while the leg swings forward
        knee = knee_stance + knee_swing * swing
        rot[:, J[f"{side}_hip"]] = _rx(-hip)
        rot[:, J[f"{side}_knee"]] = _rx(knee)
        rot[:, J[f"{side}_ankle"]] = _rx(-0.15 * swing + 0.1 * np.sin(p))
        arm = arm_amp * np.sin(p + np.pi)                    # arms swing against the legs
        sign = 1.0 if side == "left" else -1.0
        rot[:, J[f"{side}_shoulder"]] = _compose(_ry(-sign * 0.12 * np.ones(n)), _rx(-arm))
        rot[:, J[f"{side}_elbow"]] = _rx(-(elbow + 0.4 * elbow * np.clip(np.sin(p + np.pi), 0, None)))
    rot[:, J["pelvis"]] = _rz(0.08 * np.sin(phase))
    rot[:, J["spine1"]] = _rx(lean * np.ones(n))
    rot[:, J["spine3"]] = _rz(-0.12 * np.sin(phase))
    rot[:, J["neck"]] = _rx(-lean * np.ones(n))
    return rot


def _with_heading(rot: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """Turn the whole body by `heading` [N] radians about +Z (0 = facing -Y)."""
    out = rot.copy()
    out[:, 0] = _compose(_rz(heading), rot[:, 0])
    return out


def _centred(motion: Motion, centre: tuple[float, float]) -> Motion:
    """The same motion with its settled root path's bounding box centred on `centre` (x, y)."""
    transl, _, _ = settle(motion)
    middle = 0.5 * (transl[:, :2].min(0) + transl[:, :2].max(0))
    shift = np.array([centre[0] - middle[0], centre[1] - middle[1], 0.0])
    return Motion(motion.rotvecs, motion.transl + shift, motion.feet_on_floor, motion.plant_stance,
                  motion.flight_clearance, motion.anchor_feet, motion.lift)


def walk_across(n: int = 90) -> Motion:
    """Walk along +X across the view, facing +X."""
    t = np.arange(n) / FPS
    period, amp = 1.1, 0.40
    rot = _with_heading(_gait(t, period, amp, 1.0, 0.12, 0.35, 0.25, 0.05), np.full(n, np.pi / 2))
    return _centred(Motion(rot, np.zeros((n, 3)), plant_stance=True), (0.0, 0.0))


def walk_towards_away(n: int = 90) -> Motion:
    """Walk towards the camera (-Y), turn round on the spot, walk away (+Y)."""
    t = np.arange(n) / FPS
    period, amp = 1.1, 0.38
    turn_start, turn_end = 1.45, 2.1
    turning = _smoothstep((t - turn_start) / (turn_end - turn_start))
    heading = np.pi * turning
    rot = _with_heading(_gait(t, period, amp, 1.0, 0.12, 0.33, 0.25, 0.05), heading)
    return _centred(Motion(rot, np.zeros((n, 3)), plant_stance=True), (0.0, 1.0))


def run_circle(n: int = 90, turn_rate: float = 1.75) -> Motion:
    """Run anticlockwise (seen from above) round a circle about 2 m across, starting side-on to the camera."""
    t = np.arange(n) / FPS
    period, amp = 0.72, 0.45
    heading = np.pi / 2 - 0.6 + turn_rate * t  # pi/2 = facing +X (side-on), then turning left
    rot = _with_heading(_gait(t, period, amp, 1.6, 0.25, 0.7, 1.3, 0.18), heading)
    return _centred(Motion(rot, np.zeros((n, 3)), plant_stance=True, flight_clearance=0.03), (0.0, 0.0))


def dance(n: int = 90) -> Motion:
    """Arms raise sideways and forward, one arm waves, the torso twists, the knees bounce."""
    t = np.arange(n) / FPS
    rot = np.zeros((n, 24, 3))
    bounce = 0.5 * (1 - np.cos(2 * np.pi * t / 0.75))
    for side in ("left", "right"):
        rot[:, J[f"{side}_hip"]] = _rx(-0.25 * bounce)
        rot[:, J[f"{side}_knee"]] = _rx(0.5 * bounce)
        rot[:, J[f"{side}_ankle"]] = _rx(-0.25 * bounce)
    raise_side = 1.45 * _smoothstep(t / 0.8) * (1 - _smoothstep((t - 1.4) / 0.6))
    raise_front = 1.9 * _smoothstep((t - 1.6) / 0.7)
    wave = 0.9 + 0.6 * np.sin(2 * np.pi * t / 0.5)
    rot[:, J["left_shoulder"]] = _compose(_ry(-raise_side), _rx(-raise_front))
    rot[:, J["right_shoulder"]] = _compose(_ry(raise_side + 0.3 * _smoothstep((t - 1.6) / 0.7)),
                                           _rx(-0.6 * raise_front))
    rot[:, J["left_elbow"]] = _rx(-0.3 - 0.3 * np.sin(2 * np.pi * t / 1.5) ** 2)
    rot[:, J["right_elbow"]] = _rx(-wave * _smoothstep((t - 1.6) / 0.5) - 0.25)
    rot[:, J["spine2"]] = _rz(0.35 * np.sin(2 * np.pi * t / 1.5))
    rot[:, J["spine1"]] = _ry(0.12 * np.sin(2 * np.pi * t / 3.0))
    rot[:, J["pelvis"]] = _rz(0.3 * np.sin(2 * np.pi * t / 3.0))
    rot[:, J["head"]] = _rx(0.15 * np.sin(2 * np.pi * t / 1.5))
    return Motion(rot, np.zeros((n, 3)), anchor_feet=True)


def squat(n: int = 90) -> Motion:
    """Two deep squats with the arms raised forward for balance."""
    t = np.arange(n) / FPS
    s = 0.5 * (1 - np.cos(2 * np.pi * t / 1.5))
    rot = np.zeros((n, 24, 3))
    hip, knee = 1.55 * s, 1.95 * s
    for side, sign in (("left", 1.0), ("right", -1.0)):
        rot[:, J[f"{side}_hip"]] = _compose(_rz(sign * 0.25 * s), _rx(-hip))
        rot[:, J[f"{side}_knee"]] = _rx(knee)
        rot[:, J[f"{side}_shoulder"]] = _compose(_ry(-sign * 0.1 * np.ones(n)), _rx(-1.5 * s))
        rot[:, J[f"{side}_elbow"]] = _rx(-0.2 - 0.3 * s)
    rot[:, J["pelvis"]] = _rx(0.55 * s)      # the pelvis tips forward, so thigh-vs-world = hip - pelvis
    for side in ("left", "right"):
        rot[:, J[f"{side}_ankle"]] = _rx(-(knee - hip - 0.55 * s) * 1.0)  # feet stay flat
    rot[:, J["spine1"]] = _rx(0.2 * s)
    rot[:, J["neck"]] = _rx(-0.5 * s)
    return Motion(rot, np.zeros((n, 3)), anchor_feet=True)


def jump(n: int = 90) -> Motion:
    """Countermovement jump straight up with an arm swing, then a landing."""
    t = np.arange(n) / FPS
    crouch = _smoothstep((t - 0.4) / 0.45) * (1 - _smoothstep((t - 0.9) / 0.25))
    land = _smoothstep((t - 1.72) / 0.15) * (1 - _smoothstep((t - 1.95) / 0.5))
    s = 0.85 * crouch + 0.6 * land
    rot = np.zeros((n, 24, 3))
    hip, knee = 1.2 * s, 1.6 * s
    arms = -0.7 * crouch + 2.6 * _smoothstep((t - 0.85) / 0.25) * (1 - _smoothstep((t - 1.6) / 0.6))
    for side, sign in (("left", 1.0), ("right", -1.0)):
        rot[:, J[f"{side}_hip"]] = _rx(-hip)
        rot[:, J[f"{side}_knee"]] = _rx(knee)
        rot[:, J[f"{side}_ankle"]] = _rx(-(knee - hip - 0.4 * s))
        rot[:, J[f"{side}_shoulder"]] = _compose(_ry(-sign * 0.15 * np.ones(n)), _rx(-arms))
        rot[:, J[f"{side}_elbow"]] = _rx(-0.25 - 0.25 * s)
    rot[:, J["pelvis"]] = _rx(0.4 * s)
    rot[:, J["neck"]] = _rx(-0.4 * s)
    takeoff, landing = 1.15, 1.72
    tau = np.clip((t - takeoff) / (landing - takeoff), 0, 1)
    lift = 4 * 0.3 * tau * (1 - tau)
    return Motion(rot, np.zeros((n, 3)), anchor_feet=True, lift=lift)


def turn(n: int = 90) -> Motion:
    """A full turn on the spot in small steps, arms slightly out."""
    t = np.arange(n) / FPS
    heading = 2 * np.pi * _smoothstep(t / (n / FPS))
    rot = np.zeros((n, 24, 3))
    step = np.sin(2 * np.pi * t / 0.6)
    for side, sign, s in (("left", 1.0, np.clip(step, 0, None)), ("right", -1.0, np.clip(-step, 0, None))):
        rot[:, J[f"{side}_hip"]] = _rx(-0.35 * s)
        rot[:, J[f"{side}_knee"]] = _rx(0.7 * s)
        rot[:, J[f"{side}_shoulder"]] = _compose(_ry(-sign * 0.45 * np.ones(n)), _rx(-0.2 * np.ones(n)))
        rot[:, J[f"{side}_elbow"]] = _rx(-0.5 * np.ones(n))
    rot = _with_heading(rot, heading)
    return _centred(Motion(rot, np.zeros((n, 3)), plant_stance=True), (0.0, 0.0))


#: Motion-capture excerpts shipped with the harness (licence and source: NOTICE.md there).
MOCAP_DIR = Path(__file__).resolve().parent / "truth" / "mocap"


def cmu_kick(n: int = 90, heading_deg: float = 50.0) -> Motion:
    """CMU Graphics Lab take 11_01 ("soccer - kick ball"): run-up, kick, follow-through, retargeted.

    The shipped excerpt (`truth/mocap/cmu_11_01_kick.bvh`, 361 frames at 120 fps = 3 s) is resampled
    to 30 fps and retargeted onto this skeleton by `mocap_retarget.retarget` (each bone along the
    captured bone, root travel scaled by the leg-length ratio); the whole take is turned by
    `heading_deg` about +Z (the run-up heads towards the camera's left), and its path is centred on
    the origin. Every frame stands on the floor (the floor rule), so a short hop of the
    follow-through stays on the ground.
    """
    if __package__:  # imported as bench.truth_motions (tests) or as a script's top-level module
        from . import mocap_retarget as mr
    else:
        import mocap_retarget as mr
    take = mr.resample(mr.read_bvh(MOCAP_DIR / "cmu_11_01_kick.bvh"), FPS, n)
    rot, transl = mr.retarget(take, JOINT_NAMES, PARENTS, REST_JOINTS)
    heading = np.full(n, np.radians(heading_deg))
    rot = _with_heading(rot, heading)
    turn = Rotation.from_rotvec(_rz(heading)).as_matrix()
    transl = np.einsum("nab,nb->na", turn, transl + REST_JOINTS[0]) - REST_JOINTS[0]
    return _centred(Motion(rot, transl), (0.0, 0.0))


MOTIONS: dict[str, Callable[[int], Motion]] = {
    "walk_across": walk_across, "walk_towards_away": walk_towards_away, "run_circle": run_circle,
    "dance": dance, "squat": squat, "jump": jump, "turn": turn, "cmu_kick": cmu_kick,
}


# --- cameras --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Camera:
    """A static pinhole camera. `rotation` [3, 3] maps world -> camera frame (x right, y down, z forward)."""

    position: np.ndarray
    rotation: np.ndarray
    focal_px: float
    width: int
    height: int

    @property
    def intrinsics(self) -> np.ndarray:
        return np.array([[self.focal_px, 0, self.width / 2], [0, self.focal_px, self.height / 2], [0, 0, 1.0]])

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        """[..., 3] world points -> camera frame (metres)."""
        return (world - self.position) @ self.rotation.T

    def project(self, world: np.ndarray) -> np.ndarray:
        """[..., 3] world points -> [..., 2] pixels (origin top-left, +y down)."""
        cam = self.to_camera(world)
        return cam[..., :2] / cam[..., 2:3] * self.focal_px + np.array([self.width / 2, self.height / 2])

    def floor_plane(self) -> np.ndarray:
        """The floor Z = 0 in the camera frame as (nx, ny, nz, d): n . x + d = 0, n the unit up normal."""
        normal = self.rotation @ np.array([0.0, 0.0, 1.0])
        return np.append(normal, -normal @ self.to_camera(np.zeros(3)))


def look_camera(position: tuple[float, float, float], yaw_deg: float, pitch_deg: float, width: int, height: int,
                focal_px: float | None = None) -> Camera:
    """Camera at `position` looking along heading `yaw_deg` (0 = +Y, 90 = -X) pitched `pitch_deg` down, no roll."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    forward = np.array([-np.sin(yaw) * np.cos(pitch), np.cos(yaw) * np.cos(pitch), -np.sin(pitch)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    return Camera(np.asarray(position, float), rotation, float(focal_px or max(width, height)), width, height)


@dataclass(frozen=True)
class ClipSpec:
    name: str
    motion: str
    camera: Camera
    shirt: tuple[float, float, float]
    trousers: tuple[float, float, float]
    description: str
    frames: int = 90


def _aim(distance: float, pitch_deg: float, aim_height: float, width: int, height: int,
         target_y: float = 0.0, focal_px: float | None = None) -> Camera:
    """Camera on the -Y side, `distance` m horizontally from (0, target_y), aimed at `aim_height` there."""
    z = aim_height + distance * np.tan(np.radians(pitch_deg))
    return look_camera((0.0, target_y - distance, z), 0.0, pitch_deg, width, height, focal_px)


CLIPS: tuple[ClipSpec, ...] = (
    ClipSpec("walk_across_far", "walk_across", _aim(7.0, 0.0, 1.0, 640, 360),
             (0.20, 0.35, 0.70), (0.12, 0.12, 0.16), "walk across the view, level camera 7 m away, landscape"),
    ClipSpec("dance_pitched", "dance", _aim(4.0, 20.0, 0.9, 640, 360),
             (0.75, 0.18, 0.15), (0.15, 0.20, 0.35), "arm raises, waving, twisting, bouncing; camera 4 m, 20 deg down"),
    ClipSpec("run_circle_far", "run_circle", _aim(7.5, 10.0, 0.9, 640, 360),
             (0.85, 0.75, 0.20), (0.10, 0.10, 0.12), "run round a 2.2 m circle; camera 7.5 m from its centre, "
             "10 deg down"),
    ClipSpec("turn_near_portrait", "turn", _aim(2.8, 0.0, 1.0, 360, 640),
             (0.25, 0.55, 0.30), (0.30, 0.22, 0.15), "turn on the spot; level camera 2.8 m, portrait"),
    ClipSpec("walk_towards_pitched", "walk_towards_away", _aim(7.0, 15.0, 0.9, 640, 360, target_y=1.0),
             (0.55, 0.25, 0.60), (0.20, 0.20, 0.22), "walk towards the camera, turn, walk away; 15 deg down"),
    ClipSpec("squat_near_portrait", "squat", _aim(2.6, 25.0, 0.8, 360, 640),
             (0.80, 0.45, 0.15), (0.12, 0.14, 0.25), "two deep squats; camera 2.6 m, 25 deg down, portrait"),
    ClipSpec("jump_far", "jump", _aim(6.5, 0.0, 1.0, 640, 360),
             (0.15, 0.60, 0.65), (0.25, 0.18, 0.12), "countermovement jump; level camera 6.5 m"),
    ClipSpec("cmu_kick_pitched", "cmu_kick", _aim(5.0, 25.0, 0.7, 640, 360),
             (0.65, 0.22, 0.45), (0.30, 0.18, 0.10), "CMU motion capture 11_01: run-up and soccer kick towards "
             "the camera's left-front; camera 5 m, 25 deg down"),
)


def clip_spec(name: str) -> ClipSpec:
    for spec in CLIPS:
        if spec.name == name:
            return spec
    raise KeyError(f"no truth clip named {name!r}; known: {', '.join(c.name for c in CLIPS)}")
