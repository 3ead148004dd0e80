"""Grounded motion: foot contacts, the floor plane found from the feet, and foot locking (numpy only).

Runs after the model (and after smoothing), for every model, on the posed SMPL joints in the
camera frame (x right, y down, z forward, metres).

Contacts are kept per foot point, four columns in `CONTACT_JOINTS` order: left ankle (heel
side), left foot (SMPL's "foot" joint, the ball of the foot), right ankle, right foot.

The floor is a plane in the camera frame, `floor_plane = (nx, ny, nz, d)`: `n` is the unit
normal pointing up (against gravity) and `n . x + d` is a point's height above the floor in
metres, so `d` is the camera's height above the floor. Z = 0 is the level at which the ball
joints rest when the foot is planted (the same reference as the add-on's constant lift); the
ankle joints rest `levels[ankle]` higher (estimated from the data). Where the feet cover too little
floor for a plane, "up" can still come from the body's balance (`balance_up`: the centre of mass
stays over the feet), with the floor through the lowest ball joints.

Foot locking changes only the leg chains (hip, knee, ankle local rotations) and, only where a
held foot is far out of the leg's reach (`LockSettings.root_tolerance`), the root translation.
The ball of the foot is held while it is down (the heel alone at heel strike), and the ankle
keeps its global orientation, so the foot turns only as the model turned it. Frames farther
than the blend length from a contact are unchanged unless a foot was below the floor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..body import landmarks_def as lm
from ..geometry.skeleton import (
    JOINT_INDEX,
    PARENTS,
    axis_angle_to_matrix,
    forward_kinematics,
    global_rotations,
    matrix_to_axis_angle,
    rotation_between,
)

if TYPE_CHECKING:
    from .fit import ExtraTerm  # the type of the fit's objective terms: grounding builds one, the fit calls it

#: Contact columns: (heel/ankle, ball) for the left foot, then the right foot.
CONTACT_JOINTS: tuple[str, ...] = ("left_ankle", "left_foot", "right_ankle", "right_foot")
CONTACT_IDS: tuple[int, ...] = tuple(JOINT_INDEX[name] for name in CONTACT_JOINTS)
#: Column -> class: 0 = ankle (heel side), 1 = ball. The two classes rest at different heights.
CONTACT_CLASS: tuple[int, ...] = (0, 1, 0, 1)
#: The two leg chains: (hip, knee, ankle, ball) and their contact columns.
LEGS: tuple[tuple[tuple[int, int, int, int], tuple[int, int]], ...] = (
    ((JOINT_INDEX["left_hip"], JOINT_INDEX["left_knee"], JOINT_INDEX["left_ankle"], JOINT_INDEX["left_foot"]), (0, 1)),
    ((JOINT_INDEX["right_hip"], JOINT_INDEX["right_knee"], JOINT_INDEX["right_ankle"], JOINT_INDEX["right_foot"]),
     (2, 3)),
)
#: Joints above the hips: foot locking never changes their rotations.
UPPER_BODY: tuple[int, ...] = tuple(JOINT_INDEX[name] for name in (
    "spine1", "spine2", "spine3", "neck", "head", "left_collar", "right_collar", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand"))

GROUND_MODES: tuple[str, ...] = ("auto", "plane", "constant", "off")


@dataclass(frozen=True)
class ContactSettings:
    """Thresholds for contacts (metres, metres per second, seconds).

    A point enters contact when it is within `enter_height` of its resting level and moves slower
    than `enter_speed` along the floor; it stays in contact while within `exit_height` and slower
    than `exit_speed` (hysteresis). Runs shorter than `min_duration` are dropped, gaps shorter
    than `max_gap` inside a run are filled. Walking speeds: a swinging foot moves at 2-5 m/s, a
    planted one (with MediaPipe-like jitter and sliding, after smoothing) mostly under 0.5 m/s.
    Tuned on `backend/testing/gait_synth.py` (bench/bench_grounding.py prints the figures).
    """

    enter_height: float = 0.05
    exit_height: float = 0.06
    enter_speed: float = 0.6
    exit_speed: float = 0.8
    min_duration: float = 0.1
    max_gap: float = 0.07


#: Used when no floor plane was found: the "floor" is only the lowest foot level of the clip.
STRICT_CONTACTS = ContactSettings(enter_height=0.03, exit_height=0.04, enter_speed=0.3, exit_speed=0.45,
                                  min_duration=0.2)


@dataclass(frozen=True)
class FloorSettings:
    """RANSAC and acceptance limits for the floor plane (metres, degrees)."""

    candidate_speed: float = 0.6      # slow foot points are floor candidates
    inlier_distance: float = 0.03
    iterations: int = 4000           # plane hypotheses (vectorised); 300 left the answer seed-dependent
    refined_hypotheses: int = 200     # the best distinct hypotheses refined by least squares
    consensus_margin: float = 0.05    # refined planes scoring within this share of the best are averaged
    max_tilt_from_torso: float = 40.0  # hypotheses: the plane's up against the mean torso direction
    max_accepted_tilt: float = 25.0    # accepted plane: people stand and walk within this of vertical
    max_accepted_roll: float = 12.5    # ... and within this sideways (in the image), where depth cannot
    #                                    excuse it; two lanes of footfalls at different depths roll a plane
    #                                    (the harness's walk towards and away: 14.9 deg, 16 deg off the truth;
    #                                    the single-person sample's plane, which the dribbler's lean rolls: 10.8)
    min_points: int = 20              # inlier foot points
    below_distance: float = 0.04       # a foot point this far below the plane counts against it
    max_below_fraction: float = 0.03   # of all foot points, for the plane to be accepted
    min_runs: int = 3                  # contact runs (separate footfalls) on the plane
    min_spread: float = 0.5            # metres the footfalls cover along their main direction
    min_minor_spread: float = 0.05     # std of the footfalls across it (left and right feet count)
    seed: int = 0


@dataclass(frozen=True)
class LockSettings:
    """Foot locking: eased blend length and when the root may move to keep a held foot in reach.

    Moving the root moves the whole upper body, so it is kept for feet far out of reach
    (`root_tolerance`); smaller misses are absorbed by the straightened leg (the foot slides by
    at most that much).
    """

    blend: float = 0.1          # seconds of smoothstep blend before and after each contact
    reach_margin: float = 0.002  # metres short of a straight leg: a fully straight knee flips
    adjust_root: bool = True
    root_tolerance: float = 0.03  # a held foot this far out of reach may slide; beyond it the pelvis moves
    heel_travel: float = 0.05     # flat-foot spots further apart around a heel-only stretch: the heel moved


@dataclass
class Floor:
    """The floor in the camera frame: `height(x) = up . x + offset`, plus each class's resting level."""

    up: np.ndarray                 # [3] unit, camera frame, against gravity
    offset: float                  # camera height above the floor (m)
    levels: np.ndarray             # [2] resting height of (ankle, ball) joints above the floor (m)
    kind: str                      # "plane" (fitted to contacts), "balance" (`balance_up`) or "constant"
    quality: dict[str, Any] = field(default_factory=dict)

    def heights(self, points: np.ndarray) -> np.ndarray:
        """[..., 3] camera-frame points -> [...] metres above the floor."""
        return points @ self.up + self.offset

    def plane(self) -> np.ndarray:
        """(nx, ny, nz, d) as the motion file's `floor_plane`."""
        return np.array([*self.up, self.offset], np.float64)

    def camera_angles(self) -> dict[str, float]:
        """Camera pitch (down positive), roll and height above the floor, from the plane."""
        up = self.up
        pitch = float(np.degrees(np.arcsin(np.clip(-up[2], -1.0, 1.0))))
        roll = float(np.degrees(np.arctan2(up[0], -up[1])))
        return {"pitch_deg": round(pitch, 3), "roll_deg": round(roll, 3), "height_m": round(float(self.offset), 4)}


