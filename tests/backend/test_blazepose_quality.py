"""The built-in model on the real sample videos: coverage, posture, IK accuracy, reprojection, smoothing.

MediaPipe is run here independently of the backend, so the checks compare the motion file against
MediaPipe's own landmarks, not against numbers the backend chose to save.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backend.body.landmarks_def import LEFT_HIP, RIGHT_HIP, SMPL_TO_LANDMARK
from backend.builtin import ik_quality, rest_skeleton
from backend.core.motion_file import load_motion_file
from backend.geometry import camera
from backend.geometry.skeleton import axis_angle_to_matrix, forward_kinematics
from backend.tracking.landmarks import PoseLandmarks
from backend.tracking.video import FrameRange, iter_frames, probe
from tests.conftest import MULTI, SINGLE, run_backend

VIDEOS = {"single": SINGLE, "multi": MULTI}


@pytest.fixture(scope="module")
def motions(tmp_path_factory) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Each sample converted per frame (`--fit off`: the IK these tests hold to MediaPipe's landmarks) at
    smoothing strength 0 and at the default, and with the whole-clip fit (the default, key "fit")."""
    out = tmp_path_factory.mktemp("motions")
    files = {}
    for name, video in VIDEOS.items():
        for smooth in ("0", "default", "fit"):
            path = out / f"{name}_{smooth}.npz"
            args = ["run", str(video), "--out", str(path)] + (["--smooth", "0"] if smooth == "0" else [])
            args += [] if smooth == "fit" else ["--fit", "off"]
            result = run_backend(*args)
            assert result.returncode == 0, result.stderr[-3000:]
            assert result.events[-1] == {"event": "done", "out": str(path)}
            files[(name, smooth)] = load_motion_file(path)
    return files


@pytest.fixture(scope="module")
def mediapipe_landmarks() -> dict[str, list[list]]:
    """Every person MediaPipe finds in each frame, straight from MediaPipe."""
    found = {}
    for name, video in VIDEOS.items():
        info = probe(video)
        frames = []
        with PoseLandmarks() as detector:
            for frame_id, rgb in iter_frames(info, FrameRange()):
                frames.append(detector.detect(rgb, frame_id * 1000.0 / info.fps))
        found[name] = frames
    return found


def matched_landmarks(motion: dict, people_per_frame: list[list]) -> tuple[np.ndarray, np.ndarray]:
    """The directly detected person that the motion file's landmarks belong to, per frame."""
    lm2d, world = [], []
    for row, people in enumerate(people_per_frame):
        gaps = [np.abs(p.landmarks2d[:, :2] - motion["landmarks2d"][row, :, :2]).max() for p in people]
        best = people[int(np.argmin(gaps))]
        assert min(gaps) < 1.0, f"row {row}: the motion file's landmarks are not MediaPipe's ({min(gaps):.1f} px)"
        lm2d.append(best.landmarks2d)
        world.append(best.world)
    return np.array(lm2d, np.float64), np.array(world, np.float64)


def camera_frame(world: np.ndarray, lm2d: np.ndarray, motion: dict) -> np.ndarray:
    """MediaPipe's crop-aligned world landmarks turned onto the viewing ray (the documented camera model)."""
    hips = lm2d[:, [LEFT_HIP, RIGHT_HIP], :2].mean(1)
    rotation = camera.view_ray_rotation(hips, float(motion["focal_length"]), tuple(motion["image_size"]))
    return np.einsum("nij,nkj->nki", rotation, world)


def fk_errors(motion: dict, lm2d: np.ndarray, world: np.ndarray) -> np.ndarray:
    rest = rest_skeleton.with_joints(rest_skeleton.from_landmarks(world, lm2d[..., 2], motion["valid"]),
                                     motion["rest_joints"].astype(np.float64))
    errors = ik_quality.bone_errors_deg(motion["poses"].astype(np.float64), rest, world)
    return np.concatenate(list(errors.values()))


def test_every_frame_has_a_row(motions) -> None:
    for (name, _), motion in motions.items():
        info = probe(VIDEOS[name])
        assert len(motion["poses"]) == info.frame_count == 40
        np.testing.assert_array_equal(motion["frame_ids"], np.arange(info.frame_count))
        assert str(motion["model"]) == "blazepose"
        assert float(motion["fps"]) == pytest.approx(12.0)
    assert motions[("single", "default")]["valid"].mean() >= 0.9


