"""Post-processing shared by every model: smoothing, root translation, crop camera, posed joints."""

from __future__ import annotations

import numpy as np

from ..body.landmarks_def import SMPL_TO_LANDMARK
from ..geometry import camera, smoothing
from ..geometry.skeleton import axis_angle_to_matrix, forward_kinematics, matrix_to_axis_angle
from ..models.base import ModelOutput
from ..tracking.track import Track

#: Landmarks below this visibility do not steer the translation solve.
MIN_VISIBILITY = 0.3


def smooth_poses(poses: np.ndarray, fps: float, strength: float) -> np.ndarray:
    rot = smoothing.smooth_rotations(axis_angle_to_matrix(poses), fps, strength)
    return matrix_to_axis_angle(rot).astype(np.float32)


def translation_from_landmarks(poses: np.ndarray, rest_joints: np.ndarray, track: Track,
                               focal_length: float) -> np.ndarray:
    """Root translation that lays the posed skeleton's joints over the 2D landmarks (pinhole camera).

    Uses the joints that have a landmark at the same anatomical point; depth follows from the
    skeleton's metric size against its size in pixels.
    """
    joints = forward_kinematics(poses, rest_joints)  # root at rest, no translation yet
    smpl_ids = list(SMPL_TO_LANDMARK)
    lm_ids = [SMPL_TO_LANDMARK[j] for j in smpl_ids]
    pixels = track.landmarks2d[:, lm_ids, :2].astype(np.float64)
    weights = np.clip(track.landmarks2d[:, lm_ids, 2].astype(np.float64), 0.0, 1.0)
    weights = np.where(weights < MIN_VISIBILITY, 0.05 * weights, weights)
    weights = np.maximum(weights, 1e-3)  # never a singular frame
    return camera.solve_translation(joints[:, smpl_ids], pixels, weights, focal_length, track.image_size)


def finish(output: ModelOutput, track: Track, fps: float, strength: float, focal_length: float) -> ModelOutput:
    """Smooth, fill in translation and crop camera, and pose the joints in the camera frame."""
    output.poses = smooth_poses(output.poses, fps, strength)
    if output.transl is None:
        output.transl = translation_from_landmarks(output.poses, output.rest_joints, track, focal_length)
    output.transl = smoothing.smooth_translation(np.asarray(output.transl, np.float64), fps, strength)
    if output.focal_length is None:
        output.focal_length = focal_length
    if output.cam is None:
        output.cam = camera.translation_to_weak_perspective(output.transl, track.bboxes, output.focal_length,
                                                            track.image_size)
    output.joints3d = forward_kinematics(output.poses, output.rest_joints, output.transl).astype(np.float32)
    return output
