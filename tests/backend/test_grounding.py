"""The grounding stage against synthetic truth: contacts, floor and foot locking (issue 9)."""

from __future__ import annotations

import numpy as np
import pytest

from backend.geometry.skeleton import axis_angle_to_matrix, global_rotations
from backend.pipeline import grounding
from backend.testing import gait_synth
from backend.testing.grounding_figures import synthetic_figures


@pytest.fixture(scope="module", params=[0.0, 15.0, 30.0], ids=["pitch0", "pitch15", "pitch30"])
def walk(request: pytest.FixtureRequest) -> tuple[gait_synth.SyntheticClip, dict]:
    clip = gait_synth.walking_clip(request.param, seed=1)
    return clip, synthetic_figures(clip, seed=11 + int(request.param))


def test_truth_feet_are_planted() -> None:
    """The generator itself: planted feet do not move and rest on the floor."""
    clip = gait_synth.walking_clip(15.0)
    joints = clip.joints()
    assert grounding.foot_skate(joints, clip.contacts, clip.up) < 1e-9
    heights = clip.to_world(joints)[:, [10, 11], 1]
    assert np.abs(heights[clip.contacts[:, [1, 3]]]).max() < 0.006


def test_contacts_match_the_truth(walk: tuple) -> None:
    _, figures = walk
    assert figures["f1"] >= 0.95


def test_up_vector_within_two_degrees(walk: tuple) -> None:
    clip, figures = walk
    assert figures["ground_used"] == "plane"
    assert figures["up_error_deg"] <= 2.0
    pitch = figures["camera"]["pitch_deg"]
    true_pitch = float(np.degrees(np.arcsin(-clip.up[2])))
    assert abs(pitch - true_pitch) <= 2.0


def test_locking_removes_skate_without_penetration_or_upper_body_change(walk: tuple) -> None:
    _, figures = walk
    assert figures["skate_before_cm"] > 1.0               # the noise really slides the feet
    assert figures["skate_after_cm"] <= 0.5
    assert figures["penetration_cm"] <= 1.0
    assert figures["upper_body_mm"] <= 1.0


def test_jump_keeps_its_flight() -> None:
    clip = gait_synth.jumping_clip(15.0)
    figures = synthetic_figures(clip, seed=3)
    assert clip.flight is not None and clip.flight.sum() > 10
    assert not figures["contacts"][clip.flight].any()
    feet = [7, 8, 10, 11]
    change = np.abs(figures["after"][:, feet] - figures["before"][:, feet])[clip.flight]
    assert change.max() < 0.005
    # jumping on the spot covers too little floor for a plane; up then comes from the body's balance
    assert figures["ground_used"] == "balance" and "balance" in figures["warnings"][0]
    assert figures["up_error_deg"] <= 2.0


@pytest.mark.parametrize("pitch", [0.0, 15.0, 30.0])
def test_balance_gives_up_where_the_feet_give_no_plane(pitch: float) -> None:
    """Up from the centre of mass over the feet, measured against the camera's true up; a level
    camera keeps its own up (the balance estimate is not trusted to a few degrees)."""
    clip = gait_synth.jumping_clip(pitch)
    joints = clip.joints()
    up = grounding.balance_up(joints)
    assert np.degrees(np.arccos(np.clip(up @ clip.up, -1, 1))) <= 2.0
    floor, used, quality, warnings = grounding.choose_floor(joints, clip.fps, clip.rest_joints, "auto")
    balance = quality["balance"]
    assert balance["standing_share"] == 1.0 and abs(balance["tilt_deg"] - pitch) <= 2.0
    if pitch == 0.0:
        assert (used, floor.kind) == ("constant", "constant") and not balance["used"]
        assert "camera's up" in balance["reason"] and "camera's up" in warnings[0]
    else:
        assert (used, floor.kind) == ("balance", "balance") and balance["used"]
        result = grounding.ground_motion(clip.poses, clip.transl, clip.rest_joints, clip.fps)
        assert result.floor_plane is not None and np.allclose(result.floor_plane[:3], floor.up, atol=1e-6)


