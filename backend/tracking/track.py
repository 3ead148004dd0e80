"""Person tracking: associate per-frame pose detections into stable identities, pick one, fill gaps.

Detections come from `landmarks.py` (MediaPipe's bundled pose detector + landmark model, several
people per frame). Identities are kept by matching each frame's detections to the live tracks
(Hungarian assignment on a cost that mixes box overlap and landmark distance), so a person keeps
their id when the other walks past. Frames where the chosen person was not detected are filled by
linear interpolation and marked `valid=False`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..core.errors import BackendError, ErrorCode

NUM_LANDMARKS = 33
#: A landmark counts as seen from this visibility on (MediaPipe's own default threshold).
SEEN_VISIBILITY = 0.5
#: Shoulders and hips (MediaPipe 11, 12, 23, 24): a body box needs most of them seen.
TORSO = (11, 12, 23, 24)
#: Two detections in one frame are one person when their boxes overlap this much (IoU) or their
#: landmarks lie this close (median distance / box height): MediaPipe reports some people twice.
DUPLICATE_IOU = 0.5
DUPLICATE_DISTANCE = 0.15
#: A person does not change size on screen by more than this factor between two sightings.
MAX_SCALE_CHANGE = 1.6
#: Auto mode follows nobody seen in fewer rows than this share of the clip (and at least 3 rows):
#: sporadic hits on background (a tripod, a poster, a blurred reflection) are not a person.
MIN_TRACK_SHARE = 0.2
#: Landmark index -> its left/right mirror (MediaPipe's 33 landmarks: nose, then pairs).
MIRROR = np.array([0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9] + [i + 1 if i % 2 else i - 1 for i in range(11, 33)])


@dataclass
class Detection:
    """One person in one frame, as MediaPipe reports them."""

    landmarks2d: np.ndarray  # [33, 3] x px, y px, visibility in [0, 1]
    world: np.ndarray  # [33, 3] metres, hip-centred, x right, y down, z away from the camera

    def bbox(self) -> np.ndarray:
        return landmarks_bbox(self.landmarks2d[None])[0]

    @property
    def support(self) -> float:
        """Mean landmark visibility: how much of the body the model actually saw."""
        return float(np.mean(self.landmarks2d[:, 2]))

    def supported(self) -> bool:
        """The box stands on seen landmarks: most of the torso and a third of the body are visible.

        A box built from landmarks the model only guessed (visibility < 0.5) outlines nothing.
        """
        seen = self.landmarks2d[:, 2] >= SEEN_VISIBILITY
        return bool(seen[list(TORSO)].sum() >= 3 and seen.mean() >= 1 / 3)


def merge_duplicates(detections: list[Detection]) -> list[Detection]:
    """Drop unsupported detections and keep one of each group of duplicates (the best supported).

    Duplicates: box IoU >= DUPLICATE_IOU, or median landmark distance below DUPLICATE_DISTANCE of
    the smaller box's height.
    """
    kept: list[Detection] = []
    for det in sorted((d for d in detections if d.supported()), key=lambda d: -d.support):
        box = det.bbox()
        duplicate = False
        for other in kept:
            other_box = other.bbox()
            iou = float(_iou(box[None], other_box[None])[0, 0])
            distance = float(np.median(np.linalg.norm(det.landmarks2d[:, :2] - other.landmarks2d[:, :2], axis=-1)))
            if iou >= DUPLICATE_IOU or distance < DUPLICATE_DISTANCE * min(box[3], other_box[3]):
                duplicate = True
                break
        if not duplicate:
            kept.append(det)
    return kept


@dataclass
class Track:
    """The chosen person over every selected frame (rows = frames, in source order)."""

    person_id: int
    frame_ids: np.ndarray  # [N] int32 source frame indices
    valid: np.ndarray  # [N] bool, False = not detected here, values interpolated
    bboxes: np.ndarray  # [N, 4] float32 cx, cy, w, h in pixels
    landmarks2d: np.ndarray  # [N, 33, 3] float32 x px, y px, visibility
    world: np.ndarray  # [N, 33, 3] float32 metres (MediaPipe world landmarks)
    image_size: tuple[int, int]  # width, height

    def __len__(self) -> int:
        return len(self.frame_ids)


def landmarks_bbox(landmarks2d: np.ndarray, margin: float = 0.12) -> np.ndarray:
    """[..., 33, 3] landmarks -> [..., 4] cx, cy, w, h around the body, padded for head top and feet.

    Landmarks sit on joints, so the raw extent misses the crown and the soles; the margin adds them.
    """
    xy = landmarks2d[..., :2]
    lo = xy.min(axis=-2)
    hi = xy.max(axis=-2)
    size = hi - lo
    height = np.maximum(size[..., 1], 1.0)
    lo = lo - margin * height[..., None]
    hi = hi + margin * height[..., None]
    # The crown is about half a head above the eyes/ears: extend the top a little more.
    lo[..., 1] -= 0.06 * height
    centre = (lo + hi) / 2
    return np.concatenate([centre, hi - lo], axis=-1).astype(np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between [A, 4] and [B, 4] cx, cy, w, h boxes."""
    a0, a1 = a[:, None, :2] - a[:, None, 2:] / 2, a[:, None, :2] + a[:, None, 2:] / 2
    b0, b1 = b[None, :, :2] - b[None, :, 2:] / 2, b[None, :, :2] + b[None, :, 2:] / 2
    inter = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None).prod(-1)
    union = a[:, None, 2:].prod(-1) + b[None, :, 2:].prod(-1) - inter
    return inter / np.maximum(union, 1e-9)


