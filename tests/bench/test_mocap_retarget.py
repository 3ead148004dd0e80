"""BVH reading and the retarget of a motion-capture take onto the harness skeleton (bench/mocap_retarget.py).

Hand-made BVH files check the reading against hand-computed positions and rotations; the shipped CMU
take checks the retarget against the take itself: every harness bone points where the captured bone
points, and the root travels the captured path scaled by the leg-length ratio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import mocap_retarget as mr
from bench import truth_motions as tm

TWO_JOINTS = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Knee
  {
    OFFSET 0 -10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 -8 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.5
1 2 3 0 0 0 0 0 0
1 2 3 90 0 0 0 0 0
5 2 3 90 0 0 30 40 50
"""


def _rx(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


@pytest.fixture()
def two_joints(tmp_path: Path) -> Path:
    path = tmp_path / "two.bvh"
    path.write_text(TWO_JOINTS)
    return path


def test_a_hand_made_bvh_reads_to_its_offsets_and_rotations(two_joints: Path) -> None:
    take = mr.read_bvh(two_joints)
    assert take.names == ["Hips", "Knee"] and list(take.parents) == [-1, 0]
    assert np.allclose(take.offsets, [[0, 0, 0], [0, -10, 0]])
    assert np.allclose(take.tips, [[0, -10, 0], [0, -8, 0]])  # first child's offset / the End Site
    assert take.frame_time == 0.5 and take.fps == 2.0
    assert np.allclose(take.root_positions, [[1, 2, 3], [1, 2, 3], [5, 2, 3]])
    # channels Z X Y mean R = Rz Rx Ry (intrinsic, in the file's order)
    assert np.allclose(take.local[2, 1], _rz(30) @ _rx(40) @ _ry(50), atol=1e-6)
    pos, glob = mr.bvh_forward_kinematics(take)
    assert np.allclose(pos[0, 1], [1, -8, 3])                 # knee straight below the hips
    assert np.allclose(pos[1, 1], [11, 2, 3], atol=1e-5)      # hips turned 90 deg about Z: -y goes to +x
    assert np.allclose(glob[2, 1], _rz(90) @ _rz(30) @ _rx(40) @ _ry(50), atol=1e-6)


def test_resampling_picks_frames_and_slerps_between(two_joints: Path) -> None:
    take = mr.read_bvh(two_joints)
    same = mr.resample(take, 2.0, 3)
    assert np.allclose(same.local, take.local, atol=1e-9) and np.allclose(same.root_positions, take.root_positions)
    half = mr.resample(take, 4.0, 5)                         # t = 0, 0.25, 0.5, 0.75, 1.0 s
    assert np.allclose(half.local[1, 0], _rz(45), atol=1e-6)  # halfway between 0 and 90 deg about Z
    assert np.allclose(half.root_positions[3], [3, 2, 3])     # halfway between x = 1 and x = 5
    assert half.frame_time == 0.25
    with pytest.raises(ValueError, match="the take lasts 1.000 s"):
        mr.resample(take, 4.0, 6)


def test_unreadable_bvh_files_are_refused_with_their_name(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.bvh"):
        mr.read_bvh(tmp_path / "missing.bvh")
    bad = tmp_path / "bad.bvh"
    bad.write_text(TWO_JOINTS.replace("OFFSET 0 -10 0", "OFFSET 0 ten 0"))
    with pytest.raises(ValueError, match="bad.bvh: not a readable BVH file"):
        mr.read_bvh(bad)


#: harness bone (joint, child) -> the captured bone (joint, bone end) it must follow
BONES = {
    ("left_hip", "left_knee"): ("lThigh", "lShin"), ("right_hip", "right_knee"): ("rThigh", "rShin"),
    ("left_knee", "left_ankle"): ("lShin", "lFoot"), ("right_knee", "right_ankle"): ("rShin", "rFoot"),
    ("left_shoulder", "left_elbow"): ("lShldr", "lForeArm"), ("right_shoulder", "right_elbow"): ("rShldr", "rForeArm"),
    ("left_elbow", "left_wrist"): ("lForeArm", "lHand"), ("right_elbow", "right_wrist"): ("rForeArm", "rHand"),
    ("left_wrist", "left_hand"): ("lHand", "lMid1"), ("left_collar", "left_shoulder"): ("lCollar", "lShldr"),
    ("spine3", "neck"): ("chest", "neck"), ("neck", "head"): ("neck", "head"),
    ("right_hip", "left_hip"): ("rThigh", "lThigh"),  # the pelvis's hip axis
}


def test_the_cmu_kick_s_harness_bones_follow_the_captured_bones() -> None:
    frames = 90
    take = mr.resample(mr.read_bvh(tm.MOCAP_DIR / "cmu_11_01_kick.bvh"), tm.FPS, frames)
    assert take.local.shape[:2] == (frames, 43) and take.fps == pytest.approx(30.0)
    pos, _ = mr.bvh_forward_kinematics(take)
    transl, joints, _ = tm.settle(tm.cmu_kick(frames))
    heading = _rz(50.0)  # cmu_kick turns the take by 50 deg about +Z
    to_harness = heading @ mr.BVH_TO_HARNESS
    for (a, b), (sa, sb) in BONES.items():
        harness = joints[:, tm.J[b]] - joints[:, tm.J[a]]
        captured = (pos[:, take.index(sb)] - pos[:, take.index(sa)]) @ to_harness.T
        assert _angle_deg(harness, captured).max() < 0.01, (a, b)
    # the knees bend as captured (through the run-up's steps and the kick's wind-up: past 80 deg)
    for side, s in (("left", "l"), ("right", "r")):
        hip, knee, ankle = f"{s}Thigh", f"{s}Shin", f"{s}Foot"
        harness = 180 - _angle_deg(joints[:, tm.J[f"{side}_hip"]] - joints[:, tm.J[f"{side}_knee"]],
                                   joints[:, tm.J[f"{side}_ankle"]] - joints[:, tm.J[f"{side}_knee"]])
        captured = 180 - _angle_deg(pos[:, take.index(hip)] - pos[:, take.index(knee)],
                                    pos[:, take.index(ankle)] - pos[:, take.index(knee)])
        assert np.abs(harness - captured).max() < 0.01 and harness.max() > 80, side
    # the root travels the captured path, scaled by the leg-length ratio (the floor rule moves only Z)
    legs = [np.linalg.norm(tm.REST_JOINTS[tm.J[b]] - tm.REST_JOINTS[tm.J[a]])
            for a, b in (("left_hip", "left_knee"), ("left_knee", "left_ankle"))]
    scale = sum(legs) / mr.leg_length(take)
    captured_path = (take.root_positions - take.root_positions[0]) @ to_harness.T
    assert np.allclose(transl[:, :2] - transl[0, :2], scale * captured_path[:, :2], atol=1e-9)
    assert 2.0 < np.linalg.norm(captured_path[-1, :2] * scale) < 3.5  # the run-up covers 2-3.5 m
