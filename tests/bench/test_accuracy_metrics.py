"""The accuracy figures (bench/accuracy_metrics.py) on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bench import accuracy_metrics as am
from bench import truth_motions as tm


@pytest.fixture
def walk() -> np.ndarray:
    """[30, 24, 3] a real walking skeleton (the harness's own), camera-like frame."""
    _, joints, _ = tm.settle(tm.walk_across(30))
    return joints


def test_pa_mpjpe_of_a_rotated_scaled_translated_copy_is_zero(walk: np.ndarray) -> None:
    rot = Rotation.from_rotvec([0.3, -1.1, 0.7]).as_matrix()
    copy = 0.8 * walk @ rot.T + np.array([1.0, -2.0, 5.0])
    assert am.pa_mpjpe(copy, walk).max() < 1e-9
    assert am.mpjpe(copy, walk).mean() > 0.05  # not aligned by rotation/scale: MPJPE sees it


def test_pa_mpjpe_does_not_forgive_a_mirror(walk: np.ndarray) -> None:
    mirrored = walk * np.array([-1.0, 1.0, 1.0])
    assert am.pa_mpjpe(mirrored, walk).mean() > 0.02


def test_one_joint_moved_gives_the_hand_computed_mpjpe(walk: np.ndarray) -> None:
    moved = walk.copy()
    moved[:, 20] += np.array([0.0, 0.14, 0.0])  # left wrist, one of the 14 (not a hip: the root stays)
    assert np.allclose(am.mpjpe(moved, walk), 0.14 / 14)
    # Procrustes minimises the summed squared error: check it against a generic optimiser on frame 0
    from scipy.optimize import minimize

    p, t = moved[0, list(am.EVAL14)], walk[0, list(am.EVAL14)]

    def sse(x: np.ndarray) -> float:
        rot = Rotation.from_rotvec(x[:3]).as_matrix()
        return float(((np.exp(x[3]) * p @ rot.T + x[4:] - t) ** 2).sum())

    best = minimize(sse, np.zeros(7), method="BFGS", options={"gtol": 1e-12}).fun
    aligned = am.procrustes_align(moved[:1, list(am.EVAL14)], walk[:1, list(am.EVAL14)])[0]
    assert ((aligned - t) ** 2).sum() == pytest.approx(best, rel=1e-5)
    assert ((aligned - t) ** 2).sum() < 0.14 ** 2  # better than leaving it unaligned


def _limb_pose(knee_deg: float) -> np.ndarray:
    joints = np.tile(tm.REST_JOINTS, (1, 1, 1)).astype(float)
    hip, knee = joints[0, 1], joints[0, 4]
    shin = np.linalg.norm(joints[0, 7] - knee)
    a = np.radians(knee_deg)
    joints[0, 4] = hip + np.array([0.0, 0.0, -np.linalg.norm(knee - hip)])
    joints[0, 7] = joints[0, 4] + shin * np.array([0.0, np.sin(a), -np.cos(a)])
    return joints


def test_flexion_of_a_bent_knee_and_its_error() -> None:
    straight, bent = _limb_pose(0.0), _limb_pose(90.0)
    assert am.flexion_deg(bent, "knee")[0, 0] == pytest.approx(90.0)
    assert am.flexion_deg(straight, "knee")[0, 0] == pytest.approx(0.0, abs=1e-6)
    # one knee off by 90, the other exact: mean over the two sides is 45
    assert am.flexion_error_deg(bent, straight, "knee") == pytest.approx(45.0)


def test_limb_direction_error_of_a_turned_forearm(walk: np.ndarray) -> None:
    pred = walk.copy()
    rot = Rotation.from_rotvec([0.0, 0.0, np.radians(30.0)]).as_matrix()
    for elbow, wrist in am.LIMBS["forearm"]:
        pred[:, wrist] = pred[:, elbow] + (walk[:, wrist] - walk[:, elbow]) @ rot.T
    err = am.limb_direction_error_deg(pred, walk, "forearm")
    # the turn is about Z; the forearm's angle changes by 30 deg times its share across Z
    forearm = walk[:, 20] - walk[:, 18]
    expected = np.degrees(np.arccos(np.clip(
        np.einsum("ni,ni->n", forearm @ rot.T, forearm) / np.linalg.norm(forearm, axis=-1) ** 2, -1, 1)))
    assert np.allclose(err[:, 0], expected, atol=1e-6)
    assert err.max() <= 30.0 + 1e-9 and err.max() > 1.0
    assert np.allclose(am.limb_direction_error_deg(pred, walk, "thigh"), 0.0, atol=1e-6)


def test_a_known_leg_swap_is_counted(walk: np.ndarray) -> None:
    swapped = walk.copy()
    swapped[:10, [4, 7]], swapped[:10, [5, 8]] = walk[:10, [5, 8]], walk[:10, [4, 7]]
    flags, decidable = am.legs_swapped(swapped, walk)
    assert decidable.all()  # legs of a walking person are apart (hip width at least)
    assert flags[:10].all() and not flags[10:].any()
    same, _ = am.legs_swapped(walk, walk)
    assert not same.any()


def test_legs_together_are_not_decidable(walk: np.ndarray) -> None:
    together = walk.copy()
    together[:, [5, 8]] = together[:, [4, 7]]
    _, decidable = am.legs_swapped(together, together)
    assert not decidable.any()


def test_acceleration_of_constant_velocity_and_of_uniform_acceleration() -> None:
    t = np.arange(20) / 30.0
    steady = np.zeros((20, 24, 3)) + (1.5 * t)[:, None, None]
    assert am.mean_acceleration(steady, 30.0) == pytest.approx(0.0, abs=1e-9)
    accel = np.zeros((20, 24, 3))
    accel[..., 2] = (0.5 * 4.0 * t ** 2)[:, None]  # 4 m/s^2 along z for every joint
    assert am.mean_acceleration(accel, 30.0) == pytest.approx(4.0)
    valid = np.ones(20, bool)
    valid[5] = False  # drops the three triples that touch frame 5
    assert am.mean_acceleration(accel, 30.0, valid) == pytest.approx(4.0)


def test_limb_length_ratio_of_a_shrunk_body(walk: np.ndarray) -> None:
    ratios = am.limb_length_ratio(0.85 * walk, walk)
    assert set(ratios) == set(am.LIMBS)
    assert all(r == pytest.approx(0.85) for r in ratios.values())


def test_root_depth_error_forgives_a_constant_only(walk: np.ndarray) -> None:
    offset = walk + np.array([0.0, 0.0, 0.7])
    assert am.root_depth_error(offset, walk) == pytest.approx(0.0, abs=1e-12)
    jitter = walk.copy()
    jitter[..., 2] += np.where(np.arange(len(walk)) % 2 == 0, 0.1, -0.1)[:, None]
    assert am.root_depth_error(jitter, walk) == pytest.approx(0.1)


def test_planted_frames_and_foot_skate() -> None:
    n = 10
    floor = np.array([0.0, -1.0, 0.0, 1.5])  # camera frame: y down, floor 1.5 m below the camera
    soles = np.zeros((n, 2, 2, 3))
    soles[..., 1] = 1.5                      # on the floor
    soles[:, 1, :, 2] = 3.0 + 0.05 * np.arange(n)[:, None]  # right foot moves 1.5 m/s: not planted
    planted = am.planted_frames(soles, floor, 30.0)
    assert planted[:, 0].all() and not planted[:, 1].any()
    joints = np.zeros((n, 24, 3))
    joints[:, 7, 0] = 0.01 * np.arange(n)     # left ankle slides 10 mm per frame along the floor
    joints[:, 7, 1] = 0.02 * (np.arange(n) % 2)  # and bobs along the normal, which does not count
    assert am.foot_skate_mm(joints, planted, floor) == pytest.approx(10.0)


def test_evaluate_of_the_truth_itself_is_perfect() -> None:
    spec = tm.clip_spec("walk_across_far")
    _, joints, glob = tm.settle(tm.MOTIONS[spec.motion](40))
    cam = spec.camera
    truth = {"joints_cam": cam.to_camera(joints), "fps": np.float64(30.0), "floor_cam": cam.floor_plane(),
             "soles_cam": cam.to_camera(tm.sole_points(joints, glob))}
    figures = am.evaluate(truth["joints_cam"], truth, np.ones(40, bool))
    assert figures["pa_mpjpe_mm"] < 1e-6 and figures["mpjpe_mm"] < 1e-6
    assert figures["legs_swapped_pct"] == 0.0 and figures["root_depth_err_m"] < 1e-9
    assert figures["accel_ratio"] == pytest.approx(1.0) and figures["limb_length_ratio"] == pytest.approx(1.0)
    assert figures["planted_frames"] > 0
    with pytest.raises(ValueError, match="shape"):
        am.evaluate(truth["joints_cam"][:5], truth, np.ones(5, bool))


def test_floor_up_and_lean_errors_of_a_pitched_camera() -> None:
    """A camera pitched 15 deg: taking the camera's own up for the floor tilts the levelled scene by
    the pitch; a body turned 10 deg about the camera's x axis leans 10 deg on the true floor."""
    spec = tm.clip_spec("walk_towards_pitched")
    _, joints, glob = tm.settle(tm.MOTIONS[spec.motion](30))
    cam = spec.camera
    truth = {"joints_cam": cam.to_camera(joints), "fps": np.float64(30.0), "floor_cam": cam.floor_plane(),
             "soles_cam": cam.to_camera(tm.sole_points(joints, glob))}
    true_up = truth["floor_cam"][:3]
    pitch = float(np.degrees(np.arcsin(-true_up[2] / np.linalg.norm(true_up))))
    assert 10.0 < pitch < 20.0
    valid = np.ones(30, bool)
    right = am.evaluate(truth["joints_cam"], truth, valid, pred_up=true_up)
    assert right["floor_up_err_deg"] < 1e-6 and right["lean_err_deg"] < 1e-6
    camera_up = am.evaluate(truth["joints_cam"], truth, valid)
    assert camera_up["floor_up_err_deg"] == pytest.approx(pitch, abs=1e-6)
    assert camera_up["lean_err_deg"] == pytest.approx(pitch, abs=1.0)
    hips = am.root(truth["joints_cam"])[:, None]
    tilt = Rotation.from_rotvec([np.radians(10.0), 0.0, 0.0]).as_matrix()
    leaning = (truth["joints_cam"] - hips) @ tilt.T + hips
    tilted = am.evaluate(leaning, truth, valid, pred_up=true_up)
    assert tilted["lean_err_deg"] == pytest.approx(10.0, abs=0.5)
    assert tilted["pa_mpjpe_mm"] < 1e-6  # PA-MPJPE forgives the lean; the lean figure does not


def test_bench_matches_motion_rows_to_truth_frames() -> None:
    """bench_accuracy.evaluate_clip picks the truth frames by the motion's frame_ids."""
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "bench"
    sys.path.insert(0, str(bench))
    import bench_accuracy

    truth = bench_accuracy.load_truth(bench / "truth" / "walk_across_far")
    rows = np.arange(10, 60, 2)                  # a --frames 10:60 --stride 2 run
    landmarks = np.zeros((len(rows), 33, 3))
    for smpl, mp in bench_accuracy.SMPL_TO_MP_2D.items():
        landmarks[:, mp, :2] = truth["joints_2d"][rows, smpl]
    valid = np.ones(len(rows), bool)
    valid[3] = False
    motion = {"frame_ids": rows, "joints3d": truth["joints_cam"][rows], "valid": valid, "landmarks2d": landmarks}
    figures = bench_accuracy.evaluate_clip(motion, truth)
    assert figures["pa_mpjpe_mm"] < 1e-6 and figures["mediapipe_2d_px"] < 1e-9
    assert figures["valid_pct"] == pytest.approx(100 * 24 / 25)
    shifted = dict(motion, frame_ids=rows + 1)   # off by one frame: no longer perfect
    assert bench_accuracy.evaluate_clip(shifted, truth)["pa_mpjpe_mm"] > 1.0
    every = bench_accuracy.evaluate_clip(dict(motion, frame_ids=np.arange(25), valid=np.ones(25, bool)), truth)
    # the same motion seen at 15 rows/s: the truth's acceleration in m/s^2 does not depend on the stride
    assert figures["accel_truth_m_s2"] == pytest.approx(every["accel_truth_m_s2"], rel=0.5)