#: What `choose_floor` returns: (floor, ground mode used, quality figures, warnings).
FloorChoice = tuple[Floor, str, dict[str, Any], list[str]]


@dataclass
class GroundResult:
    poses: np.ndarray
    transl: np.ndarray
    contacts: np.ndarray            # [N, 4] bool
    floor: Floor
    floor_plane: np.ndarray | None  # [4] written to the motion file when the plane is used
    meta: dict[str, Any]
    warnings: list[str]


# ---------------------------------------------------------------------------------------------
# helpers

#: Plane hypotheses scored at once in `fit_floor` (bounds its memory for long clips).
HYPOTHESIS_CHUNK = 256
#: At most this many candidate (and this many foot) points score the hypotheses (bounds its time).
SCORED_POINTS = 2000

#: Half-width of the speed estimate (seconds): 2 frames at 30 fps, 1 at 12 fps.
SPEED_WINDOW = 0.05


def _speeds(points: np.ndarray, fps: float, up: np.ndarray | None) -> np.ndarray:
    """[N, K, 3] -> [N, K] speed (m/s) along the floor when `up` is given.

    Central differences over +-`SPEED_WINDOW` seconds (at least one frame): at 30 fps a 4-frame
    span halves MediaPipe's frame-to-frame jitter, which otherwise reads as 0.3-0.6 m/s of speed
    in a planted foot (measured on the synthetic walk and the rendered truth clip).
    """
    if len(points) < 2:
        return np.zeros(points.shape[:2])
    half = max(1, int(round(fps * SPEED_WINDOW)))
    if half > 1 and len(points) > 2 * half:
        padded = np.concatenate([np.repeat(points[:1], half, 0), points, np.repeat(points[-1:], half, 0)])
        vel = (padded[2 * half:] - padded[:-2 * half]) / (2 * half) * fps
    else:
        vel = np.gradient(points, axis=0) * fps
    if up is not None:
        vel = vel - (vel @ up)[..., None] * up
    speed = np.linalg.norm(vel, axis=-1)
    # A 3-frame median removes single-frame jitter spikes without delaying onsets.
    padded = np.concatenate([speed[:1], speed, speed[-1:]], axis=0)
    return np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (start, end) index pairs of the True runs of a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _fade(distance: int, blend: int) -> float:
    """Weight of a frame `distance` frames outside a run whose effect eases out over `blend` frames."""
    return float(_smoothstep(np.array(1.0 - distance / (blend + 1.0))))


def torso_up(joints: np.ndarray) -> np.ndarray:
    """Mean pelvis->neck direction over the clip (camera frame): a prior for "up"."""
    spine = joints[:, JOINT_INDEX["neck"]] - joints[:, JOINT_INDEX["pelvis"]]
    spine = spine / np.maximum(np.linalg.norm(spine, axis=-1, keepdims=True), 1e-9)
    mean = spine.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-9)


#: Body segments for the centre of mass: (proximal joint, distal joint, fraction of body mass), the
#: segment's mass put at its midpoint. Fractions from Dempster's cadaver study as tabulated in Winter,
#: "Biomechanics and Motor Control of Human Movement", 4th ed., table 4.1 (trunk split over the spine
#: joints, head and neck 0.081, upper arm 0.028, forearm 0.016, hand 0.006, thigh 0.100, leg 0.0465,
#: foot 0.0145).
SEGMENT_MASSES: tuple[tuple[str, str, float], ...] = (
    ("pelvis", "spine1", 0.142), ("spine1", "spine2", 0.100), ("spine2", "spine3", 0.100),
    ("spine3", "neck", 0.155), ("neck", "head", 0.081),
    ("left_hip", "left_knee", 0.100), ("right_hip", "right_knee", 0.100),
    ("left_knee", "left_ankle", 0.0465), ("right_knee", "right_ankle", 0.0465),
    ("left_ankle", "left_foot", 0.0145), ("right_ankle", "right_foot", 0.0145),
    ("left_shoulder", "left_elbow", 0.028), ("right_shoulder", "right_elbow", 0.028),
    ("left_elbow", "left_wrist", 0.016), ("right_elbow", "right_wrist", 0.016),
    ("left_wrist", "left_hand", 0.006), ("right_wrist", "right_hand", 0.006),
)
#: A balance "up" this close to the camera's own up is taken as the camera's up (degrees): most
#: footage is shot level, and the estimate is this far off on level cameras of the harness.
BALANCE_SNAP_DEG = 7.0
#: Balance says where up is only for a person standing on their feet (a seated person's centre of mass
#: is over the chair): at least this share of frames must have a thigh within `BALANCE_THIGH_DEG` of
#: the balance up. Harness clips: 0.69 (the squat) to 1.0; a seated person: 0.
BALANCE_STANDING_SHARE = 0.5
BALANCE_THIGH_DEG = 40.0
#: Balance averages over the clip: at least this much of it (seconds, frames with the feet in view).
BALANCE_MIN_SECONDS = 1.0
#: Further than this from the camera's up (degrees), a balance "up" is more likely a body upside down or
#: lying on its side than a camera pitched that far (a handstand gives ~160); the camera's up is kept.
BALANCE_MAX_TILT_DEG = 60.0
#: A foot point counts as seen where its MediaPipe landmarks are inside the image with this visibility.
FOOT_MIN_VISIBILITY = 0.5
#: Foot landmarks per contact column (`CONTACT_JOINTS` order): ankle and heel; foot tip (ball side).
FOOT_LANDMARKS: tuple[tuple[int, ...], ...] = ((lm.LEFT_ANKLE, lm.LEFT_HEEL), (lm.LEFT_TOE,),
                                               (lm.RIGHT_ANKLE, lm.RIGHT_HEEL), (lm.RIGHT_TOE,))
#: The floor (plane or balance) needs the feet in view in at least this share of the frames: MediaPipe
#: still places feet that a close-up cuts off, and a floor fitted to them is confidently wrong (a crop at
#: the shins of the harness's dance found a plane 21 deg off).
MIN_FEET_IN_VIEW = 0.5
CAMERA_UP = np.array([0.0, -1.0, 0.0])


def centre_of_mass(joints: np.ndarray) -> np.ndarray:
    """[N, 3] the body's centre of mass from its joints [N, 24, 3] (`SEGMENT_MASSES`)."""
    total = sum(mass for _, _, mass in SEGMENT_MASSES)
    com = np.zeros((len(joints), 3))
    for a, b, mass in SEGMENT_MASSES:
        com += mass * 0.5 * (joints[:, JOINT_INDEX[a]] + joints[:, JOINT_INDEX[b]])
    return com / total


def balance_up(joints: np.ndarray) -> np.ndarray:
    """"Up" from balance (camera frame, unit): the mean direction from the feet to the centre of mass.

    A person standing, stepping or squatting keeps the centre of mass over the feet, so over a clip
    that direction averages to gravity's opposite, even where the torso leans (a squat) or the
    feet never cover enough floor for a plane (`fit_floor`). joints [N, 24, 3], camera frame.
    On the ground-truth harness's clips it is 0.2-8 deg from the true floor's up (the camera's own
    up: 0-25 deg).
    """
    feet = joints[:, list(CONTACT_IDS)].mean(axis=1)
    lean = centre_of_mass(joints) - feet
    lean /= np.maximum(np.linalg.norm(lean, axis=-1, keepdims=True), 1e-9)
    mean = lean.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-9)


def standing_share(joints: np.ndarray, up: np.ndarray) -> float:
    """Share of frames [N, 24, 3] with a thigh (knee->hip) within `BALANCE_THIGH_DEG` of `up`."""
    cos_limit = np.cos(np.radians(BALANCE_THIGH_DEG))
    upright = np.zeros(len(joints), bool)
    for hip, knee in (("left_hip", "left_knee"), ("right_hip", "right_knee")):
        thigh = joints[:, JOINT_INDEX[hip]] - joints[:, JOINT_INDEX[knee]]
        upright |= thigh @ up >= cos_limit * np.linalg.norm(thigh, axis=-1)
    return float(upright.mean()) if len(joints) else 0.0


