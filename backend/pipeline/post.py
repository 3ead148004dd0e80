"""Post-processing shared by every model: smoothing, then the posed joints of the smoothed motion."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..geometry import smoothing
from ..geometry.skeleton import axis_angle_to_matrix, forward_kinematics, matrix_to_axis_angle
from ..models.base import ModelOutput


def smooth_poses(poses: np.ndarray, fps: float, strength: float) -> np.ndarray:
    rot = smoothing.smooth_rotations(axis_angle_to_matrix(poses), fps, strength)
    return matrix_to_axis_angle(rot).astype(np.float32)


def finish(output: ModelOutput, fps: float, strength: float) -> ModelOutput:
    """A new, finished output, the same for every model: poses and translation smoothed (zero-phase
    One-Euro at `fps`; `strength` 0 leaves them unchanged), then the posed joints (camera frame)
    of the smoothed motion. The model's output is not changed."""
    poses = smooth_poses(output.poses, fps, strength)
    transl = smoothing.smooth_translation(np.asarray(output.transl, np.float64), fps, strength)
    joints3d = forward_kinematics(poses, output.rest_joints, transl).astype(np.float32)
    return replace(output, poses=poses, transl=transl, joints3d=joints3d)
