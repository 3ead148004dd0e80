"""Left/right label repair: find frames where MediaPipe swapped the legs' (or arms') labels, and swap back.

Seen side-on, MediaPipe often labels the near leg as the far one for a few frames, in its 2D and
3D landmarks together. A swap is invisible in one frame but not over time. For each limb pair we
choose, per frame, "as reported" or "swapped" by dynamic programming (Viterbi) over the clip,
minimising

- 2D continuity: how far each labelled landmark moves from one detected frame to the next, in box
  heights (a swap makes both legs jump by their separation, twice);
- 3D continuity: the same on the hip-centred world landmarks, in metres over the leg length;
- the visible-side cue: in the world landmarks, the left leg's knee and ankle lie on the person's
  left of the right leg's (lateral axis from the hips and, when the hips are seen edge-on, from the
  shoulders and ears); a labelling that puts them on the wrong side costs in proportion;
- a small cost per swapped frame, so nothing is swapped without evidence.

Seen from behind, MediaPipe often takes the back for the front: it mirrors the WHOLE body (hips,
shoulders, face and limbs; 2D labels and 3D together; its 3D faces the camera). The pairwise repair
cannot see this (legs stay where they should relative to the hips). A first Viterbi pass therefore
chooses per frame "as reported" or "mirrored" (every left/right label exchanged, world depth negated
about the hips; on the truth harness, bench/bench_accuracy.py, negating the depth too beat exchanging
the labels only: PA-MPJPE 73 / 64 / 73 mm against 75 / 71 / 93 on the walk away, the turn and the
run), minimising

- facing continuity: the angle the torso's forward direction turns from one detected frame to the
  next, beyond what a person turns in that time (a mirror makes it jump by up to 180 degrees);
- 2D continuity of every left/right labelled landmark, as above;
- the travel cue: a person moving at walking speed faces where they go; a labelling whose torso
  faces against the camera-frame travel direction (from the 2D position and the 2D/3D size ratio)
  costs in proportion (only when `focal_length` is given);
- a cost per mirrored frame.

Frames where the person was not detected carry no evidence and keep their labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..body import landmarks_def as lm

LEG_PAIRS = ((lm.LEFT_KNEE, lm.RIGHT_KNEE), (lm.LEFT_ANKLE, lm.RIGHT_ANKLE), (lm.LEFT_HEEL, lm.RIGHT_HEEL),
             (lm.LEFT_TOE, lm.RIGHT_TOE))
ARM_PAIRS = ((lm.LEFT_ELBOW, lm.RIGHT_ELBOW), (lm.LEFT_WRIST, lm.RIGHT_WRIST), (lm.LEFT_PINKY, lm.RIGHT_PINKY),
             (lm.LEFT_INDEX, lm.RIGHT_INDEX), (21, 22))  # 21/22: thumbs

#: Every left/right landmark pair of MediaPipe Pose (eyes, ears, mouth, shoulders ... toes).
BODY_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
              (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32))

#: Cost of one swapped frame (in the units of the continuity terms: box heights per landmark).
SWAP_COST = 0.05
#: Weight of the 3D continuity relative to the 2D one.
WORLD_WEIGHT = 0.5
#: Weight of the visible-side cue (per metre of lateral offset on the wrong side). Kept weak: MediaPipe's
#: depth can put a whole limb 0.15 m off, which mimics a swap in 3D. On 30 synthetic clips (5 motions x
#: 6 seeds, 8 % of frames swapped) 0.1 gets 6 of 2,700 frames wrong and invents no swap on clean clips;
#: 1.0 got 40 wrong.
SIDE_WEIGHT = 0.1
#: Lateral offsets smaller than this (summed over knee and ankle) are depth noise, not a side.
SIDE_MARGIN_M = 0.10


# The mirror pass's constants come from the reasoning in their comments, not from a search on the
# harness; they were checked on the harness's seven clips (every misread frame found, none invented)
# and on synthetic clips (tests/backend/test_fit_accuracy.py).
#: Whole-body mirror: cost of one mirrored frame (box heights per landmark, as SWAP_COST).
MIRROR_COST = 0.05
#: Whole-body mirror: cost per radian the torso's facing turns between two detected frames beyond
#: TURN_RATE_RAD_S. A mirror while seen from behind turns it by 120-180 degrees in one frame.
FACING_WEIGHT = 1.0
#: Turning faster than this costs (radians per second). A brisk turn on the spot or round a tight
#: circle is 180 degrees in about a second; MediaPipe's facing jitters by about 10 degrees per frame.
TURN_RATE_RAD_S = np.pi
#: Whole-body mirror: weight of the travel cue (per unit of -cos(facing, travel), at full confidence):
#: walking straight away while read as facing the camera costs as much as 6 mirrored frames.
TRAVEL_WEIGHT = 0.3
#: Travel speeds (m/s, camera frame) between which the travel cue's confidence rises from 0 to 1:
#: people stand and sway below the first; a slow walk is about 1 m/s (Bohannon 1997: comfortable
#: gait speed 1.27-1.46 m/s in adults).
TRAVEL_SPEED_M_S = (0.4, 0.9)
#: Half-width of the window over which the travel velocity is fitted (seconds): about one stride,
#: so the sway of the gait and the depth noise of the size ratio average out.
TRAVEL_WINDOW_S = 0.4


@dataclass
class Repair:
    landmarks2d: np.ndarray  # [N, 33, 3] with the swapped frames swapped back
    world: np.ndarray  # [N, 33, 3]
    legs: np.ndarray  # [N] bool, leg labels swapped back in this frame
    arms: np.ndarray  # [N] bool
    mirrored: np.ndarray | None = None  # [N] bool, the whole body mirrored back (seen from behind)

    def counts(self) -> dict[str, int]:
        mirrored = 0 if self.mirrored is None else int(self.mirrored.sum())
        return {"legs_swapped_frames": int(self.legs.sum()), "arms_swapped_frames": int(self.arms.sum()),
                "body_mirrored_frames": mirrored}


def _swap(points: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    out = points.copy()
    for a, b in pairs:
        out[..., a, :], out[..., b, :] = points[..., b, :], points[..., a, :]
    return out


def mirror(landmarks2d: np.ndarray, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The other reading of a front/back ambiguous frame: every left/right label exchanged, and the
    world landmarks ([..., 33, 3], hip-centred, camera-aligned: z along the viewing direction)
    mirrored in depth about the hips, so the body stays a right-handed one and faces the other way."""
    out2d = _swap(landmarks2d, BODY_PAIRS)
    outw = _swap(world, BODY_PAIRS)
    outw[..., 2] *= -1.0
    return out2d, outw


