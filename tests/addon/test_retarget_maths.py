"""Retarget maths against an independent model of Blender's pose evaluation.

Blender poses bone j as M_j = M_parent @ inv(Rest_parent) @ Rest_j @ Basis_j (armature space);
the joints it shows are the bone heads. This test evaluates that formula in numpy with arbitrary
bone rest orientations and checks that the channels reproduce SMPL forward kinematics converted
to Blender's frame, for every root-motion mode.
"""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_motion import SMPL_REST_JOINTS, known_rotations

from addon.core import smpl
from addon.core.axes import BODY_TO_BLENDER, CAMERA_TO_BLENDER
from addon.core.retarget import (
    compute_bone_channels,
    missing_bones,
    root_displacement,
    target_bone_names,
)
from addon.core.rotations import axis_angle_to_matrix, quaternion_to_matrix


def random_rest_orientations(seed: int) -> np.ndarray:
    return axis_angle_to_matrix(np.random.default_rng(seed).normal(size=(24, 3)))


def blender_pose_heads(rest_heads: np.ndarray, rest_rot: np.ndarray, quats: np.ndarray, root_loc: np.ndarray,
                       object_loc: np.ndarray | None) -> np.ndarray:
    """Bone heads in world space from Blender's pose formula (4x4 matrices)."""
    frames = quats.shape[0]
    rest = np.tile(np.eye(4), (24, 1, 1))
    rest[:, :3, :3], rest[:, :3, 3] = rest_rot, rest_heads
    heads = np.empty((frames, 24, 3))
    for f in range(frames):
        pose = np.empty((24, 4, 4))
        for j, parent in enumerate(smpl.PARENTS):
            basis = np.eye(4)
            basis[:3, :3] = quaternion_to_matrix(quats[f, j])
            if j == 0:
                basis[:3, 3] = root_loc[f]
                pose[j] = rest[j] @ basis
            else:
                pose[j] = pose[parent] @ np.linalg.inv(rest[parent]) @ rest[j] @ basis
        heads[f] = pose[:, :3, 3] + (object_loc[f] if object_loc is not None else 0.0)
    return heads


@pytest.mark.parametrize("root_motion", ["BONE", "OBJECT"])
def test_channels_reproduce_smpl_fk_with_any_bone_rolls(root_motion: str) -> None:
    poses, transl = known_rotations(12)
    rest_rot = random_rest_orientations(5)
    channels = compute_bone_channels(poses, transl, SMPL_REST_JOINTS, rest_rot, root_motion)
    got = blender_pose_heads(SMPL_REST_JOINTS @ BODY_TO_BLENDER.T, rest_rot, channels.rotations,
                             channels.root_location, channels.object_location)
    expected = smpl.forward_kinematics(poses, SMPL_REST_JOINTS, transl) @ CAMERA_TO_BLENDER.T
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_in_place_keeps_the_pelvis_over_its_rest_spot_and_keeps_vertical_motion() -> None:
    _poses, transl = known_rotations(20)
    displacement = root_displacement(transl, SMPL_REST_JOINTS, "IN_PLACE")
    np.testing.assert_allclose(displacement[:, :2], 0.0)
    full = root_displacement(transl, SMPL_REST_JOINTS, "BONE")
    np.testing.assert_allclose(displacement[:, 2], full[:, 2] - full[0, 2])
    assert np.ptp(full[:, 1]) > 0.1  # the clip does travel in depth, so the test means something


def test_rotations_are_continuous_in_time() -> None:
    poses, transl = known_rotations(200)
    channels = compute_bone_channels(poses, transl, SMPL_REST_JOINTS, random_rest_orientations(2))
    assert np.all(np.sum(channels.rotations[1:] * channels.rotations[:-1], axis=-1) >= 0)


def test_bone_name_seam() -> None:
    assert target_bone_names("SMPL") == smpl.JOINT_NAMES
    assert missing_bones("SMPL", set(smpl.JOINT_NAMES)) == []
    assert missing_bones("SMPL", set(smpl.JOINT_NAMES) - {"head"}) == ["head"]
    with pytest.raises(ValueError, match="unknown bone naming preset"):
        target_bone_names("mixamo")


