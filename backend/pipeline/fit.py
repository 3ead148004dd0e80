"""Whole-clip fitting: joint rotations, root trajectory and one set of bone lengths, against the 2D landmarks.

The per-frame IK (`ik.py`) aims every bone along MediaPipe's 3D landmarks. Those are good in the
image plane but poor in depth (the root jumps 0.3-0.5 m within a few frames) and about 15 % short.
MediaPipe's 2D landmarks are far better (6-14 px from the true joints). This stage keeps the IK
result as the starting point and solves, over the whole clip, for

- each frame's joint rotations (knees and elbows as one-angle hinges inside their human range, the
  three spine joints sharing one bend, hands and feet rigid with wrists and ankles),
- each frame's root translation (camera frame, metres),
- one set of bone lengths for the clip (bone groups scaled from the measured proportions, overall
  size set by the person's stature: `--height`, or `STATURE_PRIOR_M`),

minimising (all terms in `Weights`):

- reprojection onto MediaPipe's 2D landmarks, weighted by their visibility, with a pseudo-Huber
  penalty in units of the person's box height (robust to a landmark that is badly off);
- MediaPipe's 3D bone directions as a prior: (1 - cosine) per bone, and separately the squared
  difference of the bone's component along the viewing ray, where the 2D landmarks say nothing.
  Measured on the ground-truth harness (bench/bench_accuracy.py, walk_across_far): with a weak
  prior the fit tilted occluded limbs in depth to match their guessed 2D (PA-MPJPE 72 mm against 56
  per frame); with these weights 49 mm;
- joint limits: hinge angles outside `ik.KNEE_RANGE` / `ik.ELBOW_RANGE` cost quadratically;
- temporal smoothness: squared acceleration of every joint and of the root (m/s^2), scaled by the
  user's `--smooth` strength, with its component along the viewing ray weighted more
  (`Weights.depth_smoothing`: the 2D sees depth least); the corrections to the IK live in a cubic
  B-spline basis over time (a knot every `KNOT_FRAMES`) and start from the IK smoothed by the zero-phase One-Euro filter
  (`START_SMOOTHING`), so they cannot add frame-to-frame jitter;
- a weak pull of each rotation towards the IK result, so joints the landmarks barely see (collars,
  spine twist) stay where the IK put them.

`extra_terms` lets later stages add their own terms to the same objective: `refit_clip` runs a second
pass from the first one's result with the grounding stage's floor and contacts
(`grounding.contact_term`), which the first pass's motion shows.

Optimiser: scipy's L-BFGS-B on the exact gradient, which this module computes by hand (reverse mode
through the kinematic tree, rotation updates through SO(3)'s left Jacobian; a test checks it against
finite differences). Bone lengths are solved first on up to `LENGTH_FRAMES` frames spread over
the clip; poses and root are then solved in overlapping windows of `WINDOW` frames, each
starting from the last `CONTEXT` frames of the previous window held fixed (so the motion stays
continuous across window joins) and committing all but its last `LOOKAHEAD` frames (which the next
window solves again with the future in view). Memory is therefore bounded by the window, not the
clip.

Coordinate frames: poses and translation are SMPL's (local axis-angle, root in the camera frame:
x right, y down, z forward, metres), as everywhere in the backend; rest joints in the body frame
(y up, metres).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..body import landmarks_def as lm
from ..builtin.ik import ELBOW_RANGE, KNEE_RANGE
from ..builtin.rest_skeleton import RestSkeleton
from ..geometry import camera, smoothing
from ..geometry.skeleton import NUM_JOINTS, PARENTS, axis_angle_to_matrix, matrix_to_axis_angle

log = logging.getLogger(__name__)

#: Stature used when the user gives none (metres): the mean of adult men's (1.76 m) and women's
#: (1.63 m) stature in Europe and North America, NCD Risk Factor Collaboration, eLife 2016
#: (doi:10.7554/eLife.13410). A person of 1.60 or 1.80 m is then within 6-9 % in size.
STATURE_PRIOR_M = 1.70
#: Stature as a multiple of the ankle -> ear chain (shin + thigh + hip-to-shoulder + shoulder-to-ear):
#: segment heights as fractions of stature from Drillis & Contini (1966), as tabulated in Winter,
#: "Biomechanics and Motor Control of Human Movement", 4th ed., fig. 4.1: ankle 0.039, ear level
#: about 0.930 of stature, so the chain spans 0.891 of it.
CHAIN_FRACTION_OF_STATURE = 0.891

WINDOW = 128
CONTEXT = 3
LOOKAHEAD = 16
LENGTH_FRAMES = 48
KNOT_FRAMES = 3  # spline knot spacing of the corrections (frames)
ITERATIONS = 40  # L-BFGS-B iterations per window
#: Zero-phase One-Euro strength (times --smooth) of the IK the windows start from.
START_SMOOTHING = 6.0
LENGTH_ITERATIONS = 60
REFIT_ITERATIONS = 40  # L-BFGS-B iterations per window of the second pass

#: Free 3-DoF joints (local rotation = IK rotation @ exp(delta)); 0 (root) is delta @ IK, in the camera frame.
FREE_JOINTS = (0, 1, 2, 7, 8, 12, 13, 14, 15, 16, 17, 20, 21)
SPINE = (3, 6, 9)
#: Hinges: joint -> (axis in the parent's frame, range in degrees) as in ik.py.
HINGES: dict[int, tuple[tuple[float, float, float], tuple[float, float]]] = {
    4: ((1.0, 0.0, 0.0), KNEE_RANGE), 5: ((1.0, 0.0, 0.0), KNEE_RANGE),
    18: ((0.0, -1.0, 0.0), ELBOW_RANGE), 19: ((0.0, 1.0, 0.0), ELBOW_RANGE),
}
#: Bone-length groups: name -> joints whose offset from their parent the group scales.
LENGTH_GROUPS: dict[str, tuple[int, ...]] = {
    "hip_width": (1, 2), "thigh": (4, 5), "shin": (7, 8), "foot": (10, 11), "torso": (3, 6, 9, 12, 13, 14),
    "neck_head": (15,), "shoulder_width": (16, 17), "upper_arm": (18, 19), "forearm": (20, 21), "hand": (22, 23),
}
#: Markers (rest_skeleton names) scale with the group of the joint they hang from.
MARKER_GROUP = {"left_heel": "foot", "right_heel": "foot", "left_toe": "foot", "right_toe": "foot",
                "left_index": "hand", "right_index": "hand", "left_pinky": "hand", "right_pinky": "hand",
                "left_ear": "neck_head", "right_ear": "neck_head", "nose": "neck_head"}
MARKER_LANDMARK = {"left_heel": lm.LEFT_HEEL, "right_heel": lm.RIGHT_HEEL, "left_index": lm.LEFT_INDEX,
                   "right_index": lm.RIGHT_INDEX, "left_pinky": lm.LEFT_PINKY, "right_pinky": lm.RIGHT_PINKY,
                   "left_ear": lm.LEFT_EAR, "right_ear": lm.RIGHT_EAR, "nose": lm.NOSE}
#: Joints reprojected onto a landmark at the same anatomical point.
JOINT_LANDMARK = dict(lm.SMPL_TO_LANDMARK)
#: Bones whose 3D direction MediaPipe's world landmarks suggest: (joint a, joint b, landmark a, landmark b).
DIRECTION_BONES = (
    (1, 4, lm.LEFT_HIP, lm.LEFT_KNEE), (2, 5, lm.RIGHT_HIP, lm.RIGHT_KNEE),
    (4, 7, lm.LEFT_KNEE, lm.LEFT_ANKLE), (5, 8, lm.RIGHT_KNEE, lm.RIGHT_ANKLE),
    (7, 10, lm.LEFT_ANKLE, lm.LEFT_TOE), (8, 11, lm.RIGHT_ANKLE, lm.RIGHT_TOE),
    (16, 18, lm.LEFT_SHOULDER, lm.LEFT_ELBOW), (17, 19, lm.RIGHT_SHOULDER, lm.RIGHT_ELBOW),
    (18, 20, lm.LEFT_ELBOW, lm.LEFT_WRIST), (19, 21, lm.RIGHT_ELBOW, lm.RIGHT_WRIST),
    (2, 1, lm.RIGHT_HIP, lm.LEFT_HIP), (17, 16, lm.RIGHT_SHOULDER, lm.LEFT_SHOULDER),
)
DIRECTION_PARENTS = np.array([bone[0] for bone in DIRECTION_BONES])
DIRECTION_CHILDREN = np.array([bone[1] for bone in DIRECTION_BONES])
HINGE_JOINTS = np.array(list(HINGES))
HINGE_AXES = np.array([axis for axis, _ in HINGES.values()], float)
PARENTS_ARRAY = np.array(PARENTS)
FREE_CHILD_JOINTS = np.array(FREE_JOINTS[1:])  # the free joints below the root
SPINE_JOINTS = np.array(SPINE)


@dataclass
class Weights:
    """Objective weights. Units: 2D residuals in box heights, accelerations in m/s^2, angles in radians."""

    reprojection: float = 1.0
    reprojection_scale: float = 0.02  # pseudo-Huber knee: 2 % of the box height (~10 px on a 500 px person)
    direction: float = 20.0  # (1 - cos) per bone: MediaPipe's 3D directions are good; measured on the harness
    depth_direction: float = 50.0  # (bone direction . viewing ray - MediaPipe's)^2: depth from MediaPipe
    limits: float = 10.0
    smooth_joints: float = 4e-4
    smooth_root: float = 4e-4
    stay_near_ik: float = 2e-3
    length_prior: float = 0.05  # pull of each bone group's scale towards the measured proportions
    #: Extra weight of the acceleration along the viewing ray (joints and root). The 2D sees a step
    #: sideways as f*dx/z px but a step away only as a change of size, f*H*dz/z^2 px: depth is seen z/H
    #: times less sharply (H: stature). (z/H)^2 equalises the weight per pixel of evidence; it is 4 at
    #: z = 2H (3.4 m for 1.7 m), the near end of usual filming distances. Growing it with distance
    #: over-smoothed the far run of the harness (bench/bench_accuracy.py, run_circle_far PA-MPJPE 82
    #: against 72 mm), so the near-end value is used at every distance. With it the harness's dance and
    #: squat accelerations fell from 1.61x / 1.64x to 1.43x / 1.37x the truth's; PA-MPJPE changed by
    #: -0.9 to +1.6 mm per clip. (3 gave the same harness figures, but on the 40-frame sample the
    #: grounding stage then found no floor plane and no contact, so nothing was locked.)
    depth_smoothing: float = 4.0


@dataclass
class FitInput:
    """One clip's evidence. N frames; landmarks as in `track.Track`."""

    local_rot: np.ndarray  # [N, 24, 3, 3] IK local rotations (initialisation)
    transl: np.ndarray  # [N, 3] initial root translation, camera frame, metres
    rest: RestSkeleton  # measured rest skeleton (proportions), body frame
    landmarks2d: np.ndarray  # [N, 33, 3] x px, y px, visibility
    world: np.ndarray  # [N, 33, 3] MediaPipe world landmarks turned into the camera frame, metres
    valid: np.ndarray  # [N] bool, detected in this frame
    focal_length: float
    image_size: tuple[int, int]
    fps: float