def facing(world: np.ndarray) -> np.ndarray:
    """[N, 3] unit forward direction of the torso (camera-aligned world landmarks, y down): the
    person's left (hips + shoulders) crossed with their up (mid-hips -> mid-shoulders)."""
    left = (world[:, lm.LEFT_HIP] - world[:, lm.RIGHT_HIP]) + (world[:, lm.LEFT_SHOULDER] - world[:, lm.RIGHT_SHOULDER])
    up = (world[:, lm.LEFT_SHOULDER] + world[:, lm.RIGHT_SHOULDER]) - (world[:, lm.LEFT_HIP] + world[:, lm.RIGHT_HIP])
    forward = np.cross(left, up)
    return forward / np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)


#: Bones whose 2D length over their 3D extent across the viewing ray gives the image scale (px/m).
_SCALE_BONES = ((lm.LEFT_SHOULDER, lm.LEFT_HIP), (lm.RIGHT_SHOULDER, lm.RIGHT_HIP), (lm.LEFT_HIP, lm.LEFT_KNEE),
                (lm.RIGHT_HIP, lm.RIGHT_KNEE), (lm.LEFT_KNEE, lm.LEFT_ANKLE), (lm.RIGHT_KNEE, lm.RIGHT_ANKLE),
                (lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER), (lm.LEFT_HIP, lm.RIGHT_HIP))


def travel_velocity(lm2d: np.ndarray, world: np.ndarray, valid: np.ndarray, focal_length: float,
                    image_size: tuple[int, int], fps: float) -> np.ndarray:
    """[N, 3] the person's travel velocity in the camera frame (m/s), 0 where it cannot be fitted.

    Position per frame by weak perspective: scale s (px per metre) = the summed 2D length of
    `_SCALE_BONES` over their summed extent across the viewing ray in the world landmarks (so
    foreshortening cancels); depth = focal / s; x, y = (mid-hip pixel - centre) / s. The velocity is
    the slope of a straight line fitted to the detected positions within +-TRAVEL_WINDOW_S.
    """
    n = len(lm2d)
    px = sum(np.linalg.norm(lm2d[:, a, :2] - lm2d[:, b, :2], axis=-1) for a, b in _SCALE_BONES)
    metres = sum(np.linalg.norm(world[:, a, :2] - world[:, b, :2], axis=-1) for a, b in _SCALE_BONES)
    scale = px / np.maximum(metres, 1e-6)
    ok = valid & (scale > 1e-3) & (metres > 0.2)
    centre = np.array([image_size[0] / 2.0, image_size[1] / 2.0])
    hips = 0.5 * (lm2d[:, lm.LEFT_HIP, :2] + lm2d[:, lm.RIGHT_HIP, :2])
    safe = np.maximum(scale, 1e-3)[:, None]
    position = np.concatenate([(hips - centre) / safe, focal_length / safe], -1)
    half = max(2, int(round(TRAVEL_WINDOW_S * fps)))
    velocity = np.zeros((n, 3))
    times = np.arange(n) / fps
    for t in range(n):
        rows = np.flatnonzero(ok[max(0, t - half):t + half + 1]) + max(0, t - half)
        if len(rows) < half or not valid[t]:
            continue
        dt = times[rows] - times[rows].mean()
        velocity[t] = (dt @ (position[rows] - position[rows].mean(0))) / max(float(dt @ dt), 1e-9)
    return velocity