@dataclass
class _LiveTrack:
    person_id: int
    last_bbox: np.ndarray
    last_landmarks: np.ndarray
    last_seen: int  # row index
    rows: dict[int, Detection]


class Tracker:
    """Online association of detections to identities across frames."""

    def __init__(self, max_gap: int = 30, min_iou: float = 0.1) -> None:
        self.max_gap = max_gap
        self.min_iou = min_iou
        self.tracks: list[_LiveTrack] = []
        self.rows_seen = 0  # rows offered so far (with or without detections)

    def update(self, row: int, detections: list[Detection]) -> None:
        detections = merge_duplicates(detections)
        self.rows_seen = max(self.rows_seen, row + 1)
        live = [t for t in self.tracks if row - t.last_seen <= self.max_gap]
        boxes = np.array([d.bbox() for d in detections]).reshape(-1, 4)
        assigned: set[int] = set()
        if live and detections:
            prev = np.array([t.last_bbox for t in live])
            iou = _iou(prev, boxes)
            # Landmark distance normalised by body height separates people whose boxes overlap; it is
            # mirror-invariant, so a person whose left/right labels flip while turning stays the same.
            dist = np.array([[_landmark_distance(t.last_landmarks, d.landmarks2d) / max(t.last_bbox[3], 1.0)
                              for d in detections] for t in live])
            # A small person inside a large false box overlaps it; sizes tell them apart.
            scale = np.abs(np.log(np.maximum(boxes[None, :, 3], 1.0) / np.maximum(prev[:, None, 3], 1.0)))
            cost = (1.0 - iou) + dist + np.where(scale > np.log(MAX_SCALE_CHANGE), 10.0, 0.0)
            rows_idx, cols_idx = linear_sum_assignment(cost)
            for r, c in zip(rows_idx, cols_idx):
                if (iou[r, c] < self.min_iou and dist[r, c] > 0.5) or scale[r, c] > np.log(MAX_SCALE_CHANGE):
                    continue
                track = live[r]
                track.rows[row] = detections[c]
                track.last_bbox, track.last_landmarks, track.last_seen = boxes[c], detections[c].landmarks2d, row
                assigned.add(c)
        for c, det in enumerate(detections):
            if c not in assigned:
                self.tracks.append(_LiveTrack(len(self.tracks), boxes[c], det.landmarks2d, row, {row: det}))

    def stitch(self, fps: float, max_gap_s: float = 2.0, speed_heights_per_s: float = 3.0) -> int:
        """Join tracks that are one person seen in turn: B starts after A ends, within `max_gap_s`,
        near where A was left (within half a body height plus what a runner covers in the gap,
        `speed_heights_per_s` body heights per second) and about the same size. Returns how many joins.

        MediaPipe loses a person who turns, runs fast or is briefly hidden, and finds them again as a
        new detection; without this they become two people and the clip is cut in two.
        Ids are renumbered 0, 1, ... by first appearance afterwards.
        """
        joins = 0
        merged = True
        while merged:
            merged = False
            best = None
            for a in self.tracks:
                a_last = max(a.rows)
                for b in self.tracks:
                    if b is a or min(b.rows) <= a_last:
                        continue
                    gap_s = (min(b.rows) - a_last) / max(fps, 1e-6)
                    if gap_s > max_gap_s:
                        continue
                    box_a, box_b = a.rows[a_last].bbox(), b.rows[min(b.rows)].bbox()
                    height = max(box_a[3], 1.0)
                    distance = float(np.linalg.norm(box_a[:2] - box_b[:2])) / height
                    size = box_b[3] / height
                    same_size = 1.0 / MAX_SCALE_CHANGE <= size <= MAX_SCALE_CHANGE
                    if distance > 0.5 + speed_heights_per_s * gap_s or not same_size:
                        continue
                    if any(min(t.rows) < min(b.rows) and max(t.rows) > a_last for t in self.tracks
                           if t is not a and t is not b and _seen_near(t, box_b)):
                        continue  # someone else was there in the gap: not safe to join
                    score = gap_s + distance
                    if best is None or score < best[0]:
                        best = (score, a, b)
            if best is not None:
                _, a, b = best
                a.rows.update(b.rows)
                last = max(a.rows)
                a.last_bbox, a.last_landmarks, a.last_seen = a.rows[last].bbox(), a.rows[last].landmarks2d, last
                self.tracks.remove(b)
                joins += 1
                merged = True
        self.tracks.sort(key=lambda t: min(t.rows))
        for person_id, track in enumerate(self.tracks):
            track.person_id = person_id
        return joins

    def summary(self) -> list[dict[str, float]]:
        """Per identity: frames seen and mean box area, for choosing and for messages."""
        return [{"person_id": t.person_id, "frames": len(t.rows),
                 "area": float(np.mean([d.bbox()[2] * d.bbox()[3] for d in t.rows.values()]))}
                for t in self.tracks]