def test_seated_person_gets_no_lock() -> None:
    clip = gait_synth.seated_clip(15.0)
    figures = synthetic_figures(clip, seed=3)
    assert not figures["contacts"].any()
    assert np.abs(figures["after"] - figures["before"]).max() < 1e-5
    # a seated person's centre of mass is over the chair, not the feet: balance says nothing of up
    assert figures["ground_used"] == "constant"
    joints = clip.joints()
    _, _, quality, _ = grounding.choose_floor(joints, clip.fps, clip.rest_joints, "auto")
    assert quality["balance"]["standing_share"] < grounding.BALANCE_STANDING_SHARE
    assert "stands" in quality["balance"]["reason"]
    assert np.degrees(np.arccos(grounding.balance_up(joints) @ clip.up)) > 20.0  # what it would have said


def test_lock_off_and_ground_off_leave_the_motion_alone() -> None:
    clip = gait_synth.walking_clip(15.0)
    poses, transl = gait_synth.add_mediapipe_like_noise(clip, seed=2)
    result = grounding.ground_motion(poses, transl, clip.rest_joints, clip.fps, foot_lock=False, ground="off")
    assert np.array_equal(result.poses, poses.astype(np.float32))
    assert np.array_equal(result.transl, transl.astype(np.float32))
    assert result.floor_plane is None and result.meta["ground_used"] == "off"
    assert result.contacts.any()  # contacts are still found and written
    with pytest.raises(ValueError, match="ground mode"):
        grounding.ground_motion(poses, transl, clip.rest_joints, clip.fps, ground="sideways")


def test_two_bone_ik_reaches_and_keeps_bone_lengths() -> None:
    rng = np.random.default_rng(0)
    hip = rng.normal(size=(50, 3))
    knee = hip + np.array([0.0, -0.4, 0.05])
    ankle = knee + np.array([0.0, -0.4, -0.02])
    target = hip + rng.normal(scale=0.15, size=(50, 3)) + np.array([0.0, -0.65, 0.0])
    r_thigh, r_shin = grounding.two_bone_ik(hip, knee, ankle, target, 0.4031, 0.4005)
    new_knee = hip + np.einsum("nij,nj->ni", r_thigh, knee - hip)
    new_ankle = new_knee + np.einsum("nij,nj->ni", r_shin @ r_thigh, ankle - knee)
    assert np.abs(np.linalg.norm(new_knee - hip, axis=-1) - 0.4031).max() < 1e-4
    reachable = np.linalg.norm(target - hip, axis=-1) < 0.80
    assert np.abs(new_ankle - target)[reachable].max() < 1e-4


def _headings(foot_rotations: np.ndarray, up: np.ndarray, toward_ball: np.ndarray) -> np.ndarray:
    """[N] heading (rad) about `up` of the ankle->ball direction of feet [N, 3, 3]."""
    forward = foot_rotations @ toward_ball
    along = forward - (forward @ up)[:, None] * up
    side = np.cross(up, np.array([0.0, 0.0, 1.0]))
    return np.arctan2(along @ side, along @ np.cross(side, up))


def test_locking_changes_only_the_legs_and_holds_a_flat_foot() -> None:
    clip = gait_synth.walking_clip(30.0)
    poses, transl = gait_synth.add_mediapipe_like_noise(clip, seed=4)
    result = grounding.ground_motion(poses, transl, clip.rest_joints, clip.fps)
    legs = {1, 2, 4, 5, 7, 8}
    others = [j for j in range(24) if j not in legs]
    assert np.abs(result.poses[:, others] - poses[:, others]).max() < 1e-5
    before = global_rotations(axis_angle_to_matrix(poses))
    after = global_rotations(axis_angle_to_matrix(result.poses))
    truth = global_rotations(axis_angle_to_matrix(clip.poses))
    blend = round(grounding.LockSettings().blend * clip.fps)
    up = result.floor.up
    for ankle, ball, (heel_col, ball_col) in ((7, 10, (0, 1)), (8, 11, (2, 3))):
        toward_ball = clip.rest_joints[ball] - clip.rest_joints[ankle]
        flat = result.contacts[:, heel_col] & result.contacts[:, ball_col]
        near = np.convolve(flat, np.ones(2 * blend + 1), mode="same") > 0
        assert flat.sum() > 20
        # Away from flat-foot contacts the foot keeps its orientation ...
        assert np.abs(after[~near, ankle] - before[~near, ankle]).max() < 1e-4
        # ... on them it holds one heading per contact (nearer the truth's than the noisy one), and
        # only the heading: the ball's height over the ankle is the model's.
        heading = {name: _headings(rot[:, ankle], up, toward_ball) for name, rot in
                   (("after", after), ("before", before), ("truth", truth))}
        for start, end in grounding._runs(flat):
            assert np.ptp(np.unwrap(heading["after"][start:end + 1])) < 1e-6
        off_truth = {name: np.abs(np.angle(np.exp(1j * (heading[name][flat] - heading["truth"][flat])))).mean()
                     for name in ("after", "before")}
        assert off_truth["after"] < off_truth["before"], off_truth
        assert np.allclose((after[flat, ankle] @ toward_ball) @ up, (before[flat, ankle] @ toward_ball) @ up)


