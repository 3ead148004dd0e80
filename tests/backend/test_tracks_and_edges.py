"""One person keeps one id when MediaPipe loses and re-finds them; undetected ends are marked, not motion."""

from __future__ import annotations

import numpy as np

from backend.pipeline.run import detected_rows
from backend.tracking.track import MIRROR, Detection, Tracker, build_track, choose_person


def person(x: float, y: float = 400.0, height: float = 300.0, mirrored: bool = False) -> Detection:
    """A standing body of `height` px whose hips are at (x, y): 33 landmarks spread over the body."""
    rng = np.random.default_rng(int(x * 10) % 1000)
    offsets = np.stack([rng.uniform(-0.15, 0.15, 33), np.linspace(-0.5, 0.5, 33)], -1) * height
    points = np.concatenate([offsets + [x, y], np.full((33, 1), 0.9)], -1).astype(np.float32)
    if mirrored:
        points = points[MIRROR]
    return Detection(landmarks2d=points, world=np.zeros((33, 3), np.float32))


def test_a_runner_lost_while_turning_keeps_one_id() -> None:
    tracker = Tracker()
    fps = 30.0
    for row in range(90):
        x = 100.0 + 12.0 * row  # 12 px per frame: running across
        # Lost for 1.2 s (longer than the tracker's 30-frame memory) while turning, then found again
        # with left and right flipped.
        detections = [] if 40 <= row < 76 else [person(x, mirrored=row >= 76)]
        if row == 80:
            detections.append(person(x + 2.0))  # a duplicate detection of the same body
        tracker.update(row, detections)
    joins = tracker.stitch(fps)
    assert len(tracker.tracks) == 1, tracker.summary()
    assert joins == 1
    track = build_track(tracker, choose_person(tracker, None, "clip"), np.arange(90, dtype=np.int32), (1920, 1080))
    assert track.valid.sum() == 54
    assert not track.valid[40:76].any()


def test_two_people_are_never_joined() -> None:
    tracker = Tracker()
    for row in range(60):
        people = [person(300.0 + 2 * row)]
        if row < 30:
            people.append(person(1400.0 - 2 * row))  # a second person who leaves at row 30
        if row >= 35:
            people.append(person(1900.0))  # someone else, arriving 1.4 body heights from where that one left
        tracker.update(row, people)
    tracker.stitch(30.0)
    assert len(tracker.tracks) == 3
    assert [int(s["person_id"]) for s in tracker.summary()] == [0, 1, 2]


def test_a_distant_reappearance_is_someone_else() -> None:
    tracker = Tracker()
    for row in range(20):
        tracker.update(row, [person(300.0)])
    for row in range(22, 40):
        tracker.update(row, [person(1600.0)])  # 4 body heights away after 2 frames
    tracker.stitch(30.0)
    assert len(tracker.tracks) == 2


def test_frames_outside_the_detections_are_marked() -> None:
    tracker = Tracker()
    for row in range(10, 50):
        tracker.update(row, [person(500.0 + row)])
    track = build_track(tracker, 0, np.arange(60, dtype=np.int32), (1920, 1080))
    assert not track.valid[:10].any() and not track.valid[50:].any() and track.valid[10:50].all()
    assert detected_rows(track.valid) == {"first": 10, "last": 49, "undetected_inside": 0}
    assert (track.landmarks2d[:10, :, 2] == 0).all()  # held values carry no visibility
    assert detected_rows(np.zeros(3, bool)) == {"first": None, "last": None, "undetected_inside": 0}