def feet_in_view(landmarks2d: np.ndarray, image_size: tuple[int, int], valid: np.ndarray | None = None,
                 min_visibility: float = FOOT_MIN_VISIBILITY) -> np.ndarray:
    """[N, 4] bool: each contact column's foot landmarks (`FOOT_LANDMARKS`) inside the image and seen
    (visibility >= `min_visibility`; 0: inside the image is enough) in frame n. landmarks2d [N, 33, 3]
    pixels + visibility; image_size (width, height); valid [N] rows with a detection (others: not seen)."""
    lm2d = np.asarray(landmarks2d, np.float64)
    width, height = image_size
    inside = ((lm2d[..., 0] >= 0) & (lm2d[..., 0] <= width) & (lm2d[..., 1] >= 0) & (lm2d[..., 1] <= height)
              & (lm2d[..., 2] >= min_visibility))
    seen = np.stack([inside[:, list(ids)].all(axis=1) for ids in FOOT_LANDMARKS], axis=1)
    if valid is not None:
        seen &= np.asarray(valid, bool)[:, None]
    return seen


def rest_ankle_level(rest_joints: np.ndarray) -> float:
    """How far above the ball joint the ankle sits on the rest skeleton (feet flat), metres."""
    rest = np.asarray(rest_joints, np.float64)
    left = rest[JOINT_INDEX["left_ankle"], 1] - rest[JOINT_INDEX["left_foot"], 1]
    right = rest[JOINT_INDEX["right_ankle"], 1] - rest[JOINT_INDEX["right_foot"], 1]
    return float(np.clip(0.5 * (left + right), 0.0, 0.2))


# ---------------------------------------------------------------------------------------------
# floor

def constant_floor(joints: np.ndarray, up: np.ndarray, ankle_level: float, kind: str = "constant") -> Floor:
    """Floor perpendicular to `up` through the 5th percentile of the lowest ball joint (today's lift)."""
    points = joints[:, CONTACT_IDS]
    heights = points @ up
    ball = heights[:, [1, 3]].min(axis=1)
    offset = -float(np.percentile(ball, 5.0))
    return Floor(up=np.asarray(up, np.float64), offset=offset, levels=np.array([ankle_level, 0.0]), kind=kind)