def test_contact_term_values_and_gradient() -> None:
    # A floor 1 m below a level camera (up = -y), ankle points resting 0.08 m above it.
    floor = grounding.Floor(up=np.array([0.0, -1.0, 0.0]), offset=1.0, levels=np.array([0.08, 0.0]), kind="plane")
    contacts = np.zeros((6, 4), bool)
    contacts[1:5, 1] = True  # the left ball is down in frames 1-4
    weights = grounding.ContactTermWeights(on_floor=2.0, still=3.0, above=5.0)
    term = grounding.contact_term(floor, contacts, weights)
    joints = np.zeros((6, 24, 3))
    joints[..., 1] = -0.5                       # everything 0.5 m above the floor ...
    joints[:, 10] = (0.1, 1.0, 3.0)             # ... but the left ball, on the floor and still
    joints[:, [7, 8]] = (0.0, 0.92, 3.0)        # ankles exactly at their resting level
    joints[:, 11] = (0.3, 0.9, 3.0)             # the right ball 0.1 m up, not in contact
    value, g_joints, g_transl = term(joints, np.zeros((6, 3)), slice(0, 6))
    assert value == pytest.approx(0.0, abs=1e-20) and np.abs(g_joints).max() < 1e-12 and not g_transl.any()
    # The ball 2 cm above the floor in frame 2 and sliding 1 cm in frame 3; the right ball 3 cm under it.
    moved = joints.copy()
    moved[2, 10, 1] -= 0.02
    moved[3:, 10, 0] += 0.01
    moved[0, 11, 1] = 1.03
    value, g_joints, _ = term(moved, np.zeros((6, 3)), slice(0, 6))
    expected = (2.0 * 0.02 ** 2 + 3.0 * (2 * 0.02 ** 2 + 0.01 ** 2) + 5.0 * 0.03 ** 2) / 6
    assert value == pytest.approx(expected, rel=1e-9)
    rng = np.random.default_rng(0)
    x = moved + rng.normal(0.0, 0.01, moved.shape)
    _, grad, _ = term(x, np.zeros((6, 3)), slice(0, 6))
    numeric = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-6
        numeric[index] = (term(x + step, np.zeros((6, 3)), slice(0, 6))[0]
                          - term(x - step, np.zeros((6, 3)), slice(0, 6))[0]) / 2e-6
    assert np.abs(numeric - grad).max() <= 1e-6
    # A block of rows sees its own rows' contacts (clip frames 2-4, all in contact).
    value, _, _ = term(moved[2:5], np.zeros((3, 3)), slice(2, 5))
    assert value == pytest.approx((2.0 * 0.02 ** 2 + 3.0 * (0.02 ** 2 + 0.01 ** 2)) / 3, rel=1e-9)


