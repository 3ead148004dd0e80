"""Rotation conversions, quaternion continuity and the fixed frame changes."""

from __future__ import annotations

import numpy as np
import pytest

from addon.core import rotations
from addon.core.axes import (
    BODY_TO_BLENDER,
    CAMERA_TO_BLENDER,
    body_points_to_blender,
    camera_points_to_blender,
)

RNG = np.random.default_rng(3)


def test_axis_angle_matrix_and_quaternion_agree() -> None:
    aa = RNG.normal(size=(200, 3)) * 1.5
    aa[:5] *= 1e-9  # near the identity
    direct = rotations.axis_angle_to_matrix(aa)
    via_quaternion = rotations.quaternion_to_matrix(rotations.axis_angle_to_quaternion(aa))
    np.testing.assert_allclose(direct, via_quaternion, atol=1e-12)
    np.testing.assert_allclose(direct @ np.swapaxes(direct, -1, -2), np.broadcast_to(np.eye(3), direct.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(direct), 1.0, atol=1e-12)


def test_rodrigues_matches_a_known_rotation() -> None:
    quarter_turn_about_z = rotations.axis_angle_to_matrix(np.array([0.0, 0.0, np.pi / 2]))
    np.testing.assert_allclose(quarter_turn_about_z @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)


def test_matrix_to_quaternion_round_trip_including_half_turns() -> None:
    aa = RNG.normal(size=(300, 3))
    aa[:3] = [[np.pi, 0, 0], [0, np.pi, 0], [0, 0, np.pi]]
    mats = rotations.axis_angle_to_matrix(aa)
    quats = rotations.matrix_to_quaternion(mats)
    np.testing.assert_allclose(rotations.quaternion_to_matrix(quats), mats, atol=1e-10)
    assert np.all(quats[:, 0] >= 0)


def test_quaternion_multiply_composes_like_matrices() -> None:
    a, b = rotations.axis_angle_to_quaternion(RNG.normal(size=(2, 50, 3)))
    product = rotations.quaternion_to_matrix(rotations.quaternion_multiply(a, b))
    np.testing.assert_allclose(product, rotations.quaternion_to_matrix(a) @ rotations.quaternion_to_matrix(b),
                               atol=1e-12)
    identity = rotations.quaternion_multiply(a, rotations.quaternion_conjugate(a))
    np.testing.assert_allclose(identity, np.tile([1.0, 0, 0, 0], (50, 1)), atol=1e-12)


def test_continuity_removes_sign_flips_and_keeps_rotations() -> None:
    angles = np.linspace(0, 6 * np.pi, 400)  # several full turns: raw w changes sign
    quats = rotations.axis_angle_to_quaternion(np.stack([0 * angles, 0 * angles, angles], -1)[:, None, :])
    flipped = quats * np.where(RNG.random(400) < 0.5, -1.0, 1.0)[:, None, None]
    continuous = rotations.make_quaternions_continuous(flipped)
    assert np.all(np.sum(continuous[1:] * continuous[:-1], axis=-1) >= 0)
    np.testing.assert_allclose(np.abs(np.sum(continuous * quats, axis=-1)), 1.0, atol=1e-12)  # same rotations
    assert np.max(np.abs(np.diff(continuous, axis=0))) < 0.1  # no jumps


@pytest.mark.parametrize("matrix", [CAMERA_TO_BLENDER, BODY_TO_BLENDER])
def test_frame_changes_are_proper_rotations(matrix: np.ndarray) -> None:
    np.testing.assert_allclose(matrix @ matrix.T, np.eye(3))
    assert np.linalg.det(matrix) == pytest.approx(1.0)


def test_camera_axes_map_as_designed() -> None:
    right, down, forward = np.eye(3)
    np.testing.assert_allclose(camera_points_to_blender(right), [1, 0, 0])
    np.testing.assert_allclose(camera_points_to_blender(forward), [0, 1, 0])   # z forward -> +y
    np.testing.assert_allclose(camera_points_to_blender(down), [0, 0, -1])     # y down -> -z


def test_person_facing_the_camera_stands_in_rest_orientation() -> None:
    """Root = 180 deg about camera x (upright, facing the camera) maps the body frame onto Blender's rest."""
    facing_camera = rotations.axis_angle_to_matrix(np.array([np.pi, 0.0, 0.0]))
    np.testing.assert_allclose(CAMERA_TO_BLENDER @ facing_camera, BODY_TO_BLENDER, atol=1e-12)
    up, front = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(body_points_to_blender(up), [0, 0, 1])     # upright along +Z
    np.testing.assert_allclose(body_points_to_blender(front), [0, -1, 0])  # faces -Y