def _mirror_states(lm2d: np.ndarray, world: np.ndarray, valid: np.ndarray, fps: float,
                   focal_length: float | None, image_size: tuple[int, int] | None) -> np.ndarray:
    """Viterbi over (as reported, mirrored) per frame (module docstring); returns [N] bool mirrored."""
    n = len(lm2d)
    m2d, mworld = mirror(lm2d, world)
    ids = [i for pair in BODY_PAIRS for i in pair]
    height = np.maximum(lm2d[..., 1].max(-1) - lm2d[..., 1].min(-1), 1.0)
    options_2d = np.stack([lm2d[:, ids, :2], m2d[:, ids, :2]], 1) / height[:, None, None, None]
    forward = np.stack([facing(world), facing(mworld)], 1)  # [N, 2, 3]
    emission = np.tile(np.array([0.0, MIRROR_COST]), (n, 1))
    if focal_length is not None and image_size is not None and n >= 3:
        velocity = travel_velocity(lm2d, world, valid, focal_length, image_size, fps)
        speed = np.linalg.norm(velocity, axis=-1)
        lo, hi = TRAVEL_SPEED_M_S
        confidence = np.clip((speed - lo) / (hi - lo), 0.0, 1.0)
        direction = velocity / np.maximum(speed, 1e-9)[:, None]
        against = np.maximum(-np.einsum("nsk,nk->ns", forward, direction), 0.0)
        emission += TRAVEL_WEIGHT * confidence[:, None] * against
    # Viterbi over the detected frames only (undetected ones carry no evidence and keep their labels).
    # Tried: a second-order term on the turning rate (a reversal of the turn at side-on is what a misread
    # looks like); MediaPipe's facing jitters too much from frame to frame, it invented mirrors on the
    # harness's run and walk, so it is not used.
    rows = np.flatnonzero(valid)
    out = np.zeros(n, bool)
    if len(rows) < 2:
        return out
    steps = np.diff(rows).astype(float)
    first, second = rows[:-1], rows[1:]
    cos = np.clip(np.einsum("mak,mbk->mab", forward[first], forward[second]), -1.0, 1.0)  # [M-1, prev, cur]
    allowed = (TURN_RATE_RAD_S * steps / fps)[:, None, None]
    moved = np.linalg.norm(options_2d[second][:, None] - options_2d[first][:, :, None], axis=-1).mean(-1)
    move = FACING_WEIGHT * np.maximum(np.arccos(cos) - allowed, 0.0) + moved
    em = emission[rows]
    cost = em[0].copy()
    back = np.zeros((len(rows), 2), np.int8)
    for i in range(1, len(rows)):
        total = cost[:, None] + move[i - 1]  # [previous state, state]
        back[i] = np.argmin(total, 0)
        cost = total.min(0) + em[i]
    states = np.zeros(len(rows), np.int8)
    states[-1] = int(np.argmin(cost))
    for i in range(len(rows) - 1, 0, -1):
        states[i - 1] = back[i, states[i]]
    out[rows] = states == 1
    return out


def _lateral_axis(world: np.ndarray) -> np.ndarray:
    """[N, 3] unit vector towards the person's left, from hips, shoulders and ears (world landmarks)."""
    axis = (world[:, lm.LEFT_HIP] - world[:, lm.RIGHT_HIP]) + (world[:, lm.LEFT_SHOULDER] - world[:, lm.RIGHT_SHOULDER])
    axis = axis + 0.5 * (world[:, lm.LEFT_EAR] - world[:, lm.RIGHT_EAR])
    return axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-9)