def test_addon_fk_matches_the_backend_fk() -> None:
    """The add-on's private copy of SMPL FK must agree with the backend's (the contract)."""
    from backend.geometry import skeleton

    poses, transl = known_rotations(15)
    np.testing.assert_allclose(smpl.forward_kinematics(poses, SMPL_REST_JOINTS, transl),
                               skeleton.forward_kinematics(poses, SMPL_REST_JOINTS, transl), atol=1e-12)
    assert (smpl.JOINT_NAMES, smpl.PARENTS) == (skeleton.JOINT_NAMES, skeleton.PARENTS)


def test_ground_lifts_the_clip_by_one_constant_onto_the_feet() -> None:
    from addon.core import retarget

    rng = np.random.default_rng(3)
    rest = np.asarray(SMPL_REST_JOINTS, dtype=np.float64)
    poses = rng.normal(scale=0.1, size=(30, 24, 3))
    poses[:, 0] = [np.pi, 0.0, 0.0]  # upright in the camera frame
    transl = np.array([0.1, 1.2, 3.0]) + rng.normal(scale=0.02, size=(30, 3))  # camera 1.2 m above the pelvis
    rotations = np.tile(np.eye(3), (24, 1, 1))
    flat = retarget.compute_bone_channels(poses, transl, rest, rotations, "BONE", ground=False)
    lifted = retarget.compute_bone_channels(poses, transl, rest, rotations, "BONE", ground=True)
    lift = lifted.root_location - flat.root_location
    assert np.allclose(lift[:, :2], 0.0) and np.ptp(lift[:, 2]) < 1e-12 and lift[0, 2] > 0.5
    np.testing.assert_allclose(lifted.rotations, flat.rotations)
    world = smpl.forward_kinematics(poses, rest, transl) @ CAMERA_TO_BLENDER.T
    feet = world[:, list(retarget.FOOT_JOINTS), 2].min(axis=1) + lift[0, 2]
    assert abs(np.percentile(feet, retarget.FLOOR_PERCENTILE)) < 1e-9


def test_floor_plane_turns_a_pitched_camera_upright() -> None:
    """A walk seen by a camera pitched 30 deg: with its floor plane, +Z is the true up and the
    planted feet rest on Z = 0; the constant lift leaves the 30 deg lean in."""
    from addon.core import retarget
    from backend.testing import gait_synth

    clip = gait_synth.walking_clip(30.0)
    rest = clip.rest_joints
    rotations = np.tile(np.eye(3), (24, 1, 1))
    plane = np.array([*clip.up, clip.camera_height])
    channels = compute_bone_channels(clip.poses, clip.transl, rest, rotations, "BONE", ground="AUTO",
                                     floor_plane=plane)
    heads = blender_pose_heads(rest @ BODY_TO_BLENDER.T, rotations, channels.rotations, channels.root_location, None)
    world = clip.to_world(clip.joints())                      # truth: y up, floor at y = 0
    np.testing.assert_allclose(heads[..., 2], world[..., 1], atol=1e-6)   # Blender Z = true height
    spine = heads[:, 12] - heads[:, 0]
    assert np.degrees(np.arccos(spine[:, 2] / np.linalg.norm(spine, axis=-1))).max() < 12.0
    constant = compute_bone_channels(clip.poses, clip.transl, rest, rotations, "BONE", ground="CONSTANT",
                                     floor_plane=plane)
    tilted = blender_pose_heads(rest @ BODY_TO_BLENDER.T, rotations, constant.rotations, constant.root_location, None)
    spine = tilted[:, 12] - tilted[:, 0]
    assert np.degrees(np.arccos(spine[:, 2] / np.linalg.norm(spine, axis=-1))).min() > 20.0
    assert retarget.ground_warning("PLANE", None) and retarget.ground_warning("AUTO", None) is None
    with pytest.raises(ValueError, match="ground"):
        retarget.ground_mode("SIDEWAYS")
