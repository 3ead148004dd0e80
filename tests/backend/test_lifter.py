"""The built-in model's 2D->3D lifter (backend/builtin/lifter.py): its numpy inference, its 3D against
rendered ground truth, the blend into MediaPipe's world landmarks, and its weights file's errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backend.body import landmarks_def as lm
from backend.builtin import lifter
from backend.geometry import camera

TRUTH = Path(__file__).resolve().parents[2] / "bench" / "truth"
#: The harness's SMPL joint ids in the lifter's order (left/right hip, knee, ankle, shoulder, elbow, wrist).
SMPL_IDS = (1, 2, 4, 5, 7, 8, 16, 17, 18, 19, 20, 21)


def test_numpy_inference_matches_the_network_in_torch() -> None:
    """Batch norm folded into the convolutions gives the same numbers as the layers run one by one."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    with np.load(lifter.WEIGHTS, allow_pickle=False) as data:
        w = {k: torch.from_numpy(data[k].astype(np.float64)) for k in data.files if k != "config"}
        dilations = json.loads(str(data["config"]))["dilations"]

    def conv_bn(x, conv: str, norm: str, dilation: int = 1):
        y = functional.conv1d(x, w[f"{conv}.weight"], dilation=dilation)
        return functional.relu(functional.batch_norm(y, w[f"{norm}.running_mean"], w[f"{norm}.running_var"],
                                                     w[f"{norm}.weight"], w[f"{norm}.bias"], eps=lifter.BN_EPS))

    net = lifter.load()
    x = np.random.default_rng(0).normal(0.0, 0.3, (net.receptive_field + 39, 12, 2))
    h = conv_bn(torch.from_numpy(x.reshape(len(x), -1).T[None]), "expand.0", "expand.1")
    for i, d in enumerate(dilations):
        body = conv_bn(conv_bn(h, f"blocks.{i}.body.0", f"blocks.{i}.body.1", d), f"blocks.{i}.body.4",
                       f"blocks.{i}.body.5")
        h = h[:, :, d:-d] + body
    reference = functional.conv1d(h, w["out.weight"], w["out.bias"])[0].T.reshape(-1, 12, 3).numpy()
    assert reference.shape == (40, 12, 3)
    assert np.abs(net.forward(x) - reference).max() < 1e-6  # float32 weights folded in float64


def _crop_frame_truth(clip: str) -> tuple[np.ndarray, np.ndarray]:
    """The clip's true 2D of the 12 joints [N, 12, 2] px, and their mid-hip-relative 3D [N, 12, 3] in
    the crop-aligned frame (the camera turned onto the mid-hip's viewing ray, as MediaPipe's world)."""
    with np.load(TRUTH / clip / "truth.npz", allow_pickle=False) as data:
        pixels = data["joints_2d"][:, SMPL_IDS].astype(np.float64)
        joints = data["joints_cam"][:, SMPL_IDS].astype(np.float64)
        focal = float(data["intrinsics"][0, 0])
        size = (int(data["image_size"][0]), int(data["image_size"][1]))
    turn = camera.view_ray_rotation(0.5 * (pixels[:, 0] + pixels[:, 1]), focal, size)
    relative = joints - 0.5 * (joints[:, 0:1] + joints[:, 1:2])
    return pixels, np.einsum("nji,nkj->nki", turn, relative)


def _limb_direction_errors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    def directions(x: np.ndarray) -> np.ndarray:
        v = np.stack([x[:, child] - x[:, parent] for parent, child in lifter.BONES], 1)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    return np.degrees(np.arccos(np.clip(np.sum(directions(a) * directions(b), -1), -1.0, 1.0)))


@pytest.mark.parametrize(("clip", "median_deg", "p90_deg"), [("walk_across_far", 9.0, 16.0),
                                                              ("walk_towards_pitched", 9.0, 20.0)])
def test_lifted_3d_of_a_rendered_walk_is_near_the_truth(clip: str, median_deg: float, p90_deg: float) -> None:
    """The true 2D of the harness's walks (motions and a body it was not trained on) -> limb directions
    near the truth: measured median 7.4 and 7.8 deg (90th percentile 13.4 and 16.6); MediaPipe's own 3D
    on the same clips, from its own 2D: 10.9 and 17.2 deg median."""
    pixels, truth = _crop_frame_truth(clip)
    errors = _limb_direction_errors(lifter.load().lift(lifter.normalise_2d(pixels)), truth)
    assert np.median(errors) <= median_deg, np.median(errors)
    assert np.percentile(errors, 90) <= p90_deg, np.percentile(errors, 90)


def test_corrected_world_turns_limbs_part_way_and_keeps_their_lengths() -> None:
    rng = np.random.default_rng(3)
    pixels, truth = _crop_frame_truth("walk_across_far")
    n = len(pixels)
    world = np.zeros((n, 33, 3))
    world[:, list(lifter.LIMB_LANDMARKS)] = truth + rng.normal(0.0, 0.03, truth.shape)  # a noisy "MediaPipe"
    world[:, 29] = world[:, 27] + [0.0, 0.05, -0.05]  # a heel, carried with its ankle
    landmarks2d = np.zeros((n, 33, 3))
    landmarks2d[:, list(lifter.LIMB_LANDMARKS), :2] = pixels
    landmarks2d[:, list(lifter.LIMB_LANDMARKS), 2] = 1.0  # every joint seen: the lifter gets LIFTER_SHARE
    valid = np.ones(n, bool)
    valid[10] = False
    assert np.array_equal(lifter.corrected_world(world, landmarks2d, valid, share=0.0), world)
    out = lifter.corrected_world(world, landmarks2d, valid)
    assert np.array_equal(out[10], world[10])  # a frame without a detection is left alone
    ids = list(lifter.LIMB_LANDMARKS)
    for parent, child in lifter.BONES:
        before = np.linalg.norm(world[valid][:, ids[child]] - world[valid][:, ids[parent]], axis=-1)
        after = np.linalg.norm(out[valid][:, ids[child]] - out[valid][:, ids[parent]], axis=-1)
        assert np.allclose(before, after, atol=1e-9)
    moved = _limb_direction_errors(out[valid][:, ids], world[valid][:, ids])
    full = _limb_direction_errors(lifter.corrected_world(world, landmarks2d, valid, share=1.0)[valid][:, ids],
                                  world[valid][:, ids])
    assert 0.0 < np.median(moved) < np.median(full)  # part of the way, not all of it
    assert np.allclose(out[valid, 29] - out[valid, 27], world[valid, 29] - world[valid, 27])