@dataclass
class FitResult:
    poses: np.ndarray  # [N, 24, 3] axis-angle
    transl: np.ndarray  # [N, 3] metres, camera frame
    rest: RestSkeleton  # the clip's one skeleton (scaled), body frame
    meta: dict[str, Any] = field(default_factory=dict)


#: A term added by a later stage: (joints [W, 24, 3], root translation [W, 3], clip rows of the block)
#: -> (value, d value / d joints [W, 24, 3], d value / d translation [W, 3]); camera frame, metres.
ExtraTerm = Callable[[np.ndarray, np.ndarray, slice], tuple[float, np.ndarray, np.ndarray]]


def stature_of(rest: RestSkeleton) -> float:
    """Stature (metres) implied by a rest skeleton: ankle->ear chain over CHAIN_FRACTION_OF_STATURE."""
    j = rest.joints
    chain = (np.linalg.norm(j[4] - j[1]) + np.linalg.norm(j[7] - j[4]) + np.linalg.norm(j[12] - j[0])
             + np.linalg.norm(j[15] - j[12]))
    return float(chain / CHAIN_FRACTION_OF_STATURE)


def scaled_rest(rest: RestSkeleton, scales: dict[str, float]) -> RestSkeleton:
    """The rest skeleton with each bone group's offsets multiplied by its scale (root stays put)."""
    offsets = np.zeros_like(rest.joints)
    for joint in range(1, NUM_JOINTS):
        offsets[joint] = rest.joints[joint] - rest.joints[PARENTS[joint]]
    for group, joints in LENGTH_GROUPS.items():
        offsets[list(joints)] *= scales.get(group, 1.0)
    joints = np.zeros_like(rest.joints)
    joints[0] = rest.joints[0]
    for joint in range(1, NUM_JOINTS):
        joints[joint] = joints[PARENTS[joint]] + offsets[joint]
    markers = {name: (joint, joints[joint] + rest.marker_offset(name) * scales.get(MARKER_GROUP.get(name, ""), 1.0))
               for name, (joint, _) in rest.markers.items()}
    lengths = dict(rest.lengths)
    return RestSkeleton(joints=joints, markers=markers, lengths=lengths)


