"""The fixed frame changes between the backend's frames and Blender's world (no bpy).

DESIGN.md: camera frame (x right, y down, z forward) -> Blender: x stays, z becomes +y,
y becomes -z. The SMPL body frame (y up, the body facing +z, its left hand on +x) maps to
Blender upright along +Z facing -Y: x stays, y becomes +z, z becomes -y. With these two, a
person who faces the camera (root rotation = 180 deg about x in the camera frame) stands in
Blender exactly in the armature's rest orientation.
"""

from __future__ import annotations

import numpy as np

CAMERA_TO_BLENDER = np.array([[1.0, 0.0, 0.0],
                              [0.0, 0.0, 1.0],
                              [0.0, -1.0, 0.0]])
BODY_TO_BLENDER = np.array([[1.0, 0.0, 0.0],
                            [0.0, 0.0, -1.0],
                            [0.0, 1.0, 0.0]])


def camera_points_to_blender(points: np.ndarray) -> np.ndarray:
    """[..., 3] points in the camera frame to Blender world coordinates."""
    return np.asarray(points, dtype=np.float64) @ CAMERA_TO_BLENDER.T


def body_points_to_blender(points: np.ndarray) -> np.ndarray:
    """[..., 3] points in the SMPL body frame (rest skeleton) to Blender coordinates."""
    return np.asarray(points, dtype=np.float64) @ BODY_TO_BLENDER.T