def test_a_plane_rolled_against_the_torso_is_refused() -> None:
    """Footfalls that say the floor is rolled 20 deg in the image while the walker's torso stands
    upright (as MediaPipe's depth does when a walk-away lane comes out lower than the walk-towards
    one): the plane is not trusted, and the stage falls back to the constant floor."""
    clip = gait_synth.walking_clip(15.0, seconds=6.0)
    joints = clip.joints()
    level, quality = grounding.fit_floor(joints, clip.fps, clip.rest_joints)
    view = joints[:, 0].mean(axis=0) / np.linalg.norm(joints[:, 0].mean(axis=0))
    assert level is not None and quality["well_conditioned"] and grounding._roll_from(level.up, clip.up, view) < 2.0
    angle = np.radians(20.0)  # about the optical axis (camera z), through the pelvis' mean position
    roll = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    centre = joints[:, 0].mean(axis=0)
    rolled = (joints - centre) @ roll.T + centre
    torso = [grounding.JOINT_INDEX[name] for name in ("pelvis", "neck")]
    rolled[:, torso] = joints[:, torso]
    plane, quality = grounding.fit_floor(rolled, clip.fps, clip.rest_joints)
    assert plane is not None and abs(grounding._roll_from(plane.up, clip.up, view) - 20.0) < 2.0
    assert "rolled" in quality["reason"] and not quality["well_conditioned"]
    floor, used, quality, warnings = grounding.choose_floor(rolled, clip.fps, clip.rest_joints, "auto")
    assert (floor.kind, used) == ("constant", "constant") and "rolled" in warnings[0]
    # the feet's balance is rolled with them, so it is refused for the same reason
    assert quality["balance"]["roll_from_torso_deg"] > 15.0 and "rolled" in quality["balance"]["reason"]



@pytest.mark.parametrize("pitch", [45.0, 60.0, 75.0])
def test_a_steep_camera_keeps_its_floor(pitch: float) -> None:
    """Seen from high up, the floor's up and the torso's both point almost along the lens. A torso that
    MediaPipe leans 12 deg towards the camera (depth is its weakest guess) is not a sideways roll: the
    lean is measured in 3D, so the true floor is kept (measured as angles drawn in the image, that depth
    lean read as 10.6 deg of roll at 60 deg pitch, and the floor was refused at 75)."""
    clip = gait_synth.walking_clip(pitch, seconds=6.0, seed=2)
    joints = clip.joints()
    view = joints[:, 0].mean(axis=0) / np.linalg.norm(joints[:, 0].mean(axis=0))
    lateral = np.cross(view, clip.up)
    lateral /= np.linalg.norm(lateral)
    angle = np.radians(12.0)
    k = np.array([[0.0, -lateral[2], lateral[1]], [lateral[2], 0.0, -lateral[0]], [-lateral[1], lateral[0], 0.0]])
    lean = np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * k @ k   # about the lateral axis
    neck = grounding.JOINT_INDEX["neck"]
    joints[:, neck] = joints[:, 0] + (joints[:, neck] - joints[:, 0]) @ lean.T
    plane, quality = grounding.fit_floor(joints, clip.fps, clip.rest_joints)
    assert plane is not None and quality["well_conditioned"], quality
    assert quality["roll_from_torso_deg"] < 10.0 and quality["tilt_from_torso_deg"] > 8.0, quality  # its own: 4-5 deg
    assert np.degrees(np.arccos(np.clip(plane.up @ clip.up, -1.0, 1.0))) < 1.0


def test_a_plane_that_puts_the_camera_under_the_floor_is_never_used() -> None:
    """A clean walk moved so that its floor passes 0.5 m above the camera (no camera films from under
    the floor): the plane is found but refused, even with `--ground plane` ("any plane")."""
    clip = gait_synth.walking_clip(15.0)
    joints = clip.joints() + (clip.camera_height + 0.5) * clip.up
    plane, quality = grounding.fit_floor(joints, clip.fps, clip.rest_joints)
    assert plane is not None and plane.offset == pytest.approx(-0.5, abs=0.05)
    assert not quality["well_conditioned"] and "under the floor" in quality["reason"]
    for mode in ("auto", "plane"):
        floor, used, _, warnings = grounding.choose_floor(joints, clip.fps, clip.rest_joints, mode)
        assert floor.kind != "plane" and used != "plane" and warnings