def test_a_missing_or_foreign_weights_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.npz.*--lifter off"):
        lifter.load(tmp_path / "missing.npz")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, something=np.zeros(3))
    with pytest.raises(ValueError, match="foreign.npz: not a lifter weights file"):
        lifter.load(foreign)


def test_a_joint_mediapipe_cannot_see_takes_more_of_the_lifter() -> None:
    shares = lifter.visibility_shares(np.array([[1.0, 0.5, 0.0, 1.3, -0.2]]))
    assert np.allclose(shares, [[lifter.LIFTER_SHARE, 0.5 * (lifter.LIFTER_SHARE + lifter.LIFTER_SHARE_UNSEEN),
                                 lifter.LIFTER_SHARE_UNSEEN, lifter.LIFTER_SHARE, lifter.LIFTER_SHARE_UNSEEN]])
    rng = np.random.default_rng(4)
    pixels, truth = _crop_frame_truth("walk_across_far")
    n = len(pixels)
    world = np.zeros((n, 33, 3))
    world[:, list(lifter.LIMB_LANDMARKS)] = truth + rng.normal(0.0, 0.03, truth.shape)
    landmarks2d = np.zeros((n, 33, 3))
    landmarks2d[:, list(lifter.LIMB_LANDMARKS), :2] = pixels
    landmarks2d[:, list(lifter.LIMB_LANDMARKS), 2] = 1.0
    valid = np.ones(n, bool)
    seen = lifter.corrected_world(world, landmarks2d, valid)
    landmarks2d[:, lm.LEFT_WRIST, 2] = 0.0  # the left forearm unseen: it follows the lifter all the way
    hidden = lifter.corrected_world(world, landmarks2d, valid)
    lifted = lifter.corrected_world(world, landmarks2d, valid, share=1.0)
    ids = list(lifter.LIMB_LANDMARKS)
    forearm = (ids.index(lm.LEFT_ELBOW), ids.index(lm.LEFT_WRIST))

    def direction(points: np.ndarray) -> np.ndarray:
        bone = points[:, ids[forearm[1]]] - points[:, ids[forearm[0]]]
        return bone / np.linalg.norm(bone, axis=-1, keepdims=True)

    assert np.allclose(direction(hidden), direction(lifted), atol=1e-9)
    assert np.degrees(np.arccos(np.clip((direction(seen) * direction(lifted)).sum(-1), -1, 1))).mean() > 1.0
    others = [ids[k] for k in range(12) if k != forearm[1]]
    assert np.allclose(hidden[:, others], seen[:, others])  # only the unseen bone changed


def test_a_seen_bone_the_lifter_turns_far_from_mediapipe_keeps_mediapipe_s_direction() -> None:
    """Per bone: agreeing estimates keep the lifter's share; past DISAGREE_TO_DEG a seen bone keeps
    MediaPipe's direction (the lifter is then the one that is wrong more often on the harness), while
    a hidden end still follows the lifter."""
    mine = np.repeat(np.random.default_rng(5).normal(0.0, 0.3, (1, 12, 3)), 3, axis=0)
    mine[:, 8] = mine[:, 6] + [0.0, 0.3, 0.0]  # left elbow 0.3 m below the left shoulder
    lifted = mine.copy()
    tilt = np.radians([10.0, 40.0, 70.0])  # the lifter's upper arm, turned this far towards the camera
    turned = mine[:, 6] + 0.3 * np.stack([np.zeros(3), np.cos(tilt), np.sin(tilt)], axis=-1)
    lifted[:, [8, 10]] += (turned - mine[:, 8])[:, None]  # the forearm moves with the elbow, unturned
    base = lifter.visibility_shares(np.ones((3, 12)))
    shares = lifter.agreement_shares(mine, lifted, base, np.ones((3, 12)))
    middle = (lifter.DISAGREE_TO_DEG - 40.0) / (lifter.DISAGREE_TO_DEG - lifter.DISAGREE_FROM_DEG)
    assert np.allclose(shares[:, 8], [lifter.LIFTER_SHARE, middle * lifter.LIFTER_SHARE, 0.0])
    others = [j for j in range(12) if j != 8]
    assert np.allclose(shares[:, others], base[:, others])  # bones that agree keep their share
    visibility = np.ones((3, 12))
    visibility[:, 8] = 0.0  # the elbow unseen: the lifter's share stays whatever the disagreement
    hidden = lifter.agreement_shares(mine, lifted, lifter.visibility_shares(visibility), visibility)
    assert np.allclose(hidden[:, 8], lifter.LIFTER_SHARE_UNSEEN)