def with_stature(rest: RestSkeleton, stature_m: float) -> RestSkeleton:
    """Uniformly scaled so that `stature_of` gives `stature_m`."""
    factor = stature_m / stature_of(rest)
    return scaled_rest(rest, dict.fromkeys(LENGTH_GROUPS, factor))


# --------------------------------------------------------------------------------------------------
# The objective and its exact gradient (numpy; reverse mode through the kinematic tree by hand, so
# no autograd framework is imported: torch's import alone costs more than fitting a short clip).


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.cross on [..., 3] arrays without its axis shuffling (it dominates small blocks)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], -1)


def _skew(v: np.ndarray) -> np.ndarray:
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    zero = np.zeros_like(x)
    return np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(v.shape[:-1] + (3, 3))


def left_jacobian(phi: np.ndarray) -> np.ndarray:
    """[..., 3] rotation vectors -> [..., 3, 3] left Jacobian of SO(3)'s exponential:
    exp(phi + d) = exp(J_l(phi) d) exp(phi) to first order (Barfoot, State Estimation for Robotics, 7.1.3)."""
    theta2 = np.sum(phi * phi, -1)[..., None, None]
    small = theta2 < 1e-8
    theta = np.sqrt(np.where(small, 1.0, theta2))
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(theta)) / np.where(small, 1.0, theta2))
    c = np.where(small, 1.0 / 6.0 - theta2 / 120.0, (theta - np.sin(theta)) / (theta * np.where(small, 1.0, theta2)))
    k = _skew(phi)
    return np.eye(3) + b * k + c * (k @ k)