def _side_cost(world: np.ndarray, pairs: tuple[tuple[int, int], ...], anchor: tuple[int, int]) -> np.ndarray:
    """[N, 2] cost of (as reported, swapped): lateral offset of the limb pair on the wrong side, metres."""
    axis = _lateral_axis(world)
    centre = world[:, list(anchor)].mean(1)
    wrong = np.zeros(len(world))
    for a, b in pairs[:2]:  # knee/ankle or elbow/wrist: the joints whose side is clearest
        left = np.sum((world[:, a] - centre) * axis, -1)
        right = np.sum((world[:, b] - centre) * axis, -1)
        wrong += right - left  # > 0: the "left" one lies to the right of the "right" one
    wrong = np.sign(wrong) * np.maximum(np.abs(wrong) - SIDE_MARGIN_M, 0.0)  # legs together: no evidence
    return np.stack([np.maximum(wrong, 0.0), np.maximum(-wrong, 0.0)], -1)


def _labels(lm2d: np.ndarray, world: np.ndarray, valid: np.ndarray, pairs: tuple[tuple[int, int], ...],
            anchor: tuple[int, int], limb_m: float) -> np.ndarray:
    """Viterbi over (as reported, swapped) per frame; returns [N] bool swapped."""
    n = len(lm2d)
    ids = [i for pair in pairs for i in pair]
    height = np.maximum(lm2d[..., 1].max(-1) - lm2d[..., 1].min(-1), 1.0)
    options_2d = np.stack([lm2d[:, ids, :2], _swap(lm2d, pairs)[:, ids, :2]], 1) / height[:, None, None, None]
    options_3d = np.stack([world[:, ids], _swap(world, pairs)[:, ids]], 1) / max(limb_m, 0.1)
    emission = SIDE_WEIGHT * _side_cost(world, pairs, anchor) + np.array([0.0, SWAP_COST])
    emission[~valid] = np.array([0.0, 1e6])
    cost = emission[0].copy()
    back = np.zeros((n, 2), np.int8)
    last = 0 if valid[0] else -1
    for t in range(1, n):
        if not valid[t]:
            back[t] = np.argmin(cost), np.argmin(cost)
            cost = np.full(2, cost.min()) + emission[t]
            continue
        if last < 0:
            cost = emission[t].copy()
            back[t] = 0
            last = t
            continue
        move = (np.linalg.norm(options_2d[t][None] - options_2d[last][:, None], axis=-1).mean(-1)
                + WORLD_WEIGHT * np.linalg.norm(options_3d[t][None] - options_3d[last][:, None], axis=-1).mean(-1))
        total = cost[:, None] + move  # [previous state, state]
        back[t] = np.argmin(total, 0)
        cost = total.min(0) + emission[t]
        last = t
    states = np.zeros(n, np.int8)
    states[-1] = int(np.argmin(cost))
    for t in range(n - 1, 0, -1):
        states[t - 1] = back[t, states[t]]
    return (states == 1) & valid


def repair(landmarks2d: np.ndarray, world: np.ndarray, valid: np.ndarray, fps: float = 30.0,
           focal_length: float | None = None, image_size: tuple[int, int] | None = None) -> Repair:
    """Mirror back whole-body front/back confusions, then swap back the legs' and arms' labels where
    the clip's continuity says MediaPipe swapped them (module docstring).

    landmarks2d [N, 33, 3] (x px, y px, visibility), world [N, 33, 3] metres (hip-centred,
    camera-aligned, y down), valid [N]; fps: rows per second; focal_length (px) and image_size
    (width, height) enable the travel cue of the mirror pass. Returns repaired copies and the
    frames changed.
    """
    lm2d = np.asarray(landmarks2d, np.float64).copy()
    wld = np.asarray(world, np.float64).copy()
    valid = np.asarray(valid, bool)
    mirrored = _mirror_states(lm2d, wld, valid, fps, focal_length, image_size)
    if mirrored.any():
        lm2d[mirrored], wld[mirrored] = mirror(lm2d[mirrored], wld[mirrored])
    leg = float(np.median(np.linalg.norm(wld[:, lm.LEFT_HIP] - wld[:, lm.LEFT_ANKLE], axis=-1)))
    arm = float(np.median(np.linalg.norm(wld[:, lm.LEFT_SHOULDER] - wld[:, lm.LEFT_WRIST], axis=-1)))
    legs = _labels(lm2d, wld, valid, LEG_PAIRS, (lm.LEFT_HIP, lm.RIGHT_HIP), leg)
    arms = _labels(lm2d, wld, valid, ARM_PAIRS, (lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER), arm)
    out2d, outw = lm2d.copy(), wld.copy()
    out2d[legs], outw[legs] = _swap(lm2d[legs], LEG_PAIRS), _swap(wld[legs], LEG_PAIRS)
    out2d[arms], outw[arms] = _swap(out2d[arms], ARM_PAIRS), _swap(outw[arms], ARM_PAIRS)
    return Repair(out2d.astype(np.float32), outw.astype(np.float32), legs, arms, mirrored)