def test_balance_is_refused_upside_down_under_the_camera_and_on_one_frame() -> None:
    """A body upside down (a handstand reads as a camera 160-180 deg from level), a floor that would put
    the camera under it, and a clip too short to average: the camera's up is kept, and the warning says why."""
    clip = gait_synth.jumping_clip(15.0)
    joints = clip.joints()
    flipped = joints * [-1.0, -1.0, 1.0]  # turned 180 deg about the lens: the body stands on its head
    _, used, quality, warnings = grounding.choose_floor(flipped, clip.fps, clip.rest_joints, "auto")
    assert used == "constant" and "upside down" in quality["balance"]["reason"] and "upside down" in warnings[0]
    # the whole scene moved up past the camera: the floor would pass 0.5 m above it
    raised = joints + (clip.camera_height + 0.5) * clip.up
    _, used, quality, _ = grounding.choose_floor(raised, clip.fps, clip.rest_joints, "auto")
    assert used == "constant" and "under the floor" in quality["balance"]["reason"]
    _, used, quality, _ = grounding.choose_floor(joints[:10], clip.fps, clip.rest_joints, "auto")
    assert used == "constant" and "in view in 10 frames" in quality["balance"]["reason"]


def test_feet_out_of_view_give_no_floor() -> None:
    """A close-up that cuts the feet off: MediaPipe still places them, but no plane and no balance is
    fitted to feet it does not see; with them in view the same clip gets its floor."""
    clip = gait_synth.walking_clip(15.0)
    joints = clip.joints()
    seen = np.ones((len(joints), 4), bool)
    seen[: int(0.6 * len(joints))] = False
    floor, used, quality, warnings = grounding.choose_floor(joints, clip.fps, clip.rest_joints, "plane", seen=seen)
    assert (floor.kind, used) == ("constant", "constant") and "out of view or hidden in 60 %" in warnings[0]
    assert quality["feet_in_view"] == pytest.approx(0.4, abs=0.01)
    assert grounding.choose_floor(joints, clip.fps, clip.rest_joints, "auto", seen=~seen & seen)[1] == "constant"
    assert grounding.choose_floor(joints, clip.fps, clip.rest_joints, "auto", seen=np.ones_like(seen))[1] == "plane"


def test_feet_in_view_reads_the_landmarks() -> None:
    landmarks = np.zeros((3, 33, 3))
    landmarks[..., :2] = [100.0, 200.0]
    landmarks[..., 2] = 0.9
    landmarks[1, 31, 1] = 500.0      # the left foot tip below a 400-pixel-high image
    landmarks[2, 30, 2] = 0.2        # the right heel hidden
    seen = grounding.feet_in_view(landmarks, (640, 400), valid=np.array([True, True, True]))
    assert seen.tolist() == [[True] * 4, [True, False, True, True], [True, True, False, True]]
    assert not grounding.feet_in_view(landmarks, (640, 400), valid=np.array([False, True, True]))[0].any()


def test_frames_without_the_person_do_not_count_as_feet_out_of_view() -> None:
    """A person missing from most of the clip (nobody detected) but with the feet in view whenever
    present: the floor is judged on the frames with the person."""
    clip = gait_synth.walking_clip(15.0)
    joints = clip.joints()
    detected = np.zeros(len(joints), bool)
    detected[-60:] = True                      # 2 of 5 seconds
    seen = np.repeat(detected[:, None], 4, axis=1)
    _, used, quality, _ = grounding.choose_floor(joints, clip.fps, clip.rest_joints, "auto", seen=seen,
                                                 detected=detected)
    assert quality["feet_in_view"] == 1.0 and used != "constant"
    _, used, quality, warnings = grounding.choose_floor(joints, clip.fps, clip.rest_joints, "auto", seen=seen)
    assert used == "constant" and "out of view or hidden in 60 %" in warnings[0]


def test_a_foot_outside_the_picture_is_never_locked() -> None:
    clip = gait_synth.walking_clip(15.0)
    poses, transl = gait_synth.add_mediapipe_like_noise(clip, seed=2)
    free = grounding.ground_motion(poses, transl, clip.rest_joints, clip.fps)
    in_picture = np.ones((len(poses), 4), bool)
    in_picture[:, 2:] = False                  # the right foot cut off by the frame's edge
    cut = grounding.ground_motion(poses, transl, clip.rest_joints, clip.fps, in_picture=in_picture)
    assert free.contacts[:, 2:].any() and not cut.contacts[:, 2:].any()
    assert np.array_equal(cut.contacts[:, :2], free.contacts[:, :2])