def _depth_levels() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Joints grouped by depth in the tree (root excluded): (joints, their parents) per level, so forward
    and backward passes run one batched step per level instead of one per joint."""
    depth = [0] * NUM_JOINTS
    for joint in range(1, NUM_JOINTS):
        depth[joint] = depth[PARENTS[joint]] + 1
    return tuple((np.array(js), np.array([PARENTS[j] for j in js]))
                 for level in range(1, max(depth) + 1)
                 for js in [[j for j in range(NUM_JOINTS) if depth[j] == level]])


LEVELS = _depth_levels()
GROUP_NAMES = tuple(LENGTH_GROUPS)
#: Joints whose offsets make up the stature chain, per group (see CHAIN_FRACTION_OF_STATURE).
CHAIN = {"thigh": (4,), "shin": (7,), "torso": (3, 6, 9, 12), "neck_head": (15,)}


class _Problem:
    """Decision variables and objective for a block of frames (consecutive, or a sample for the lengths).

    Variables per free frame: 14 rotation deltas (13 free joints + one shared spine bend), 4 hinge
    angles, a root translation offset; and, when `fit_lengths`, one log-scale per bone group.
    The first `n_fixed` frames of the block are held as given (context from the previous window).
    """

    def __init__(self, data: FitInput, rows: np.ndarray, rest: RestSkeleton, weights: Weights,
                 smooth_strength: float, temporal: bool, fit_lengths: bool, stature_m: float,
                 fixed: dict[str, np.ndarray] | None = None, extra_terms: tuple[ExtraTerm, ...] = ()) -> None:
        self.rows = rows
        self.w = weights
        self.temporal = temporal and len(rows) >= 3 and smooth_strength > 0
        self.fit_lengths = fit_lengths
        self.smooth_strength = smooth_strength
        self.fps = data.fps
        self.extra_terms = extra_terms
        self.focal = data.focal_length
        self.centre = np.array([data.image_size[0] / 2.0, data.image_size[1] / 2.0])
        n = len(rows)
        init = data.local_rot[rows].astype(np.float64).copy()
        transl0 = data.transl[rows].astype(np.float64).copy()
        self.n_fixed = 0 if fixed is None else len(fixed["local_rot"])
        if fixed is not None:
            init[: self.n_fixed] = fixed["local_rot"]
            transl0[: self.n_fixed] = fixed["transl"]
        self.init = init
        self.transl0 = transl0
        self.hinge0 = np.stack([matrix_to_axis_angle(init[:, j]) @ np.asarray(axis) for j, (axis, _) in HINGES.items()],
                               -1)
        self.n = n
        self.free = n - self.n_fixed
        # Corrections to the IK live in a cubic B-spline basis over time (a knot every KNOT_FRAMES):
        # they cannot add jitter, and L-BFGS converges in far fewer steps than with per-frame values.
        self.basis = _spline_basis(self.free, KNOT_FRAMES if temporal else 0)
        self.k = self.basis.shape[1]
        self.n_delta = len(FREE_JOINTS) + 1
        self.groups = len(GROUP_NAMES)
        offsets = np.zeros((NUM_JOINTS, 3))
        for joint in range(1, NUM_JOINTS):
            offsets[joint] = rest.joints[joint] - rest.joints[PARENTS[joint]]
        self.offsets = offsets
        self.root_rest = rest.joints[0].astype(np.float64)
        self.group_of_joint = np.full(NUM_JOINTS, -1)
        for g, joints in enumerate(LENGTH_GROUPS.values()):
            self.group_of_joint[list(joints)] = g
        self.chain_coeff = np.zeros(self.groups)
        for name, joints in CHAIN.items():
            self.chain_coeff[GROUP_NAMES.index(name)] = np.linalg.norm(offsets[list(joints)].sum(0))
        self.stature_target = stature_m * CHAIN_FRACTION_OF_STATURE
        self.markers = [(joint, rest.marker_offset(name), GROUP_NAMES.index(MARKER_GROUP[name]), MARKER_LANDMARK[name])
                        for name, (joint, _) in rest.markers.items() if name in MARKER_LANDMARK]
        self.marker_joints = np.array([m[0] for m in self.markers], int)
        self.marker_offsets = np.array([m[1] for m in self.markers], float).reshape(-1, 3)
        self.marker_groups = np.array([m[2] for m in self.markers], int)
        self.scaled_joints = np.flatnonzero(self.group_of_joint >= 0)
        # Evidence: 14 joints then the markers, each with a landmark.
        self.joint_ids = list(JOINT_LANDMARK)
        landmark_ids = [JOINT_LANDMARK[j] for j in self.joint_ids] + [m[3] for m in self.markers]
        lm2d = data.landmarks2d[rows].astype(np.float64)
        vis = np.clip(lm2d[..., 2], 0.0, 1.0) * data.valid[rows, None]
        vis = np.where(vis < 0.3, 0.2 * vis, vis)  # barely visible landmarks hardly steer
        self.pixels = lm2d[:, landmark_ids, :2]
        self.vis = vis[:, landmark_ids]
        self.inv_height = 1.0 / _box_heights(lm2d, data.valid[rows])[0]
        world = data.world[rows].astype(np.float64)
        dirs = np.stack([world[:, lb] - world[:, la] for _, _, la, lb in DIRECTION_BONES], 1)
        self.mp_dirs = dirs / np.maximum(np.linalg.norm(dirs, axis=-1, keepdims=True), 1e-9)
        # Viewing ray of each frame's root (fixed per block, so the objective's gradient stays exact).
        self.rays = transl0 / np.maximum(np.linalg.norm(transl0, axis=-1, keepdims=True), 1e-9)
        self.dir_weight = np.stack([np.minimum(vis[:, la], vis[:, lb]) for _, _, la, lb in DIRECTION_BONES], 1)

    # -- variables ---------------------------------------------------------------------------------
    def x0(self) -> np.ndarray:
        parts = [np.zeros(self.k * (self.n_delta * 3 + 4 + 3))]
        if self.fit_lengths:
            parts.append(np.zeros(self.groups))
        return np.concatenate(parts)

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        k, nd, b = self.k, self.n_delta, self.basis
        a = k * nd * 3
        delta = np.zeros((self.n, nd, 3))
        delta[self.n_fixed:] = np.einsum("fk,kd->fd", b, x[:a].reshape(k, nd * 3)).reshape(-1, nd, 3)
        hinge = self.hinge0.copy()
        hinge[self.n_fixed:] += b @ x[a:a + k * 4].reshape(k, 4)
        transl = self.transl0.copy()
        transl[self.n_fixed:] += b @ x[a + k * 4:a + k * 7].reshape(k, 3)
        log_scale = x[a + k * 7:] if self.fit_lengths else np.zeros(self.groups)
        return delta, hinge, transl, log_scale

    def scales(self, log_scale: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """Effective group scales (stature pinned when fitting lengths), the factor k and raw scales."""
        raw = np.exp(log_scale)
        if not self.fit_lengths:
            return raw, 1.0, raw
        k = self.stature_target / float(self.chain_coeff @ raw)
        return raw * k, k, raw

    # -- forward -----------------------------------------------------------------------------------
    def pose(self, x: np.ndarray) -> dict[str, Any]:
        delta, hinge, transl, log_scale = self.unpack(x)
        scale, k, raw = self.scales(log_scale)
        exp_delta = axis_angle_to_matrix(delta)
        local = self.init.copy()
        local[:, 0] = exp_delta[:, 0] @ self.init[:, 0]  # the root's delta acts in the camera frame
        local[:, FREE_CHILD_JOINTS] = self.init[:, FREE_CHILD_JOINTS] @ exp_delta[:, 1:len(FREE_JOINTS)]
        local[:, SPINE_JOINTS] = self.init[:, SPINE_JOINTS] @ exp_delta[:, -1:]
        local[:, HINGE_JOINTS] = axis_angle_to_matrix(hinge[..., None] * HINGE_AXES)
        factor = np.where(self.group_of_joint >= 0, scale[np.maximum(self.group_of_joint, 0)], 1.0)
        offsets = self.offsets * factor[:, None]
        glob = np.empty_like(local)
        pos = np.empty((self.n, NUM_JOINTS, 3))
        glob[:, 0] = local[:, 0]
        pos[:, 0] = self.root_rest + transl
        for joints, parents in LEVELS:
            glob[:, joints] = glob[:, parents] @ local[:, joints]
            pos[:, joints] = pos[:, parents] + (glob[:, parents] @ offsets[joints][..., None])[..., 0]
        marker_offsets = self.marker_offsets * scale[self.marker_groups][:, None]
        marker_pos = pos[:, self.marker_joints] + (glob[:, self.marker_joints] @ marker_offsets[..., None])[..., 0]
        return {"delta": delta, "hinge": hinge, "transl": transl, "log_scale": log_scale, "scale": scale, "k": k,
                "raw": raw, "local": local, "glob": glob, "pos": pos, "markers": marker_pos}

    # -- objective ---------------------------------------------------------------------------------
    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        w = self.w
        st = self.pose(x)
        pos, markers = st["pos"], st["markers"]
        per = 1.0 / max(self.n, 1)
        g_pos = np.zeros_like(pos)
        g_mark = np.zeros_like(markers)
        g_transl = np.zeros((self.n, 3))
        # Reprojection: pseudo-Huber of the box-relative pixel error, weighted by visibility.
        points = np.concatenate([pos[:, self.joint_ids], markers], 1)
        z = np.maximum(points[..., 2:3], 0.05)
        proj = points[..., :2] / z * self.focal + self.centre
        err = (proj - self.pixels) * self.inv_height
        c2 = w.reprojection_scale ** 2
        root = np.sqrt(1.0 + np.sum(err * err, -1) / c2)
        total = w.reprojection * per * float(np.sum(self.vis * (root - 1.0)))
        g_err = (w.reprojection * per * self.vis / (c2 * root))[..., None] * err * self.inv_height
        g_points = np.concatenate([g_err * self.focal / z,
                                   -np.sum(g_err * points[..., :2], -1, keepdims=True) * self.focal / z ** 2], -1)
        g_points[..., 2] *= (points[..., 2] > 0.05)
        g_pos[:, self.joint_ids] += g_points[:, :len(self.joint_ids)]
        g_mark += g_points[:, len(self.joint_ids):]
        # MediaPipe's 3D bone directions as a prior.
        d = pos[:, DIRECTION_CHILDREN] - pos[:, DIRECTION_PARENTS]  # [n, bones, 3]
        length = np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9)
        u = d / length
        m = self.mp_dirs
        cos = np.sum(u * m, -1, keepdims=True)
        wt = (w.direction * per * self.dir_weight)[..., None]
        total += float(np.sum(wt * (1.0 - cos)))
        g = -wt * (m - cos * u) / length
        # Along the viewing ray the 2D landmarks say nothing: there MediaPipe's depth decides.
        ray = self.rays[:, None, :]
        along = np.sum(u * ray, -1, keepdims=True)
        gap = along - np.sum(m * ray, -1, keepdims=True)
        wz = (w.depth_direction * per * self.dir_weight)[..., None]
        total += float(np.sum(wz * gap ** 2))
        g = g + 2 * wz * gap * (ray - along * u) / length
        np.add.at(g_pos, (slice(None), DIRECTION_CHILDREN), g)
        np.add.at(g_pos, (slice(None), DIRECTION_PARENTS), -g)
        # Temporal smoothness of joints and root (m/s^2).
        if self.temporal:
            fps2 = self.fps ** 2
            lam = self.smooth_strength * per
            acc = (pos[2:] - 2 * pos[1:-1] + pos[:-2]) * fps2
            jray = self.rays[1:-1, None, :]
            jalong = np.sum(acc * jray, -1, keepdims=True)
            extra = w.depth_smoothing - 1.0
            total += lam * w.smooth_joints * float(np.sum(acc * acc) + extra * np.sum(jalong ** 2))
            ga = 2 * lam * w.smooth_joints * (acc + extra * jalong * jray) * fps2
            g_pos[2:] += ga
            g_pos[1:-1] -= 2 * ga
            g_pos[:-2] += ga
            tr = st["transl"]
            racc = (tr[2:] - 2 * tr[1:-1] + tr[:-2]) * fps2
            ray = self.rays[1:-1]
            along = np.sum(racc * ray, -1, keepdims=True)
            total += lam * w.smooth_root * float(np.sum(racc * racc) + extra * np.sum(along ** 2))
            gr = 2 * lam * w.smooth_root * (racc + extra * along * ray) * fps2
            g_transl[2:] += gr
            g_transl[1:-1] -= 2 * gr
            g_transl[:-2] += gr
        rows = slice(int(self.rows[0]), int(self.rows[-1]) + 1)
        for term in self.extra_terms:
            value, gj, gt = term(pos, st["transl"], rows)
            total += float(value)
            g_pos += gj
            g_transl += gt
        grad_delta, grad_hinge, grad_scale = self._backward(st, g_pos, g_mark)
        g_transl = g_transl + self._subtree_sums[:, 0]
        # Hinge limits, stay-near-IK, length proportions.
        grad_hinge = grad_hinge.copy()
        for h, (_, (_, (lo, hi))) in enumerate(HINGES.items()):
            angle = st["hinge"][:, h]
            below = np.maximum(np.deg2rad(lo) - angle, 0.0)
            above = np.maximum(angle - np.deg2rad(hi), 0.0)
            total += w.limits * per * float(np.sum(below ** 2 + above ** 2))
            grad_hinge[:, h] += w.limits * per * 2 * (above - below)
        delta = st["delta"]
        total += w.stay_near_ik * per * float(np.sum(delta ** 2))
        grad_delta = grad_delta + 2 * w.stay_near_ik * per * delta
        nf = self.n_fixed
        bt = self.basis.T
        parts = [(bt @ grad_delta[nf:].reshape(self.free, -1)).ravel(), (bt @ grad_hinge[nf:]).ravel(),
                 (bt @ g_transl[nf:]).ravel()]
        if self.fit_lengths:
            ls = st["log_scale"]
            centred = ls - ls.mean()
            total += w.length_prior * float(np.sum(centred ** 2))
            # d/d raw through the stature normalisation, then d/d log.
            k, raw = st["k"], st["raw"]
            chain = self.stature_target / k
            g_raw = k * (grad_scale - float(grad_scale @ raw) * self.chain_coeff / chain)
            parts.append(g_raw * raw + 2 * w.length_prior * centred)
        return total, np.concatenate(parts)

    def _backward(self, st: dict[str, Any], g_pos: np.ndarray, g_mark: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point gradients -> rotation deltas, hinge angles and group scales, through the tree."""
        pos, glob, markers = st["pos"], st["glob"], st["markers"]
        sums = g_pos.copy()  # S[j]: total gradient on j's subtree (with markers)
        moments = _cross(pos, g_pos)  # M[j]: sum of p x g over the subtree
        grad_scale = np.zeros(self.groups)
        mj = self.marker_joints
        np.add.at(sums, (slice(None), mj), g_mark)
        np.add.at(moments, (slice(None), mj), _cross(markers, g_mark))
        marker_bones = (glob[:, mj] @ self.marker_offsets[..., None])[..., 0]
        np.add.at(grad_scale, self.marker_groups, np.sum(marker_bones * g_mark, axis=(0, 2)))
        for joints, parents in reversed(LEVELS):
            np.add.at(sums, (slice(None), parents), sums[:, joints])
            np.add.at(moments, (slice(None), parents), moments[:, joints])
        self._subtree_sums = sums
        torque = moments - _cross(pos, sums)  # [n, 24, 3], about each joint, camera frame
        sj = self.scaled_joints
        bones = (glob[:, PARENTS_ARRAY[sj]] @ self.offsets[sj][..., None])[..., 0]
        np.add.at(grad_scale, self.group_of_joint[sj], np.sum(bones * sums[:, sj], axis=(0, 2)))
        jl = left_jacobian(st["delta"])
        # Torque in each free joint's own frame (the root's stays in the camera frame).
        frame_torque = np.empty((self.n, len(FREE_JOINTS), 3))
        frame_torque[:, 0] = torque[:, 0]
        to_local = glob[:, PARENTS_ARRAY[FREE_CHILD_JOINTS]] @ self.init[:, FREE_CHILD_JOINTS]
        frame_torque[:, 1:] = np.einsum("nkji,nkj->nki", to_local, torque[:, FREE_CHILD_JOINTS])
        grad_delta = np.zeros_like(st["delta"])
        grad_delta[:, :len(FREE_JOINTS)] = np.einsum("nkji,nkj->nki", jl[:, :len(FREE_JOINTS)], frame_torque)
        to_local = glob[:, PARENTS_ARRAY[SPINE_JOINTS]] @ self.init[:, SPINE_JOINTS]
        spine_torque = np.einsum("nkji,nkj->ni", to_local, torque[:, SPINE_JOINTS])
        grad_delta[:, -1] += np.einsum("nji,nj->ni", jl[:, -1], spine_torque)
        axis_cam = (glob[:, PARENTS_ARRAY[HINGE_JOINTS]] @ HINGE_AXES[..., None])[..., 0]
        grad_hinge = np.sum(axis_cam * torque[:, HINGE_JOINTS], -1)
        return grad_delta, grad_hinge, grad_scale

    # -- solving -----------------------------------------------------------------------------------
    def solve(self, iterations: int) -> np.ndarray:
        from scipy.optimize import minimize

        result = minimize(self.value_and_grad, self.x0(), jac=True, method="L-BFGS-B",
                          options={"maxiter": iterations, "maxcor": 10, "gtol": 1e-10, "ftol": 1e-12})
        self.x = result.x
        return result.x

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        st = self.pose(self.x)
        return st["local"], st["transl"]

    def final_scales(self) -> np.ndarray:
        return self.scales(self.unpack(self.x)[3])[0]