def _fit_classes(points: np.ndarray, classes: np.ndarray, prior: np.ndarray, prior_weight: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Plane normal shared by both classes, one offset per class (least squares, class-centred).

    Minimises sum (n . x_i + b_c(i))^2 + prior_weight |n x prior|^2 over unit n: the smallest
    eigenvector of the class-centred scatter plus a pull towards the prior, which only matters in
    directions the points do not span (a person walking along one line).
    """
    scatter = np.zeros((3, 3))
    means = np.zeros((2, 3))
    for c in (0, 1):
        sel = points[classes == c]
        if len(sel):
            means[c] = sel.mean(axis=0)
            centred = sel - means[c]
            scatter += centred.T @ centred
    scatter += prior_weight * (np.eye(3) - np.outer(prior, prior))
    _, vectors = np.linalg.eigh(scatter)
    normal = vectors[:, 0]
    if normal @ prior < 0:
        normal = -normal
    return normal, -(means @ normal)


def _roll_from(up: np.ndarray, prior: np.ndarray, view: np.ndarray) -> float:
    """Degrees `up` leans sideways from `prior` (both unit, camera frame): towards the image's left or
    right, i.e. about the horizontal direction `view` (camera -> person, any length) makes with the prior, not
    towards or away from the camera. Measured in 3D, so it stays meaningful when the camera looks
    steeply down (angles between the two ups drawn in the image grow without bound there). 0 when the
    camera looks straight down the prior (no sideways direction)."""
    lateral = np.cross(view, prior)
    norm = float(np.linalg.norm(lateral))
    if norm < 1e-3:
        return 0.0
    lateral /= norm
    return abs(float(np.degrees(np.arctan2(up @ lateral, up @ prior))))


@dataclass(frozen=True)
class _FootPoints:
    """The foot points a floor plane is fitted to and judged by (camera frame, metres)."""

    slow: np.ndarray          # [M, 3] slow foot points: the plane's candidates
    slow_class: np.ndarray    # [M] their `CONTACT_CLASS` (0 ankle, 1 ball)
    every: np.ndarray         # [4N, 3] every foot point: none may lie well below a floor
    every_class: np.ndarray   # [4N]
    ankle_level: float        # rest skeleton's ankle height above the ball (m)
    prior: np.ndarray         # [3] the torso's mean direction, the prior for "up"


def _plane_hypotheses(feet: _FootPoints, settings: FloorSettings) -> tuple[np.ndarray, np.ndarray]:
    """(normals [K, 3], offsets [K]) of planes through three random slow points, ankle points moved
    down by the rest ankle height along the prior; only those within `max_tilt_from_torso` of it."""
    rng = np.random.default_rng(settings.seed)
    shifted = feet.slow - (feet.slow_class == 0)[:, None] * feet.ankle_level * feet.prior
    triples = np.stack([rng.choice(len(shifted), 3, replace=False) for _ in range(settings.iterations)])
    a, b, c = shifted[triples[:, 0]], shifted[triples[:, 1]], shifted[triples[:, 2]]
    normals = np.cross(b - a, c - a)
    norms = np.linalg.norm(normals, axis=1)
    keep = norms > 1e-6
    normals, a = normals[keep] / norms[keep, None], a[keep]
    normals *= np.where(normals @ feet.prior < 0, -1.0, 1.0)[:, None]
    within = normals @ feet.prior >= np.cos(np.radians(settings.max_tilt_from_torso))
    normals, a = normals[within], a[within]
    return normals, np.einsum("kd,kd->k", a, normals)


def _score_hypotheses(feet: _FootPoints, normals: np.ndarray, base: np.ndarray, settings: FloorSettings
                      ) -> np.ndarray:
    """[K] inliers minus twice the foot points well below; -inf where the acceptance test would refuse
    the plane for the feet under it. Scored in chunks of `HYPOTHESIS_CHUNK` hypotheses on at most
    `SCORED_POINTS` evenly strided points (counts scaled back), so time and memory stop growing with
    the clip's length."""
    is_ankle = (feet.slow_class == 0).astype(np.float64)
    every_ankle = ((feet.every_class == 0) * feet.ankle_level)[:, None]
    slow_rows = slice(None, None, max(1, -(-len(feet.slow) // SCORED_POINTS)))
    every_rows = slice(None, None, max(1, -(-len(feet.every) // SCORED_POINTS)))
    slow_scale = len(feet.slow) / len(feet.slow[slow_rows])
    every_scale = len(feet.every) / len(feet.every[every_rows])
    score = np.full(len(normals), -np.inf)
    for lo in range(0, len(normals), HYPOTHESIS_CHUNK):
        part = slice(lo, lo + HYPOTHESIS_CHUNK)
        # Re-shift the ankle points along each hypothesis' own up before scoring.
        heights = (feet.slow[slow_rows] @ normals[part].T - is_ankle[slow_rows, None] * feet.ankle_level
                   - base[part])                                                          # [M, K]
        # A floor has no foot under it: count every foot point (slow or not) well below the plane.
        below = every_scale * ((feet.every[every_rows] @ normals[part].T - every_ankle[every_rows] - base[part])
                               < -settings.below_distance).sum(axis=0)
        value = slow_scale * (np.abs(heights) < settings.inlier_distance).sum(axis=0) - 2.0 * below
        # The acceptance test would refuse a plane with that much under it: never prefer one.
        score[part] = np.where(below > settings.max_below_fraction * len(feet.every), -np.inf, value)
    return score


def _refine(feet: _FootPoints, inliers: np.ndarray, settings: FloorSettings
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares plane (normal, per-class offsets [2]) through `inliers` [M] of the slow points,
    re-selecting the inliers four times; returns (normal, offsets, final inliers)."""
    normal, offsets = feet.prior, np.zeros(2)
    for _ in range(4):
        sel_pts, sel_cls = feet.slow[inliers], feet.slow_class[inliers]
        if len(sel_pts) < 3:
            break
        normal, offsets = _fit_classes(sel_pts, sel_cls, feet.prior, prior_weight=len(sel_pts) * 0.01**2)
        for c in [c for c in (0, 1) if not np.any(sel_cls == c)]:
            offsets[c] = offsets[1 - c] + (-feet.ankle_level if c == 0 else feet.ankle_level)  # rest level
        inliers = np.abs(feet.slow @ normal + offsets[feet.slow_class]) < settings.inlier_distance
    return normal, offsets, inliers


def _refined_score(feet: _FootPoints, normal: np.ndarray, offsets: np.ndarray, inliers: np.ndarray,
                   settings: FloorSettings) -> float:
    """Inliers minus twice the foot points well below a refined plane; -inf if the acceptance test
    would refuse it for them (a floor has nothing under it)."""
    ankle_above_ball = float(np.clip(offsets[1] - offsets[0], 0.0, 0.2))
    heights = feet.every @ normal + offsets[1] - (feet.every_class == 0) * ankle_above_ball
    below = int((heights < -settings.below_distance).sum())
    if below > settings.max_below_fraction * len(feet.every):
        return -np.inf
    return float(inliers.sum() - 2.0 * below)


def _consensus_plane(feet: _FootPoints, normals: np.ndarray, base: np.ndarray, score: np.ndarray,
                     settings: FloorSettings, quality: dict[str, Any]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normal, offsets [2], inliers [M]) from the scored hypotheses: the best `refined_hypotheses`
    distinct ones refined (least squares moves a hypothesis, sometimes to a worse plane: locally
    optimised RANSAC, Chum et al. 2003), then the refined planes within `consensus_margin` of the
    best averaged. Feet that barely tilt a plane (stepping in place) leave several planes a few points
    apart; which one wins would hang on the draw. Planes are averaged as (n, b) pairs, so the mean
    keeps any line they share."""
    is_ankle = (feet.slow_class == 0).astype(np.float64)
    refined: dict[bytes, tuple[float, np.ndarray, np.ndarray, np.ndarray]] = {}
    starts: set[bytes] = set()
    for k in np.argsort(-score):
        if not np.isfinite(score[k]) or len(starts) >= settings.refined_hypotheses:
            break
        start_set = (np.abs(feet.slow @ normals[k] - is_ankle * feet.ankle_level - base[k])
                     < settings.inlier_distance)
        key = np.packbits(start_set).tobytes()
        if key not in starts:
            starts.add(key)
            normal, offsets, inliers = _refine(feet, start_set, settings)
            refined[np.packbits(inliers).tobytes()] = (_refined_score(feet, normal, offsets, inliers, settings),
                                                       normal, offsets, inliers)
    best_value = float(max(v[0] for v in refined.values()))
    if not np.isfinite(best_value):
        _, normal, offsets, inliers = max(refined.values(), key=lambda v: v[3].sum())
        return normal, offsets, inliers
    near = [v for v in refined.values() if v[0] >= best_value - max(1.0, settings.consensus_margin * best_value)]
    mean_n = np.mean([v[1] for v in near], axis=0)
    mean_b = np.mean([v[2] for v in near], axis=0)
    scale = float(np.linalg.norm(mean_n))
    normal, offsets = mean_n / scale, mean_b / scale
    quality["consensus_planes"] = len(near)
    return normal, offsets, np.abs(feet.slow @ normal + offsets[feet.slow_class]) < settings.inlier_distance


def _judge_plane(joints: np.ndarray, fps: float, feet: _FootPoints, floor: Floor, offsets: np.ndarray,
                 inliers: np.ndarray, settings: FloorSettings, quality: dict[str, Any]) -> None:
    """The acceptance tests, into `quality` (figures, `reason`, `well_conditioned`). What tilts a plane
    is footfalls in different places, not many frames of one; no foot may be under it; it may not
    lean or roll far from the torso's mean direction."""
    points = joints[:, CONTACT_IDS]
    normal = floor.up
    contacts = detect_contacts(joints, floor, fps)
    spots = np.array([np.median(points[start:end + 1, k], axis=0)
                      for k in range(4) for start, end in _runs(contacts[:, k])]).reshape(-1, 3)
    flat = spots - np.outer(spots @ normal, normal)
    extent, minor = 0.0, 0.0
    if len(flat) >= 3:
        centred = flat - flat.mean(axis=0)
        _, sing, vt = np.linalg.svd(centred, full_matrices=False)
        extent = float(np.ptp(centred @ vt[0]))
        minor = float(sing[1] / np.sqrt(len(flat)))
    all_heights = floor.heights(points) - floor.levels[list(CONTACT_CLASS)]
    below = float((all_heights < -settings.below_distance).mean())
    tilt = float(np.degrees(np.arccos(np.clip(normal @ feet.prior, -1, 1))))
    roll = _roll_from(normal, feet.prior, joints[:, JOINT_INDEX["pelvis"]].mean(axis=0))
    runs = len(spots) // 2 if len(spots) else 0
    sel = feet.slow[inliers]
    quality.update({"inliers": int(inliers.sum()), "footfalls": int(len(spots)), "extent_m": round(extent, 3),
                    "minor_std_m": round(minor, 3), "tilt_from_torso_deg": round(tilt, 2),
                    "roll_from_torso_deg": round(roll, 2),
                    "below_fraction": round(below, 4),
                    "rms_m": round(float(np.sqrt(np.mean((sel @ normal + offsets[feet.slow_class[inliers]]) ** 2)))
                                   if len(sel) else 0.0, 4)})
    problems = []
    if inliers.sum() < settings.min_points:
        problems.append(f"{int(inliers.sum())} foot points on the floor (need {settings.min_points})")
    if len(spots) < 3:
        problems.append(f"{'only ' + str(len(spots)) if len(spots) else 'no'} foot contacts on it")
    elif runs < settings.min_runs or extent < settings.min_spread or minor < settings.min_minor_spread:
        problems.append(f"footfalls cover {extent:.2f} m x {2 * minor:.2f} m of floor (too little to tilt a plane)")
    if tilt > settings.max_accepted_tilt:
        problems.append(f"its up is {tilt:.0f} deg from the torso's mean direction")
    if roll > settings.max_accepted_roll:
        problems.append(f"it is rolled {roll:.0f} deg sideways from the torso's mean direction")
    if below > settings.max_below_fraction:
        problems.append(f"{100 * below:.0f} % of foot positions lie below it")
    if floor.offset <= 0.0:
        problems.append(f"it puts the camera {-floor.offset:.2f} m under the floor")
    quality["reason"] = "; ".join(problems)
    quality["well_conditioned"] = not problems


def fit_floor(joints: np.ndarray, fps: float, rest_joints: np.ndarray,
              settings: FloorSettings = FloorSettings(), seen: np.ndarray | None = None
              ) -> tuple[Floor | None, dict[str, Any]]:
    """RANSAC plane through the slow foot points, refined by least squares; None when too few.

    joints [N, 24, 3] camera frame (m). Returns (floor or None, quality figures; `well_conditioned`
    and `reason` say whether the acceptance tests passed). The hypotheses are planes through three
    slow points (ankle points moved down by the rest skeleton's ankle height along the current up)
    whose up lies within `max_tilt_from_torso` of the torso (`_plane_hypotheses`); the score counts
    inliers and penalises foot points far below the plane (a floor has nothing under it), and a
    hypothesis with more of them below than the acceptance test allows is never preferred
    (`_score_hypotheses`). The best `refined_hypotheses` distinct hypotheses are refined (locally
    optimised RANSAC, Chum et al. 2003), and the refined planes within `consensus_margin` of the best
    are averaged (`_consensus_plane`); `_judge_plane` then applies the acceptance tests.
    seen [N, 4] (`feet_in_view`): only foot points seen in the image count; None: all.
    """
    points = joints[:, CONTACT_IDS]                        # [N, 4, 3]
    seen = np.ones(points.shape[:2], bool) if seen is None else np.asarray(seen, bool)
    slow = (_speeds(points, fps, None) < settings.candidate_speed) & seen
    classes = np.broadcast_to(np.array(CONTACT_CLASS), slow.shape)
    feet = _FootPoints(slow=points[slow], slow_class=classes[slow],
                       every=points[seen], every_class=classes[seen],
                       ankle_level=rest_ankle_level(rest_joints), prior=torso_up(joints))
    quality: dict[str, Any] = {"candidates": int(len(feet.slow))}
    if len(feet.slow) < max(settings.min_points, 3):
        quality["reason"] = f"only {len(feet.slow)} slow foot points"
        return None, quality
    normals, base = _plane_hypotheses(feet, settings)
    score = _score_hypotheses(feet, normals, base, settings)
    if not np.isfinite(score).any() or score.max() <= 0:
        quality["reason"] = "no plane within the tilt limit with the feet above it"
        return None, quality
    normal, offsets, inliers = _consensus_plane(feet, normals, base, score, settings, quality)
    levels = np.array([float(np.clip(offsets[1] - offsets[0], 0.0, 0.2)), 0.0])  # ankle rests this far above the ball
    floor = Floor(up=normal, offset=float(offsets[1]), levels=levels, kind="plane")
    _judge_plane(joints, fps, feet, floor, offsets, inliers, settings, quality)
    return floor, quality


# ---------------------------------------------------------------------------------------------
# contacts

def detect_contacts(joints: np.ndarray, floor: Floor, fps: float,
                    settings: ContactSettings = ContactSettings(), in_picture: np.ndarray | None = None) -> np.ndarray:
    """[N, 24, 3] camera-frame joints -> [N, 4] bool contacts (`CONTACT_JOINTS` order).

    Height is each point's height above its own resting level; speed is along the floor.
    Hysteresis (enter/exit thresholds), then runs shorter than `min_duration` are dropped and
    gaps shorter than `max_gap` are filled. A foot point outside the picture, `in_picture` [N, 4]
    False (`feet_in_view` with visibility 0; None: all inside), is never in contact, so never locked;
    one hidden behind the other leg still can be.
    """
    points = joints[:, CONTACT_IDS]
    height = floor.heights(points) - floor.levels[list(CONTACT_CLASS)]
    speed = _speeds(points, fps, floor.up)
    enter = (height < settings.enter_height) & (speed < settings.enter_speed)
    stay = (height < settings.exit_height) & (speed < settings.exit_speed)
    n = len(points)
    contacts = np.zeros((n, 4), bool)
    for k in range(4):
        on = False
        for t in range(n):
            on = bool(enter[t, k] or (on and stay[t, k]))
            contacts[t, k] = on
        # Hysteresis runs forward only; run it backwards too so a contact does not start late.
        on = False
        for t in range(n - 1, -1, -1):
            on = bool(enter[t, k] or (on and stay[t, k]))
            contacts[t, k] |= on
    max_gap = max(int(round(settings.max_gap * fps)), 0)
    min_len = max(int(round(settings.min_duration * fps)), 1)
    for k in range(4):
        col = contacts[:, k]
        for start, end in _runs(~col):
            if start > 0 and end < n - 1 and end - start + 1 <= max_gap:
                col[start:end + 1] = True
        for start, end in _runs(col):
            if end - start + 1 < min_len:
                col[start:end + 1] = False
    if in_picture is not None:
        contacts &= np.asarray(in_picture, bool)
    return contacts


# ---------------------------------------------------------------------------------------------
# foot locking

def two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray,
                upper: float, lower: float, margin: float = 0.0,
                forward: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Analytic two-bone IK: the rotations (applied on the left of the globals) of thigh and shin.

    All arrays [M, 3]. The knee bends towards `forward` (the thigh's front: a knee never bends
    backwards), or, without it, stays in the plane of hip, target and the original knee.
    Targets beyond reach are pulled back to `upper + lower - margin`.
    Returns (R_thigh [M, 3, 3], R_shin [M, 3, 3]): new thigh global = R_thigh @ old, new shin
    global = R_shin @ R_thigh @ old.
    """
    to_target = target - hip
    dist = np.linalg.norm(to_target, axis=-1)
    reach = upper + lower - margin
    dist_c = np.clip(dist, abs(upper - lower) + 1e-4, reach)
    axis = to_target / np.maximum(dist, 1e-9)[:, None]
    # Knee bend direction: the old knee's offset from the hip->target line.
    pole = knee - hip if forward is None else forward
    pole = pole - (pole * axis).sum(-1, keepdims=True) * axis
    pole_norm = np.linalg.norm(pole, axis=-1, keepdims=True)
    fallback = np.cross(axis, np.array([1.0, 0.0, 0.0]))
    pole = np.where(pole_norm > 1e-6, pole / np.maximum(pole_norm, 1e-9), fallback / np.maximum(
        np.linalg.norm(fallback, axis=-1, keepdims=True), 1e-9))
    along = (upper**2 - lower**2 + dist_c**2) / (2.0 * dist_c)
    across = np.sqrt(np.maximum(upper**2 - along**2, 0.0))
    new_knee = hip + axis * along[:, None] + pole * across[:, None]
    new_ankle = hip + axis * dist_c[:, None]
    r_thigh = rotation_between(knee - hip, new_knee - hip)
    shin_after = np.einsum("mij,mj->mi", r_thigh, ankle - knee)
    r_shin = rotation_between(shin_after, new_ankle - new_knee)
    return r_thigh, r_shin


def _lock_targets(points: np.ndarray, contacts: np.ndarray, floor: Floor, fps: float,
                  settings: LockSettings, leg_cols: tuple[int, int], ball_from_ankle: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per frame the ankle's offset for one leg ([N, 3]) and whether the frame is touched ([N]).

    points [N, 2, 3]: the leg's ankle and ball; ball_from_ankle [N, 3]: the ball's offset from the
    ankle with the foot as it will be posed (its held orientation on flat-foot frames).
    """
    n = len(points)
    ankle, ball = points[:, 0], points[:, 1]
    c_ankle, c_ball = contacts[:, leg_cols[0]], contacts[:, leg_cols[1]]
    foot = c_ankle | c_ball
    offset = np.zeros((n, 3))
    touched = np.zeros(n, bool)
    blend = max(int(round(settings.blend * fps)), 1)
    up = floor.up

    def hold(track: np.ndarray, mask: np.ndarray, level: float) -> np.ndarray:
        spot = np.median(track[mask], axis=0)
        height = spot @ up + floor.offset - level
        return spot - min(height, 0.0) * up           # never below its resting level

    runs = _runs(foot)
    run_offsets: list[tuple[int, int, np.ndarray, np.ndarray]] = []
    for start, end in runs:
        span = slice(start, end + 1)
        target = ankle[span].copy()
        # The ball anchors the foot whenever it is down: a flat foot stays put, and at heel-off the
        # foot turns about the ball as a real one does. Only the heel alone (heel strike) holds the ankle.
        heel_only = c_ankle[span] & ~c_ball[span]
        on_ball = c_ball[span]
        for b_start, b_end in _runs(on_ball):  # each time the ball comes down it stays at one spot
            down = slice(b_start, b_end + 1)
            spot = hold(ball[span][down], np.ones(b_end - b_start + 1, bool), floor.levels[1])
            target[down] = spot - ball_from_ankle[span][down]
        flat = c_ankle[span] & on_ball
        for h_start, h_end in _runs(heel_only):
            # Heel strike then flat foot: the heel does not move in between, so a heel-only stretch
            # next to a flat-foot one holds the ankle where the flat foot puts it; between two flat
            # stretches it eases from one's ankle spot to the other's (the same spot unless it moved).
            stretch = slice(h_start, h_end + 1)
            before = h_start - 1 if h_start > 0 and flat[h_start - 1] else None
            after = h_end + 1 if h_end + 1 < len(flat) and flat[h_end + 1] else None
            if before is not None and after is not None:
                ease = _smoothstep(np.arange(1, h_end - h_start + 2) / (h_end - h_start + 2.0))[:, None]
                if np.linalg.norm(target[after] - target[before]) <= settings.heel_travel:
                    target[stretch] = (1.0 - ease) * target[before] + ease * target[after]
                else:  # the heel moved between them (a step the contacts missed): follow it, corrected
                    offsets = (1.0 - ease) * (target[before] - ankle[span][before]) + ease * (
                        target[after] - ankle[span][after])
                    target[stretch] = ankle[span][stretch] + offsets
            elif before is not None or after is not None:
                target[stretch] = target[after if after is not None else before]
            else:
                target[stretch] = hold(ankle[span][stretch], np.ones(h_end - h_start + 1, bool), floor.levels[0])
        offset[span] = target - ankle[span]
        touched[span] = True
        run_offsets.append((start, end, offset[start].copy(), offset[end].copy()))
    # Eased blends outside each run: the offset at the run's edge fades to zero over `blend` frames.
    weights = np.zeros(n)
    accum = np.zeros((n, 3))
    for start, end, first, last in run_offsets:
        for i in range(1, blend + 1):
            w = _fade(i, blend)
            for t, value in ((start - i, first), (end + i, last)):
                if 0 <= t < n and not foot[t]:
                    accum[t] += w * value
                    weights[t] += w
    outside = (weights > 0) & ~foot
    # Two blends overlapping in a short gap: a weighted mean, scaled by the stronger weight.
    scale = np.where(outside, np.minimum(weights, 1.0) / np.maximum(weights, 1e-9), 0.0)
    offset[outside] = accum[outside] * scale[outside, None]
    touched |= outside
    return offset, touched


def _held_foot_rotations(foot: np.ndarray, flat: np.ndarray, blend: int, up: np.ndarray,
                         toward_ball: np.ndarray) -> np.ndarray:
    """[N, 3, 3] global foot (ankle joint) rotations whose heading is held through each flat-foot run.

    A foot with heel and ball both down does not turn; MediaPipe's foot landmarks still jitter, and
    with the foot's own orientation kept the heel would swing about a held ball (the sample video's
    planted heels slid 2 cm a frame). Each run of `flat` frames [N] holds the circular mean of the
    foot's heading (the ankle->ball direction `foot @ toward_ball` about the floor's `up`), eased in
    and out over `blend` frames by smoothstep. Only the heading is held: the heel may still rise
    about the ball (holding the whole orientation bent the knee of a rolling foot: 5.6 -> 9.1 deg on
    the harness's walk with true evidence).
    """
    forward = foot @ toward_ball
    along = forward - (forward @ up)[:, None] * up
    side = np.cross(up, along[np.argmax(np.linalg.norm(along, axis=-1))])
    side /= max(float(np.linalg.norm(side)), 1e-9)
    ahead = np.cross(side, up)
    heading = np.arctan2(along @ side, along @ ahead)       # [N] radians about up
    turn = np.zeros(len(foot))
    weight = np.zeros(len(foot))
    for start, end in _runs(flat):
        span = heading[start:end + 1]
        held = float(np.arctan2(np.sin(span).mean(), np.cos(span).mean()))
        for t in range(max(start - blend, 0), min(end + blend, len(foot) - 1) + 1):
            w = 1.0 if start <= t <= end else _fade(start - t if t < start else t - end, blend)
            if w > weight[t]:
                weight[t] = w
                turn[t] = w * float(np.angle(np.exp(1j * (held - heading[t]))))
    out = foot.copy()
    moved = weight > 0
    if moved.any():
        # Turning about up by +angle moves `ahead` towards `side` iff (ahead x side) . up > 0.
        sign = 1.0 if np.cross(ahead, side) @ up > 0 else -1.0
        out[moved] = axis_angle_to_matrix(sign * turn[moved, None] * up) @ foot[moved]
    return out


def lock_feet(poses: np.ndarray, transl: np.ndarray, rest_joints: np.ndarray, contacts: np.ndarray,
              floor: Floor, fps: float, settings: LockSettings = LockSettings()
              ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Hold each contact's foot still (two-bone IK on each leg). The foot keeps its orientation, except
    that a flat foot (ankle and ball both in contact) keeps one heading through the contact.

    poses [N, 24, 3] axis-angle, transl [N, 3] camera frame, contacts [N, 4]. Returns new
    (poses, transl, figures). Only hip, knee and ankle rotations change, and the root translation
    only in frames where a held foot is out of reach (the pelvis moves the least that brings it in).
    """
    poses = np.array(poses, np.float64)
    transl = np.array(transl, np.float64)
    rest = np.asarray(rest_joints, np.float64)
    joints = forward_kinematics(poses, rest, transl)
    n = len(poses)
    local = axis_angle_to_matrix(poses)
    glob = global_rotations(local)
    blend = max(int(round(settings.blend * fps)), 1)
    feet, balls_from_ankle, offsets, touched = [], [], [], []
    for chain, cols in LEGS:
        toward_ball = rest[chain[3]] - rest[chain[2]]
        foot = _held_foot_rotations(glob[:, chain[2]], contacts[:, cols[0]] & contacts[:, cols[1]], blend,
                                    floor.up, toward_ball)
        ball_from_ankle = foot @ toward_ball
        off, tch = _lock_targets(joints[:, [chain[2], chain[3]]], contacts, floor, fps, settings, cols,
                                 ball_from_ankle)
        feet.append(foot)
        balls_from_ankle.append(ball_from_ankle)
        offsets.append(off)
        touched.append(tch | np.any(np.abs(foot - glob[:, chain[2]]) > 1e-9, axis=(1, 2)))
    targets = [joints[:, chain[2]] + off for (chain, _), off in zip(LEGS, offsets, strict=True)]
    # No foot below the floor (any frame): lift the ankle target until ankle and ball clear their levels.
    lifted = 0
    for leg in range(len(LEGS)):
        ball_from_ankle = balls_from_ankle[leg]
        h_ankle = floor.heights(targets[leg]) - floor.levels[0]
        h_ball = floor.heights(targets[leg] + ball_from_ankle) - floor.levels[1]
        deficit = np.maximum(0.0, -np.minimum(h_ankle, h_ball))
        deficit[deficit < 1e-4] = 0.0
        lifted += int((deficit > 0).sum())
        targets[leg] = targets[leg] + deficit[:, None] * floor.up
        touched[leg] |= deficit > 0
    # Root: the least pelvis shift that brings every held foot within reach (then eased in time).
    lengths = []
    for chain, _ in LEGS:
        hip, knee, ankle = chain[0], chain[1], chain[2]
        lengths.append((float(np.linalg.norm(rest[knee] - rest[hip])), float(np.linalg.norm(rest[ankle] - rest[knee]))))
    shift = np.zeros((n, 3))
    if settings.adjust_root:
        for _ in range(3):
            for leg, (chain, _) in enumerate(LEGS):
                hip = joints[:, chain[0]] + shift
                gap = targets[leg] - hip
                dist = np.linalg.norm(gap, axis=-1)
                reach = sum(lengths[leg]) - settings.reach_margin
                over = np.where(touched[leg], np.maximum(dist - reach - settings.root_tolerance, 0.0), 0.0)
                shift += gap / np.maximum(dist, 1e-9)[:, None] * over[:, None]
        if np.any(shift):
            shift = _ease_shift(shift, max(int(round(settings.blend * fps)), 1))
    transl = transl + shift
    changed = np.zeros(n, bool)
    for leg, (chain, _) in enumerate(LEGS):
        hip_j, knee_j, ankle_j, _ball = chain
        frames = np.flatnonzero(touched[leg] | np.any(shift != 0.0, axis=-1))
        if len(frames) == 0:
            continue
        hip = joints[frames, hip_j] + shift[frames]
        knee = joints[frames, knee_j] + shift[frames]
        ankle = joints[frames, ankle_j] + shift[frames]
        upper, lower = lengths[leg]
        front = glob[frames, hip_j] @ np.array([0.0, 0.0, 1.0])  # the thigh's front: SMPL's body faces +z
        r_thigh, r_shin = two_bone_ik(hip, knee, ankle, targets[leg][frames], upper, lower, settings.reach_margin,
                                      front)
        g_hip = r_thigh @ glob[frames, hip_j]
        g_knee = r_shin @ r_thigh @ glob[frames, knee_j]
        g_ankle = feet[leg][frames]                           # the foot's own or held orientation
        g_pelvis = glob[frames, PARENTS[hip_j]]
        local[frames, hip_j] = np.swapaxes(g_pelvis, -1, -2) @ g_hip
        local[frames, knee_j] = np.swapaxes(g_hip, -1, -2) @ g_knee
        local[frames, ankle_j] = np.swapaxes(g_knee, -1, -2) @ g_ankle
        changed[frames] = True
    new_poses = poses.copy()
    for j in {c for chain, _ in LEGS for c in chain[:3]}:
        new_poses[changed, j] = matrix_to_axis_angle(local[changed, j])
    figures = {"frames_changed": int(changed.sum()), "frames_root_adjusted": int(np.any(shift != 0, -1).sum()),
               "max_root_adjust_m": round(float(np.linalg.norm(shift, axis=-1).max(initial=0.0)), 4),
               "foot_frames_lifted": lifted}
    return new_poses.astype(np.float32), transl.astype(np.float32), figures


def _ease_shift(shift: np.ndarray, blend: int) -> np.ndarray:
    """Spread each root shift over its neighbours (max of smoothstep-weighted shifts) so nothing pops."""
    n = len(shift)
    out = shift.copy()
    mags = np.linalg.norm(shift, axis=-1)
    for t in np.flatnonzero(mags > 0):
        for i in range(1, blend + 1):
            w = _fade(i, blend)
            for u in (t - i, t + i):
                if 0 <= u < n and np.linalg.norm(out[u]) < w * mags[t]:
                    out[u] = w * shift[t]
    return out


# ---------------------------------------------------------------------------------------------
# the stage

def _balance_floor(joints: np.ndarray, fps: float, ankle_level: float, seen: np.ndarray,
                   settings: FloorSettings) -> tuple[Floor | None, dict[str, Any]]:
    """The floor from the body's balance (`balance_up`) over the frames with both feet in view `seen`
    [N], or None; and its figures (`used`, `reason`, tilt from the camera's up, roll from the torso,
    standing share). Refused: under `BALANCE_MIN_SECONDS` of such frames; a person not standing
    (`standing_share`); rolled more than `max_accepted_roll` from the torso; within
    `BALANCE_SNAP_DEG` of the camera's up (kept) or beyond `BALANCE_MAX_TILT_DEG`; a camera under it."""
    figures: dict[str, Any] = {"used": False, "frames": int(seen.sum())}
    if seen.sum() < BALANCE_MIN_SECONDS * fps:
        figures["reason"] = f"the feet are in view in {int(seen.sum())} frames (needs {BALANCE_MIN_SECONDS:g} s)"
        return None, figures
    body = joints[seen]
    up = balance_up(body)
    tilt = float(np.degrees(np.arccos(np.clip(up @ CAMERA_UP, -1.0, 1.0))))
    standing = standing_share(body, up)
    roll = _roll_from(up, torso_up(body), body[:, JOINT_INDEX["pelvis"]].mean(axis=0))
    figures.update({"tilt_deg": round(tilt, 2), "roll_from_torso_deg": round(roll, 2),
                    "standing_share": round(standing, 3)})
    floor = constant_floor(body, up, ankle_level, kind="balance")
    if standing < BALANCE_STANDING_SHARE:
        figures["reason"] = f"the person stands in {100 * standing:.0f} % of the frames (seated, lying?)"
    elif roll > settings.max_accepted_roll:
        figures["reason"] = f"it is rolled {roll:.0f} deg sideways from the torso's mean direction"
    elif tilt <= BALANCE_SNAP_DEG:
        figures["reason"] = f"it is within {BALANCE_SNAP_DEG:g} deg of the camera's up ({tilt:.1f}), which is kept"
    elif tilt > BALANCE_MAX_TILT_DEG:
        figures["reason"] = (f"it is {tilt:.0f} deg from the camera's up (a body upside down or lying, or a "
                             "rotated video?)")
    elif floor.offset <= 0.0:
        figures["reason"] = f"it puts the camera {-floor.offset:.2f} m under the floor"
    else:
        figures["used"] = True
        return floor, figures
    return None, figures


def choose_floor(joints: np.ndarray, fps: float, rest_joints: np.ndarray, mode: str,
                 floor_settings: FloorSettings = FloorSettings(), seen: np.ndarray | None = None,
                 detected: np.ndarray | None = None) -> FloorChoice:
    """The floor for contacts and what the motion file says about it.

    Returns (floor used for contacts, ground mode used: plane/balance/constant/off, quality, warnings).
    `auto` uses the plane only when it is well conditioned; `plane` uses any plane that could be
    fitted, but never one that puts the camera under the floor. Without one, both take up from the
    body's balance (`_balance_floor`; its figures are `quality["balance"]`), else the constant lift
    along the camera's up; either fallback comes with a warning that says why. seen [N, 4]
    (`feet_in_view`): foot points MediaPipe sees; with the feet in view in under `MIN_FEET_IN_VIEW` of
    the detected frames `detected` [N] (a close-up), neither the plane nor balance is tried. None: all.
    """
    if mode not in GROUND_MODES:
        raise ValueError(f"ground mode must be one of {GROUND_MODES}, got {mode!r}")
    warnings: list[str] = []
    ankle_level = rest_ankle_level(rest_joints)
    seen = np.ones((len(joints), 4), bool) if seen is None else np.asarray(seen, bool)
    both_seen = seen.all(axis=1)
    detected = np.ones(len(joints), bool) if detected is None else np.asarray(detected, bool)
    in_view = float(both_seen[detected].mean()) if detected.any() else 0.0  # share of the frames with a person
    contact_floor = constant_floor(joints, torso_up(joints), ankle_level)  # contacts still need a floor
    if in_view < MIN_FEET_IN_VIEW:
        quality = {"reason": f"the feet are out of view or hidden in {100 * (1 - in_view):.0f} % of the frames "
                             "with the person", "feet_in_view": round(in_view, 3)}
        if mode in ("auto", "plane"):
            warnings.append(f"no floor: {quality['reason']}; Feet on Ground falls back to one constant lift, "
                            "and up stays the camera's up")
            return contact_floor, "constant", quality, warnings
        return contact_floor, mode, quality, warnings
    plane, quality = fit_floor(joints, fps, rest_joints, floor_settings, seen)
    quality["feet_in_view"] = round(in_view, 3)
    why = f"no floor plane ({quality.get('reason') or 'none found'})"
    if plane is not None and plane.offset <= 0.0:
        why = f"no floor plane (the plane found puts the camera {-plane.offset:.2f} m under the floor)"
        plane = None  # not a floor, even for `plane` ("any plane")
    good = plane is not None and bool(quality.get("well_conditioned"))
    if mode == "plane" and plane is not None and not good:
        warnings.append(f"floor plane is poorly conditioned ({quality.get('reason')}); used anyway (--ground plane)")
    if plane is not None and (good or mode == "plane"):
        return plane, ("plane" if mode in ("auto", "plane") else mode), quality, warnings
    if mode not in ("auto", "plane"):
        return contact_floor, mode, quality, warnings
    floor, quality["balance"] = _balance_floor(joints, fps, ankle_level, both_seen, floor_settings)
    if floor is not None:
        warnings.append(f"{why}; up is taken from the body's balance "
                        f"({quality['balance']['tilt_deg']:.0f} deg from the camera's up)")
        return floor, "balance", quality, warnings
    warnings.append(f"{why}; up from the body's balance not used ({quality['balance']['reason']}); "
                    "Feet on Ground falls back to one constant lift, and up stays the camera's up")
    return contact_floor, "constant", quality, warnings


def ground_motion(poses: np.ndarray, transl: np.ndarray, rest_joints: np.ndarray, fps: float,
                  foot_lock: bool = True, ground: str = "auto",
                  contact_settings: ContactSettings = ContactSettings(),
                  floor_settings: FloorSettings = FloorSettings(),
                  lock_settings: LockSettings = LockSettings(),
                  chosen_floor: FloorChoice | None = None, seen: np.ndarray | None = None,
                  detected: np.ndarray | None = None, in_picture: np.ndarray | None = None) -> GroundResult:
    """The grounding stage: floor, contacts, and (optionally) foot locking, for any model's output.

    poses [N, 24, 3] axis-angle and transl [N, 3] in the camera frame; rest_joints [24, 3] body
    frame. The returned floor plane is None unless the plane is used (ground mode plane/auto).
    `chosen_floor`: a floor already chosen (by `choose_floor`, e.g. the one the fit held the feet to);
    None finds it here, from the foot points `seen` [N, 4] (`feet_in_view`; None: all) of the frames
    `detected` [N]; contacts only for foot points `in_picture` [N, 4] (`detect_contacts`).
    """
    rest = np.asarray(rest_joints, np.float64)
    joints = forward_kinematics(poses, rest, transl)
    if chosen_floor is None:
        chosen_floor = choose_floor(joints, fps, rest, ground, floor_settings, seen, detected)
    floor, used, quality, warnings = chosen_floor
    warnings = list(warnings)
    if floor.kind != "plane":
        # No floor seen under the feet (sitting, jumping on the spot, a close-up): only feet that are
        # clearly still and at the lowest level count, so a swinging or lifting foot is never held.
        contact_settings = STRICT_CONTACTS
    contacts = detect_contacts(joints, floor, fps, contact_settings, in_picture)
    written = used in ("plane", "balance")  # the floors a motion file's floor_plane carries
    meta: dict[str, Any] = {
        "foot_lock": "on" if foot_lock else "off", "ground": ground, "ground_used": used,
        # The camera's pitch, roll and height only where the file's floor_plane says so; else the scene
        # keeps the camera's up (the contacts' own floor leans with the torso and would contradict it).
        "floor": {"kind": floor.kind, "levels_m": [round(float(v), 4) for v in floor.levels],
                  **(floor.camera_angles() if written else {"up": "camera"}),
                  "quality": quality},
        "contact_frames": [int(v) for v in contacts.sum(axis=0)],
        "contact_columns": list(CONTACT_JOINTS),
        "settings": {"contacts": asdict(contact_settings), "lock": asdict(lock_settings)},
    }
    new_poses, new_transl = np.asarray(poses, np.float32), np.asarray(transl, np.float32)
    if foot_lock and contacts.any():
        new_poses, new_transl, figures = lock_feet(poses, transl, rest, contacts, floor, fps, lock_settings)
        meta["lock"] = figures
    elif foot_lock:
        warnings.append("no foot contacts found; foot locking left the motion unchanged")
    return GroundResult(poses=new_poses, transl=new_transl, contacts=contacts, floor=floor,
                        floor_plane=floor.plane().astype(np.float32) if written else None,
                        meta=meta, warnings=warnings)


# ---------------------------------------------------------------------------------------------
# figures (benchmarks and tests)

def foot_skate(joints: np.ndarray, contacts: np.ndarray, up: np.ndarray) -> float:
    """Mean movement along the floor (metres per frame) of foot points in contact in consecutive frames."""
    points = joints[:, CONTACT_IDS]
    step = np.diff(points, axis=0)
    step = step - (step @ up)[..., None] * up
    both = contacts[1:] & contacts[:-1]
    if not both.any():
        return 0.0
    return float(np.linalg.norm(step, axis=-1)[both].mean())


# ---------------------------------------------------------------------------------------------
# floor and contacts as terms of the whole-clip fit

@dataclass(frozen=True)
class ContactTermWeights:
    """Weights of `contact_term`, per frame and contact point, on squared metres (heights, steps).

    Chosen on the ground-truth harness (bench/bench_accuracy.py, walk_across_far and
    walk_towards_pitched, the clips with a floor plane) and the single-person sample: with
    300/1000/300 the walk across's knee flexion error falls from 11.7 to 9.3 deg and its root depth
    error from 0.038 to 0.009 m (the foot lock after the fit has little left to move, and a
    near-straight stance knee is what its two-bone IK bends most for a few millimetres); 1000/3000/1000
    gave 8.5 deg but raised the sample's reprojection error (1.57 -> 1.62 % of the box), 100/3000/100
    held the walk's root less well. A 1 cm gap weighs 0.03 per frame on the floor, a 1 cm step 0.1.
    """

    on_floor: float = 300.0   # (height - resting level)^2 while in contact
    still: float = 1000.0     # squared step between consecutive contact frames
    above: float = 300.0      # (resting level - height)^2 where a point is below its level


def contact_term(floor: Floor, contacts: np.ndarray, weights: ContactTermWeights = ContactTermWeights()
                 ) -> ExtraTerm:
    """The floor and contacts as a term of the fit's objective (`fit.ExtraTerm`).

    A foot point in contact rests at its level on the floor and does not move between consecutive
    contact frames; no foot point goes below its level. With the 2D landmarks pinning each point to
    its viewing ray, the floor then fixes its depth, which MediaPipe's 3D guesses worst.
    contacts: [N, 4] bool over the clip (`CONTACT_JOINTS` order); the term sees blocks of rows.
    """
    contacts = np.asarray(contacts, bool)
    up = np.asarray(floor.up, np.float64)
    levels = np.asarray(floor.levels, np.float64)[list(CONTACT_CLASS)]
    ids = list(CONTACT_IDS)

    def term(joints: np.ndarray, transl: np.ndarray, rows: slice) -> tuple[float, np.ndarray, np.ndarray]:
        n = len(joints)
        on = contacts[rows]
        per = 1.0 / max(n, 1)
        points = joints[:, ids]
        gap = points @ up + floor.offset - levels          # [n, 4] metres above the resting level
        g_points = np.zeros_like(points)
        value = weights.on_floor * per * float(np.sum(on * gap ** 2))
        g_gap = 2 * weights.on_floor * per * on * gap
        below = np.minimum(gap, 0.0)
        value += weights.above * per * float(np.sum(below ** 2))
        g_gap = g_gap + 2 * weights.above * per * below
        g_points += g_gap[..., None] * up
        held = (on[1:] & on[:-1])[..., None]
        step = (points[1:] - points[:-1]) * held
        value += weights.still * per * float(np.sum(step ** 2))
        g_step = 2 * weights.still * per * step
        g_points[1:] += g_step
        g_points[:-1] -= g_step
        g_joints = np.zeros_like(joints)
        g_joints[:, ids] = g_points
        return value, g_joints, np.zeros_like(transl)

    return term