def _landmark_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Median landmark distance in pixels, the smaller of as labelled and with left/right mirrored."""
    direct = np.median(np.linalg.norm(a[:, :2] - b[:, :2], axis=-1))
    mirrored = np.median(np.linalg.norm(a[MIRROR, :2] - b[:, :2], axis=-1))
    return float(min(direct, mirrored))


def _seen_near(track: _LiveTrack, box: np.ndarray) -> bool:
    """Whether `track` was ever within one body height of `box`'s centre."""
    return any(np.linalg.norm(d.bbox()[:2] - box[:2]) < box[3] for d in track.rows.values())


def _seen_longest(summary: list[dict]) -> dict:
    """The summary row of the person seen longest, larger on screen as the tie-break."""
    return max(summary, key=lambda s: (s["frames"], s["area"]))


def longest_person(tracker: Tracker) -> int | None:
    """The id auto mode would follow (`_seen_longest`), unchecked; None when nobody was seen."""
    summary = tracker.summary()
    return int(_seen_longest(summary)["person_id"]) if summary else None


def choose_person(tracker: Tracker, person: int | None, source: str) -> int:
    """Main person = seen longest, larger on screen as the tie-break; or the id the user gave.

    Auto mode refuses (NO_PERSON) when nobody was seen in MIN_TRACK_SHARE of the rows (at least 3):
    a motion built from sporadic background hits would be a skeleton on a tripod, not the user's clip.
    """
    summary = tracker.summary()
    if not summary:
        raise BackendError(ErrorCode.NO_PERSON,
                           f"no person was detected in {source}; make sure a whole body is visible and well lit")
    if person is None:
        best = _seen_longest(summary)
        rows = max(tracker.rows_seen, 1)
        needed = max(3, int(np.ceil(MIN_TRACK_SHARE * rows)))
        if rows < 3:
            raise BackendError(ErrorCode.NO_PERSON,
                               f"only {rows} frame{'s' if rows > 1 else ''} of {source} in the range asked for: "
                               "auto mode follows a person seen in at least 3; widen --frames or lower --stride, "
                               "or pass --person ID to take one anyway")
        if best["frames"] < needed:
            raise BackendError(ErrorCode.NO_PERSON,
                               f"no person is followed through {source}: the longest track ({best['frames']} of "
                               f"{rows} frames) is below {needed} frames, sporadic detections of background; "
                               "make sure a whole body is visible, or pass --person ID to take one anyway")
        return int(best["person_id"])
    ids = [int(s["person_id"]) for s in summary]
    if person not in ids:
        listing = ", ".join(f"{s['person_id']} ({s['frames']} frames)" for s in summary)
        raise BackendError(ErrorCode.NO_PERSON,
                           f"--person {person}: no such person in {source}; people found: {listing}")
    return person


def build_track(tracker: Tracker, person_id: int, frame_ids: np.ndarray,
                image_size: tuple[int, int]) -> Track:
    """The chosen identity over every row, gaps interpolated (edges held) and marked invalid."""
    chosen = next(t for t in tracker.tracks if t.person_id == person_id)
    n = len(frame_ids)
    seen = np.array(sorted(chosen.rows), dtype=np.int64)
    lm2d = np.stack([chosen.rows[r].landmarks2d for r in seen]).astype(np.float64)
    world = np.stack([chosen.rows[r].world for r in seen]).astype(np.float64)
    rows = np.arange(n)

    def fill(values: np.ndarray) -> np.ndarray:
        flat = values.reshape(len(seen), -1)
        out = np.empty((n, flat.shape[1]))
        for k in range(flat.shape[1]):
            out[:, k] = np.interp(rows, seen, flat[:, k])
        return out.reshape((n,) + values.shape[1:])

    valid = np.zeros(n, dtype=bool)
    valid[seen] = True
    lm2d_full = fill(lm2d)
    lm2d_full[~valid, :, 2] = 0.0  # interpolated landmarks carry no visibility
    return Track(
        person_id=person_id,
        frame_ids=np.asarray(frame_ids, np.int32),
        valid=valid,
        bboxes=landmarks_bbox(lm2d_full).astype(np.float32),
        landmarks2d=lm2d_full.astype(np.float32),
        world=fill(world).astype(np.float32),
        image_size=image_size,
    )
