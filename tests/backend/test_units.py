"""Pure-maths and small-module tests: rotations, FK, camera, smoothing, motion file, tracker, frame ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.builtin import ik, rest_skeleton
from backend.core.errors import BackendError, ErrorCode
from backend.core.motion_file import Motion, load_motion_file, write_motion_file
from backend.geometry import camera, smoothing
from backend.geometry.skeleton import (
    PARENTS,
    axis_angle_to_matrix,
    forward_kinematics,
    global_rotations,
    local_from_global,
    matrix_to_axis_angle,
)
from backend.tracking.track import Detection, Tracker, build_track, choose_person
from backend.tracking.video import FrameRange

RNG = np.random.default_rng(7)


def test_rotation_conversions_match_scipy() -> None:
    aa = RNG.normal(size=(500, 3)) * 1.3
    aa[0] = 0.0
    np.testing.assert_allclose(axis_angle_to_matrix(aa), Rotation.from_rotvec(aa).as_matrix(), atol=1e-12)
    back = matrix_to_axis_angle(axis_angle_to_matrix(aa))
    np.testing.assert_allclose(axis_angle_to_matrix(back), axis_angle_to_matrix(aa), atol=1e-10)


def test_forward_kinematics_against_explicit_chain() -> None:
    rest = RNG.normal(size=(24, 3))
    poses = RNG.normal(size=(3, 24, 3)) * 0.5
    transl = RNG.normal(size=(3, 3))
    joints = forward_kinematics(poses, rest, transl)
    for n in range(3):
        glob = [None] * 24
        pos = [None] * 24
        for j in range(24):
            local = Rotation.from_rotvec(poses[n, j]).as_matrix()
            if PARENTS[j] < 0:
                glob[j], pos[j] = local, rest[0]
            else:
                p = PARENTS[j]
                glob[j] = glob[p] @ local
                pos[j] = pos[p] + glob[p] @ (rest[j] - rest[p])
        np.testing.assert_allclose(joints[n], np.array(pos) + transl[n], atol=1e-10)
    local = axis_angle_to_matrix(poses)
    np.testing.assert_allclose(local_from_global(global_rotations(local)), local, atol=1e-10)


def test_translation_solve_recovers_a_known_camera() -> None:
    size, focal = (1080, 1920), 1500.0
    points = RNG.normal(size=(4, 14, 3)) * 0.4
    truth = np.array([[0.3, -0.2, 3.0], [-0.5, 0.1, 4.5], [0.0, 0.0, 2.2], [1.0, 0.5, 6.0]])
    pixels = camera.project(points + truth[:, None], focal, size)
    solved = camera.solve_translation(points, pixels, np.ones((4, 14)), focal, size)
    np.testing.assert_allclose(solved, truth, atol=1e-6)


def test_crop_camera_round_trip() -> None:
    size, focal = (1280, 720), 1280.0
    transl = np.array([[0.2, 0.1, 4.0], [-0.3, 0.4, 2.5]])
    boxes = np.array([[700.0, 300.0, 200.0, 420.0], [400.0, 500.0, 150.0, 300.0]])
    cam = camera.translation_to_weak_perspective(transl, boxes, focal, size)
    np.testing.assert_allclose(camera.weak_perspective_to_translation(cam, boxes, 1.0, focal, size), transl, atol=1e-9)


def test_zero_phase_smoothing_keeps_fast_motion_and_removes_noise() -> None:
    """Production settings at 12 fps: a 2 Hz swing keeps its size and timing; still jitter shrinks."""
    fps = 12.0
    t = np.arange(240) / fps
    swing = np.sin(2 * np.pi * 2.0 * t)[:, None] * np.array([0.5, 0.0, 0.0])
    out = smoothing.zero_phase_one_euro(swing, fps, smoothing.ROTATION_MIN_CUTOFF_HZ, smoothing.ROTATION_BETA)
    inner = slice(20, -20)  # the filter starts from the first sample as it is
    assert out[inner, 0].max() / swing[inner, 0].max() > 0.88
    best_lag = max(range(-3, 4), key=lambda lag: float(np.sum(np.roll(out[inner, 0], lag) * swing[inner, 0])))
    assert best_lag == 0
    jitter = RNG.normal(scale=0.02, size=(240, 3))
    still = smoothing.zero_phase_one_euro(jitter, fps, smoothing.ROTATION_MIN_CUTOFF_HZ, smoothing.ROTATION_BETA)
    assert still[inner].std() < 0.7 * jitter[inner].std()


def test_rotation_smoothing_strength_zero_is_identity_and_keeps_unit_quaternions() -> None:
    local = axis_angle_to_matrix(RNG.normal(size=(20, 24, 3)) * 0.3)
    assert smoothing.smooth_rotations(local, 30.0, 0.0) is local
    smoothed = smoothing.smooth_rotations(local, 30.0, 1.0)
    np.testing.assert_allclose(smoothed @ np.swapaxes(smoothed, -1, -2), np.broadcast_to(np.eye(3), smoothed.shape),
                               atol=1e-9)


def _motion(n: int = 5) -> Motion:
    return Motion(poses=np.zeros((n, 24, 3)), betas=np.zeros(10), transl=np.zeros((n, 3)), valid=np.ones(n, bool),
                  frame_ids=np.arange(n), times=np.arange(n) / 30.0, fps=30.0, bboxes=np.ones((n, 4)),
                  cam=np.ones((n, 3)), rest_joints=np.zeros((24, 3)), model="blazepose", window=0, meta={"k": 1})


def test_motion_file_round_trip_and_atomic_write(tmp_path: Path) -> None:
    out = tmp_path / "m.npz"
    write_motion_file(out, _motion())
    data = load_motion_file(out)
    assert data["poses"].shape == (5, 24, 3) and data["poses"].dtype == np.float32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    bad = _motion()
    bad.poses = np.full((5, 24, 3), np.nan)
    with pytest.raises(ValueError, match="NaN"):
        write_motion_file(tmp_path / "bad.npz", bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_motion_file_loader_refuses_pickles_and_wrong_shapes(tmp_path: Path) -> None:
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, poses=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled.npz"):
        load_motion_file(pickled)
    arrays = _motion().to_arrays()
    arrays["rest_joints"] = np.zeros((23, 3), np.float32)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **arrays)
    with pytest.raises(ValueError, match="rest_joints"):
        load_motion_file(wrong)


def _person(x: float) -> Detection:
    lm2d = np.zeros((33, 3), np.float32)
    lm2d[:, 0] = x + RNG.normal(size=33) * 20
    lm2d[:, 1] = np.linspace(100, 500, 33)
    lm2d[:, 2] = 1.0
    return Detection(landmarks2d=lm2d, world=np.zeros((33, 3), np.float32))


def test_tracker_keeps_identities_when_detection_order_swaps_and_fills_gaps() -> None:
    tracker = Tracker()
    for row in range(10):
        people = [_person(200 + 5 * row), _person(800 - 5 * row)]
        if row % 2:
            people.reverse()  # MediaPipe's output order is not an identity
        if row == 4:
            people = people[:1] if people[0].landmarks2d[0, 0] < 500 else people[1:]  # person on the right missed
        tracker.update(row, people)
    assert len(tracker.tracks) == 2
    right = next(t.person_id for t in tracker.tracks if np.median(t.last_landmarks[:, 0]) > 500)
    track = build_track(tracker, right, np.arange(10), (1000, 600))
    assert track.valid.tolist() == [True] * 4 + [False] + [True] * 5
    assert abs(np.median(track.landmarks2d[4, :, 0]) - (800 - 20)) < 30  # interpolated, not jumped
    assert choose_person(tracker, None, "clip") in (0, 1)
    with pytest.raises(BackendError) as info:
        choose_person(tracker, 7, "clip.mp4")
    assert info.value.code == ErrorCode.NO_PERSON and "clip.mp4" in info.value.message


def test_frame_range_parsing() -> None:
    assert FrameRange.parse("10:20", 3).frame_ids(100).tolist() == [10, 13, 16, 19]
    assert FrameRange.parse(":5").frame_ids(3).tolist() == [0, 1, 2]
    assert FrameRange.parse("5:").frame_ids(8).tolist() == [5, 6, 7]
    for bad in ("5", "a:b", "9:3", "-1:4"):
        with pytest.raises(BackendError):
            FrameRange.parse(bad)


def test_ik_reproduces_a_synthetic_pose_exactly() -> None:
    """Landmarks made by posing a rest skeleton: the IK must find bone directions that match them."""
    lengths = {"hip_width": 0.22, "shoulder_width": 0.34, "torso": 0.48, "thigh": 0.42, "shin": 0.4,
               "upper_arm": 0.28, "forearm": 0.25, "ankle_heel": 0.07, "ankle_toe": 0.17, "heel_toe": 0.2,
               "wrist_index": 0.09, "wrist_pinky": 0.08, "index_pinky": 0.04, "ear_width": 0.15,
               "neck_head": 0.17, "ears_nose": 0.11}
    rest = rest_skeleton.from_lengths(lengths)
    poses = np.zeros((6, 24, 3))
    poses[:, 0] = [np.pi, 0, 0]  # upright in the camera frame
    poses[:, 4, 0] = np.linspace(0.2, 1.4, 6)  # left knee flexing
    poses[:, 19, 1] = np.linspace(0.3, 1.2, 6)  # right elbow flexing
    poses[:, 16, 2] = -0.8  # left arm down
    poses[:, 1, 0] = -0.5  # left hip flexed
    from backend.body.landmarks_def import (
        LEFT_ANKLE,
        LEFT_EAR,
        LEFT_ELBOW,
        LEFT_HEEL,
        LEFT_HIP,
        LEFT_INDEX,
        LEFT_KNEE,
        LEFT_PINKY,
        LEFT_SHOULDER,
        LEFT_TOE,
        LEFT_WRIST,
        NOSE,
        RIGHT_ANKLE,
        RIGHT_EAR,
        RIGHT_ELBOW,
        RIGHT_HEEL,
        RIGHT_HIP,
        RIGHT_INDEX,
        RIGHT_KNEE,
        RIGHT_PINKY,
        RIGHT_SHOULDER,
        RIGHT_TOE,
        RIGHT_WRIST,
    )
    from backend.builtin.ik_quality import posed_points
    pts = posed_points(poses, rest)
    world = np.zeros((6, 33, 3))
    mapping = {LEFT_HIP: 1, RIGHT_HIP: 2, LEFT_KNEE: 4, RIGHT_KNEE: 5, LEFT_ANKLE: 7, RIGHT_ANKLE: 8,
               LEFT_SHOULDER: 16, RIGHT_SHOULDER: 17, LEFT_ELBOW: 18, RIGHT_ELBOW: 19, LEFT_WRIST: 20,
               RIGHT_WRIST: 21, LEFT_HEEL: "left_heel", RIGHT_HEEL: "right_heel", LEFT_TOE: "left_toe",
               RIGHT_TOE: "right_toe", LEFT_INDEX: "left_index", RIGHT_INDEX: "right_index",
               LEFT_PINKY: "left_pinky", RIGHT_PINKY: "right_pinky", LEFT_EAR: "left_ear", RIGHT_EAR: "right_ear",
               NOSE: "nose"}
    for landmark, point in mapping.items():
        world[:, landmark] = pts[point]
    solved = matrix_to_axis_angle(ik.solve(world, rest))
    from backend.builtin.ik_quality import bone_errors_deg

    errors = np.concatenate(list(bone_errors_deg(solved, rest, world).values()))
    assert errors.max() < 0.5, errors.max()
    np.testing.assert_allclose(axis_angle_to_matrix(solved[:, 4]), axis_angle_to_matrix(poses[:, 4]), atol=1e-6)