def test_upright_in_every_frame(motions) -> None:
    for key, motion in motions.items():
        joints = forward_kinematics(motion["poses"], motion["rest_joints"], motion["transl"])
        head_above = joints[:, 15, 1] < joints[:, 0, 1]  # camera y points down
        assert head_above.all(), (key, np.flatnonzero(~head_above))
        np.testing.assert_allclose(joints, motion["joints3d"], atol=1e-4)


def flexion_deg(motion: dict, joint: int, rest_child: np.ndarray, axis: np.ndarray) -> np.ndarray:
    local = axis_angle_to_matrix(motion["poses"][:, joint].astype(np.float64))
    bone = local @ (rest_child / np.linalg.norm(rest_child))
    rest_dir = rest_child / np.linalg.norm(rest_child)
    return np.degrees(np.arctan2(np.cross(rest_dir, bone) @ axis, bone @ rest_dir))


def test_knees_and_elbows_never_hyperextend(motions) -> None:
    for key, motion in motions.items():
        rj = motion["rest_joints"].astype(np.float64)
        knees = [flexion_deg(motion, k, rj[k + 3] - rj[k], np.array([1.0, 0, 0])) for k in (4, 5)]
        elbows = [flexion_deg(motion, 18, rj[20] - rj[18], np.array([0, -1.0, 0])),
                  flexion_deg(motion, 19, rj[21] - rj[19], np.array([0, 1.0, 0]))]
        for angles in knees + elbows:
            assert angles.min() >= -10.0, (key, angles.min())
            assert angles.max() <= 170.0, (key, angles.max())


def test_fk_reproduces_mediapipe_bone_directions(motions, mediapipe_landmarks) -> None:
    pooled = []
    for name in VIDEOS:
        motion = motions[(name, "default")]
        lm2d, world = matched_landmarks(motion, mediapipe_landmarks[name])
        pooled.append(fk_errors(motion, lm2d, camera_frame(world, lm2d, motion)))
    errors = np.concatenate(pooled)
    print(f"FK bone-direction error: median {np.median(errors):.2f} deg, p95 {np.percentile(errors, 95):.2f} deg")
    assert np.median(errors) <= 5.0
    assert np.percentile(errors, 95) <= 12.0


def test_reprojection_lands_on_mediapipe_2d(motions, mediapipe_landmarks) -> None:
    for name in VIDEOS:
        motion = motions[(name, "default")]
        lm2d, _ = matched_landmarks(motion, mediapipe_landmarks[name])
        joints = forward_kinematics(motion["poses"], motion["rest_joints"], motion["transl"])
        pixels = camera.project(joints, float(motion["focal_length"]), tuple(motion["image_size"]))
        smpl_ids = list(SMPL_TO_LANDMARK)
        error = np.linalg.norm(pixels[:, smpl_ids] - lm2d[:, [SMPL_TO_LANDMARK[j] for j in smpl_ids], :2], axis=-1)
        relative = error / motion["bboxes"][:, 3:4]
        print(f"{name}: median reprojection {100 * np.median(relative):.2f} % of bbox height")
        assert np.median(relative) <= 0.03


def test_whole_clip_fit_lands_closer_to_mediapipe_2d(motions, mediapipe_landmarks) -> None:
    """The fit's reprojection onto MediaPipe's 2D landmarks must not rise above the per-frame path's."""
    smpl_ids = list(SMPL_TO_LANDMARK)
    for name in VIDEOS:
        medians = {}
        for key in ("default", "fit"):
            motion = motions[(name, key)]
            lm2d, _ = matched_landmarks(motion, mediapipe_landmarks[name])
            joints = forward_kinematics(motion["poses"], motion["rest_joints"], motion["transl"])
            pixels = camera.project(joints, float(motion["focal_length"]), tuple(motion["image_size"]))
            error = np.linalg.norm(pixels[:, smpl_ids] - lm2d[:, [SMPL_TO_LANDMARK[j] for j in smpl_ids], :2], axis=-1)
            medians[key] = float(np.median(error / motion["bboxes"][:, 3:4]))
        print(f"{name}: median reprojection per frame {100 * medians['default']:.2f} %, "
              f"fitted {100 * medians['fit']:.2f} % of bbox height")
        assert medians["fit"] <= medians["default"]
        meta = json.loads(str(motions[(name, "fit")]["meta"]))
        assert meta["fit"]["enabled"] and meta["fit"]["stature_source"] == "population prior"
        assert meta["fit"]["reprojection_px_median"]["after"] <= meta["fit"]["reprojection_px_median"]["before"]


