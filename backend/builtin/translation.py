"""The built-in model's root translation: the one that lays the posed joints over the 2D landmarks."""

from __future__ import annotations

import numpy as np

from ..body.landmarks_def import SMPL_TO_LANDMARK
from ..geometry import camera
from ..geometry.skeleton import forward_kinematics

#: Landmarks below this visibility do not steer the translation solve.
MIN_VISIBILITY = 0.3


def translation_from_landmarks(poses: np.ndarray, rest_joints: np.ndarray, landmarks2d: np.ndarray,
                               focal_length: float, image_size: tuple[int, int]) -> np.ndarray:
    """[N, 3] root translation (metres, camera frame) that lays the posed skeleton's joints over the
    [N, 33, 3] 2D landmarks (x px, y px, visibility) under the pinhole camera.

    Uses the joints that have a landmark at the same anatomical point; depth follows from the
    skeleton's metric size against its size in pixels.
    """
    joints = forward_kinematics(poses, rest_joints)  # root at rest, no translation yet
    smpl_ids = list(SMPL_TO_LANDMARK)
    lm_ids = [SMPL_TO_LANDMARK[j] for j in smpl_ids]
    pixels = landmarks2d[:, lm_ids, :2].astype(np.float64)
    weights = np.clip(landmarks2d[:, lm_ids, 2].astype(np.float64), 0.0, 1.0)
    weights = np.where(weights < MIN_VISIBILITY, 0.05 * weights, weights)
    weights = np.maximum(weights, 1e-3)  # never a singular frame
    return camera.solve_translation(joints[:, smpl_ids], pixels, weights, focal_length, image_size)
