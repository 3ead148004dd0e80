"""Post-processing shared by every model: smoothing, root translation, crop camera, posed joints."""

from __future__ import annotations

from dataclasses import replace

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
    """A new, finished output: poses and translation smoothed, translation solved from the 2D
    landmarks when the model left it to the pipeline, the crop camera derived when missing, and
    the posed joints (camera frame) from the smoothed motion. The model's output is not changed."""
    poses = smooth_poses(output.poses, fps, strength)
    transl = output.transl
    if transl is None:
        transl = translation_from_landmarks(poses, output.rest_joints, track, focal_length)
    transl = smoothing.smooth_translation(np.asarray(transl, np.float64), fps, strength)
    focal = focal_length if output.focal_length is None else output.focal_length
    cam = output.cam
    if cam is None:
        cam = camera.translation_to_weak_perspective(transl, track.bboxes, focal, track.image_size)
    joints3d = forward_kinematics(poses, output.rest_joints, transl).astype(np.float32)
    return replace(output, poses=poses, transl=transl, focal_length=focal, cam=cam, joints3d=joints3d)
