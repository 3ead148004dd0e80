"""Issue 10, fault 6: small people, duplicate detections, boxes the landmarks do not support, and
background detections (a skeleton on a tripod) - on the handed clip, a clip with the person
removed, and a 4K composite made here from the sample clip."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from backend.core.errors import BackendError
from backend.core.motion_file import load_motion_file
from backend.tracking.track import Detection, Tracker, choose_person, merge_duplicates
from tests.conftest import REPO, SINGLE, run_backend

FIELD = REPO / "tests" / "data" / "field"
INSET = (808, 520, 1112, 1060)  # x0, y0, x1, y1 of the person in small_person_1080p.mp4 (NOTICE.md)


def inside(bboxes: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    return (bboxes[:, 0] > box[0]) & (bboxes[:, 0] < box[2]) & (bboxes[:, 1] > box[1]) & (bboxes[:, 1] < box[3])


def test_small_person_1080p_is_one_id_valid_in_rows_4_to_39_inside_the_inset(tmp_path: Path) -> None:
    out = tmp_path / "small.npz"
    result = run_backend("run", str(FIELD / "small_person_1080p.mp4"), "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    motion = load_motion_file(out)
    valid = motion["valid"]
    assert valid.sum() >= 35 and valid[4:40].all()
    assert inside(motion["bboxes"][valid], INSET).all()
    assert (motion["bboxes"][valid, 3] < 500).all()  # the person is ~320 px tall, never the 750 px false box


def composite_4k(path: Path, frames: int = 20, at: tuple[int, int] = (2200, 1300)) -> tuple[int, int, int, int]:
    """The sample clip as a 304x540 inset on a blurred 3840x2160 copy of itself (as the 1080p clip was made)."""
    width, height = 3840, 2160
    with av.open(str(SINGLE)) as source, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "26", "preset": "ultrafast"}
        for _, frame in zip(range(frames), source.decode(video=0)):
            rgb = frame.to_ndarray(format="rgb24")
            background = cv2.GaussianBlur(cv2.resize(rgb[::8, ::8], (width // 8, height // 8)), (0, 0), 6)
            picture = cv2.resize(background, (width, height))
            picture[at[1]:at[1] + 540, at[0]:at[0] + 304] = cv2.resize(rgb, (304, 540))
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode())
    return at[0], at[1], at[0] + 304, at[1] + 540


def test_small_person_in_a_4k_frame_is_found_and_followed(tmp_path: Path) -> None:
    clip = tmp_path / "small_4k.mp4"
    inset = composite_4k(clip)
    out = tmp_path / "small_4k.npz"
    result = run_backend("run", str(clip), "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    motion = load_motion_file(out)
    assert tuple(motion["image_size"]) == (3840, 2160)
    valid = motion["valid"]
    assert valid.sum() >= 18  # of 20 (before: nobody found in any frame, NO_PERSON)
    assert inside(motion["bboxes"][valid], inset).all()
    assert np.median(motion["bboxes"][valid, 3]) == pytest.approx(330, rel=0.15)  # in 4K pixels


def test_only_background_detections_give_no_person(tmp_path: Path) -> None:
    """small_person_1080p with the person blurred away: the background's sporadic hits are nobody."""
    clip = tmp_path / "nobody.mp4"
    with av.open(str(FIELD / "small_person_1080p.mp4")) as source, av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 960, 540, "yuv420p"
        for frame in source.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            rgb[500:1080, 790:1130] = cv2.GaussianBlur(rgb, (0, 0), 25)[500:1080, 790:1130]
            out.mux(stream.encode(av.VideoFrame.from_ndarray(cv2.resize(rgb, (960, 540)), format="rgb24")))
        out.mux(stream.encode())
    out_file = tmp_path / "nobody.npz"
    result = run_backend("run", str(clip), "--out", str(out_file))
    error = result.last_error()
    assert result.returncode == 5 and error is not None and error["code"] == "NO_PERSON", result.stdout[-1000:]
    assert str(clip) in error["message"] and not out_file.exists()


# ---- the rules themselves, on made-up detections ----------------------------------------------------

def person(cx: float, cy: float, height: float, visibility: float = 0.9, jitter: float = 0.0) -> Detection:
    """A standing figure: 33 landmarks spread over a box `height` px tall centred at cx, cy."""
    rng = np.random.default_rng(int(cx + cy + height))
    unit = rng.uniform(-0.5, 0.5, (33, 2)) * np.array([0.4, 1.0])
    xy = np.array([cx, cy]) + unit * height * 0.78 + jitter
    landmarks = np.concatenate([xy, np.full((33, 1), visibility)], axis=1).astype(np.float32)
    return Detection(landmarks2d=landmarks, world=np.zeros((33, 3), np.float32))


def test_duplicates_merge_and_unsupported_boxes_go() -> None:
    a = person(500, 400, 300)
    twin = person(500, 400, 300, visibility=0.8, jitter=6.0)  # the same person reported twice
    other = person(1200, 400, 300)
    guessed = person(800, 400, 300, visibility=0.2)  # landmarks the model only guessed
    kept = merge_duplicates([twin, a, other, guessed])
    assert len(kept) == 2 and kept[0] is a and any(k is other for k in kept)


def test_a_large_box_around_a_small_person_is_not_the_same_track() -> None:
    tracker = Tracker()
    tracker.update(0, [person(960, 560, 750)])  # a false large box first (as in small_person_1080p row 2)
    for row in range(1, 30):
        tracker.update(row, [person(960, 790, 320)])
    ids = {t.person_id: len(t.rows) for t in tracker.tracks}
    assert sorted(ids.values()) == [1, 29]
    assert ids[choose_person(tracker, None, "clip")] == 29


def test_sporadic_detections_are_refused_in_auto_mode_but_an_explicit_id_is_kept() -> None:
    tracker = Tracker()
    for row in range(40):
        tracker.update(row, [person(400, 300, 200)] if row in (2, 21, 28) else [])
    with pytest.raises(BackendError) as refused:
        choose_person(tracker, None, "tripod.mp4")
    assert refused.value.code.value == "NO_PERSON" and "tripod.mp4" in refused.value.message
    assert choose_person(tracker, 0, "tripod.mp4") == 0


def test_meta_names_the_person_followed(tmp_path: Path) -> None:
    out = tmp_path / "single.npz"
    result = run_backend("run", str(SINGLE), "--frames", "0:12", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    meta = json.loads(str(load_motion_file(out)["meta"]))
    assert meta["person_id"] == 0 and meta["frames"] == [0, 12]