def _spline_basis(frames: int, knot_frames: int) -> np.ndarray:
    """[frames, K] cubic B-spline basis with a knot every `knot_frames` (identity when 0 or too few frames)."""
    if knot_frames <= 0 or frames < 2 * knot_frames + 4:
        return np.eye(frames)
    from scipy.interpolate import BSpline

    inner = np.linspace(0.0, frames - 1.0, int(np.ceil((frames - 1) / knot_frames)) + 1)
    knots = np.concatenate([[inner[0]] * 3, inner, [inner[-1]] * 3])
    at = np.minimum(np.arange(frames, dtype=float), inner[-1] - 1e-9)  # the last frame inside the last span
    return BSpline.design_matrix(at, knots, 3).toarray()


def _box_heights(lm2d: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-frame body height in pixels (landmark extent), robust: median over the block where detected."""
    extent = lm2d[..., 1].max(-1) - lm2d[..., 1].min(-1)
    extent = np.maximum(extent, 1.0)
    typical = float(np.median(extent[valid])) if valid.any() else float(np.median(extent))
    # Per-frame heights vary with pose (crouching); the block median keeps the weighting even.
    return np.full(len(lm2d), max(typical, 1.0))


def _rotations_to_aa(local: np.ndarray) -> np.ndarray:
    return matrix_to_axis_angle(local).astype(np.float32)


def fit_lengths(data: FitInput, stature_m: float, weights: Weights) -> tuple[RestSkeleton, dict[str, float]]:
    """One set of bone-group scales for the clip, fitted jointly with the poses of sampled frames."""
    rest = with_stature(data.rest, stature_m)
    detected = np.flatnonzero(data.valid)
    if len(detected) == 0:
        return rest, dict.fromkeys(LENGTH_GROUPS, 1.0)
    rows = detected[np.unique(np.linspace(0, len(detected) - 1, min(LENGTH_FRAMES, len(detected))).astype(int))]
    start = _rescaled_transl(data, rest)
    problem = _Problem(_replace(data, transl=start, rest=rest), rows, rest, weights, 0.0, temporal=False,
                       fit_lengths=True, stature_m=stature_m)
    problem.solve(LENGTH_ITERATIONS)
    scales = problem.final_scales()
    named = {g: float(s) for g, s in zip(LENGTH_GROUPS, scales)}
    return scaled_rest(rest, named), named


def _replace(data: FitInput, **changes: Any) -> FitInput:
    from dataclasses import replace

    return replace(data, **changes)


def _rescaled_transl(data: FitInput, rest: RestSkeleton) -> np.ndarray:
    """Root translation that lays `rest` posed by the IK over the 2D landmarks (per-frame linear solve)."""
    from ..geometry.skeleton import forward_kinematics

    joints = forward_kinematics(matrix_to_axis_angle(data.local_rot), rest.joints)
    ids = list(JOINT_LANDMARK)
    lms = [JOINT_LANDMARK[j] for j in ids]
    weights = np.clip(data.landmarks2d[:, lms, 2].astype(np.float64), 0.0, 1.0)
    weights = np.maximum(np.where(weights < 0.3, 0.05 * weights, weights), 1e-3)
    transl = camera.solve_translation(joints[:, ids], data.landmarks2d[:, lms, :2].astype(np.float64), weights,
                                      data.focal_length, data.image_size)
    return _fill_undetected(transl, data.valid)


def _fill_undetected(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Linear interpolation over frames not detected (edges held) of [N, ...] values."""
    if valid.all() or not valid.any():
        return values
    rows = np.arange(len(values))
    flat = values.reshape(len(values), -1).copy()
    for k in range(flat.shape[1]):
        flat[~valid, k] = np.interp(rows[~valid], rows[valid], flat[valid, k])
    return flat.reshape(values.shape)


def fit_clip(data: FitInput, stature_m: float | None = None, smooth_strength: float = 1.0,
             weights: Weights | None = None, extra_terms: tuple[ExtraTerm, ...] = (),
             check_cancel: Callable[[], None] = lambda: None,
             progress: Callable[[int, int], None] = lambda done, total: None,
             reshape_rest: Callable[[RestSkeleton], RestSkeleton] | None = None) -> FitResult:
    """Fit the whole clip (see the module docstring). Raises nothing on odd input: a clip with no
    detected frame is returned as the IK gave it."""
    weights = weights or Weights()
    stature = float(stature_m) if stature_m else STATURE_PRIOR_M
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # small products: threads only contend
        rest, scales = fit_lengths(data, stature, weights)
        if reshape_rest is not None:  # e.g. SMPL betas fitted to the clip's skeleton, so rest = SMPL's joints
            rest = reshape_rest(rest)
        check_cancel()
        # Start from the IK smoothed as `--smooth` asks, and a root laid over the 2D landmarks with
        # the fitted skeleton: the corrections are smooth, so the start must not carry the jitter.
        strength = max(smooth_strength, 0.0) * START_SMOOTHING
        start_rot = smoothing.smooth_rotations(data.local_rot, data.fps, strength)
        transl = _rescaled_transl(_replace(data, local_rot=start_rot), rest)
        transl = smoothing.smooth_translation(transl, data.fps, strength)
        data = _replace(data, transl=transl, rest=rest, local_rot=start_rot)
        local, out_transl = _solve_windows(data, rest, weights, smooth_strength, extra_terms, ITERATIONS,
                                           check_cancel, progress)
    meta = {"stature_m": round(stature, 4), "stature_source": "--height" if stature_m else "population prior",
            "bone_group_scales": {k: round(v, 4) for k, v in scales.items()},
            "window": WINDOW, "lookahead": LOOKAHEAD}
    return FitResult(poses=_rotations_to_aa(local), transl=out_transl, rest=rest, meta=meta)


def _solve_windows(data: FitInput, rest: RestSkeleton, weights: Weights, smooth_strength: float,
                   extra_terms: tuple[ExtraTerm, ...], iterations: int, check_cancel: Callable[[], None],
                   progress: Callable[[int, int], None]) -> tuple[np.ndarray, np.ndarray]:
    """Poses and root over the clip in overlapping windows (module docstring), starting from
    `data.local_rot` / `data.transl`, bone lengths held at `rest`'s. Returns local rotations
    [N, 24, 3, 3] and root [N, 3]."""
    n = len(data.local_rot)
    stature = stature_of(rest)  # the windows hold the lengths, so this only fills _Problem's argument
    local = data.local_rot.copy()
    out_transl = np.asarray(data.transl, np.float64).copy()
    start = 0
    progress(0, n)
    while start < n:
        end = min(n, start + WINDOW)
        context = min(CONTEXT, start)
        rows = np.arange(start - context, end)
        fixed = None
        if context:
            fixed = {"local_rot": local[start - context:start], "transl": out_transl[start - context:start]}
        problem = _Problem(data, rows, rest, weights, smooth_strength, temporal=True, fit_lengths=False,
                           stature_m=stature, fixed=fixed, extra_terms=extra_terms)
        problem.solve(iterations)
        solved_rot, solved_transl = problem.result()
        commit_end = end if end == n else max(start + 1, end - LOOKAHEAD)
        keep = slice(context, context + commit_end - start)
        local[start:commit_end] = solved_rot[keep]
        out_transl[start:commit_end] = solved_transl[keep]
        start = commit_end
        progress(start, n)
        check_cancel()
    return local, out_transl


def refit_clip(data: FitInput, previous: FitResult, extra_terms: tuple[ExtraTerm, ...],
               smooth_strength: float = 1.0, weights: Weights | None = None, iterations: int = REFIT_ITERATIONS,
               check_cancel: Callable[[], None] = lambda: None,
               progress: Callable[[int, int], None] = lambda done, total: None) -> FitResult:
    """A second pass over the clip from `previous` (its skeleton kept), with more terms in the
    objective: e.g. the grounding stage's floor and contacts, known only once a first fit placed
    the feet. The IK pull (`Weights.stay_near_ik`) then pulls towards `previous`."""
    weights = weights or Weights()
    start = _replace(data, local_rot=axis_angle_to_matrix(previous.poses.astype(np.float64)),
                     transl=np.asarray(previous.transl, np.float64), rest=previous.rest)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        local, transl = _solve_windows(start, previous.rest, weights, smooth_strength, extra_terms, iterations,
                                       check_cancel, progress)
    return FitResult(poses=_rotations_to_aa(local), transl=transl, rest=previous.rest, meta=dict(previous.meta))


def reprojection_error(poses: np.ndarray, transl: np.ndarray, rest: RestSkeleton, landmarks2d: np.ndarray,
                       focal_length: float, image_size: tuple[int, int]) -> np.ndarray:
    """[N, 14] pixel distance between posed joints and their landmarks (for reports and tests)."""
    from ..geometry.skeleton import forward_kinematics

    joints = forward_kinematics(poses, rest.joints, transl)
    ids = list(JOINT_LANDMARK)
    pixels = camera.project(joints[:, ids], focal_length, image_size)
    return np.linalg.norm(pixels - landmarks2d[:, [JOINT_LANDMARK[j] for j in ids], :2], axis=-1)


__all__ = ["FitInput", "FitResult", "Weights", "fit_clip", "fit_lengths", "stature_of", "with_stature",
           "scaled_rest", "reprojection_error", "STATURE_PRIOR_M"]