def mean_acceleration(motion: dict) -> float:
    joints = forward_kinematics(motion["poses"], motion["rest_joints"], motion["transl"])
    return float(np.linalg.norm(joints[2:] - 2 * joints[1:-1] + joints[:-2], axis=-1).mean())


@pytest.fixture(scope="module")
def unlocked_motions(tmp_path_factory) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Per frame (`--fit off`) at smoothing 0 and the default, with foot locking off: locking moves
    planted feet off the landmarks on purpose (a flat foot keeps one heading), which is not smoothing."""
    out = tmp_path_factory.mktemp("unlocked")
    files = {}
    for name, video in VIDEOS.items():
        for smooth in ("0", "default"):
            path = out / f"{name}_{smooth}.npz"
            args = ["run", str(video), "--out", str(path), "--fit", "off", "--foot-lock", "off"]
            result = run_backend(*args, *(["--smooth", "0"] if smooth == "0" else []))
            assert result.returncode == 0, result.stderr[-3000:]
            files[(name, smooth)] = load_motion_file(path)
    return files


def test_smoothing_removes_jitter_without_leaving_the_landmarks(unlocked_motions, mediapipe_landmarks) -> None:
    for name in VIDEOS:
        raw, smooth = unlocked_motions[(name, "0")], unlocked_motions[(name, "default")]
        reduction = 1.0 - mean_acceleration(smooth) / mean_acceleration(raw)
        lm2d, world = matched_landmarks(raw, mediapipe_landmarks[name])
        world = camera_frame(world, lm2d, raw)
        rise = np.median(fk_errors(smooth, lm2d, world)) - np.median(fk_errors(raw, lm2d, world))
        print(f"{name}: acceleration -{100 * reduction:.1f} %, FK median +{rise:.2f} deg")
        assert reduction >= 0.5
        assert rise <= 2.0


def test_rest_skeleton_fits_the_person(motions) -> None:
    rj = motions[("single", "default")]["rest_joints"]
    thigh = np.linalg.norm(rj[4] - rj[1])
    shin = np.linalg.norm(rj[7] - rj[4])
    assert 0.3 < thigh < 0.55 and 0.3 < shin < 0.55
    standing_height = rj[15, 1] - rj[10, 1]
    assert 1.2 < standing_height < 2.0


def test_multi_person_identities_are_stable(tmp_path: Path) -> None:
    centres = []
    for person in ("0", "1"):
        out = tmp_path / f"p{person}.npz"
        result = run_backend("run", str(MULTI), "--out", str(out), "--person", person, "--smooth", "0")
        assert result.returncode == 0, result.stderr[-2000:]
        motion = load_motion_file(out)
        assert motion["valid"].all()
        centres.append(motion["bboxes"][:, 0])
        people = json.loads(str(motion["meta"]))["people"]  # everyone found, listed whoever was chosen
        assert [p["person_id"] for p in people][:2] == [0, 1] and sum(p["main"] for p in people) == 1
        assert all(0 < p["frames"] <= len(motion["frame_ids"]) for p in people)
    # Person 1 again from person 0's file: the kept tracks, no detection, the same result as a full run.
    again = tmp_path / "p1_from_tracks.npz"
    result = run_backend("run", str(MULTI), "--out", str(again), "--person", "1", "--smooth", "0",
                         "--tracks", str(tmp_path / "p0.npz"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert not any(e.get("stage") == "detect" for e in result.events)
    direct, reused = load_motion_file(tmp_path / "p1.npz"), load_motion_file(again)
    for key in ("poses", "transl", "bboxes", "valid", "people_ids", "people_landmarks2d"):
        np.testing.assert_array_equal(reused[key], direct[key], err_msg=key)
    # The two people stand apart; neither track may jump onto the other.
    assert np.all(np.abs(centres[0] - centres[1]) > 200)
    for track in centres:
        assert np.abs(np.diff(track)).max() < 100
