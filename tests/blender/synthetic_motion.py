"""Motion files made from known rotations, for tests that must not depend on a model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: SMPL neutral rest joints (mean shape), body frame: y up, metres, the body facing +z.
SMPL_REST_JOINTS = np.array([
    [-0.0018, -0.2233, 0.0282], [0.0695, -0.3141, 0.0239], [-0.0678, -0.3143, 0.0215],
    [-0.0043, -0.1144, 0.0015], [0.1026, -0.6895, 0.0169], [-0.1055, -0.6941, 0.0151],
    [0.0013, 0.0203, 0.0026], [0.0884, -1.0877, -0.0267], [-0.0918, -1.0914, -0.0273],
    [0.0024, 0.0736, 0.0280], [0.1149, -1.1439, 0.0929], [-0.1178, -1.1441, 0.0968],
    [-0.0002, 0.2877, -0.0152], [0.0769, 0.1958, -0.0027], [-0.0757, 0.1955, -0.0061],
    [0.0033, 0.3523, 0.0409], [0.1999, 0.2393, -0.0180], [-0.1913, 0.2369, -0.0152],
    [0.4547, 0.2216, -0.0410], [-0.4524, 0.2219, -0.0448], [0.7159, 0.2340, -0.0346],
    [-0.7194, 0.2311, -0.0386], [0.8038, 0.2239, -0.0497], [-0.8054, 0.2230, -0.0520],
])


def known_rotations(frames: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Smooth, large joint rotations (up to ~1.2 rad) and a walking-like translation, camera frame.

    The root starts as 180 deg about x (upright, facing the camera) and turns about the vertical.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None]
    freq = rng.uniform(0.05, 0.3, size=(1, 24, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, 24, 3))
    amp = rng.uniform(0.2, 0.7, size=(1, 24, 3))
    poses = amp * np.sin(freq * t + phase)
    yaw = 0.8 * np.sin(0.07 * np.arange(frames))
    # root = R_y(yaw) @ R_x(pi) in the camera frame, as axis-angle: compose via quaternions.
    half = 0.5 * yaw
    q_yaw = np.stack([np.cos(half), 0 * half, np.sin(half), 0 * half], -1)  # about camera y (vertical)
    q_flip = np.array([0.0, 1.0, 0.0, 0.0])                                # pi about x
    w1, x1, y1, z1 = q_yaw.T
    w2, x2, y2, z2 = q_flip
    q = np.stack([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                  w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2], -1)
    angle = 2 * np.arctan2(np.linalg.norm(q[:, 1:], axis=-1), q[:, 0])
    axis = q[:, 1:] / np.linalg.norm(q[:, 1:], axis=-1, keepdims=True)
    poses[:, 0] = axis * angle[:, None]
    transl = np.stack([0.3 * np.sin(0.05 * np.arange(frames)), 0.2 + 0.05 * np.cos(0.2 * np.arange(frames)),
                       4.0 + 0.02 * np.arange(frames)], -1)
    return poses, transl


def motion_arrays(frames: int = 30, fps: float = 30.0, seed: int = 7, first_id: int = 0,
                  format_version: int = 2) -> dict[str, np.ndarray]:
    """A motion file's arrays; format 2 has `times` (frame_ids / fps here), format 1 has none."""
    poses, transl = known_rotations(frames, seed)
    arrays = {
        "format_version": np.int32(format_version),
        "poses": poses.astype(np.float32),
        "betas": np.zeros(10, np.float32),
        "transl": transl.astype(np.float32),
        "valid": np.ones(frames, bool),
        "frame_ids": np.arange(first_id, first_id + frames, dtype=np.int32),
        "fps": np.float64(fps),
        "bboxes": np.tile(np.array([540, 960, 400, 900], np.float32), (frames, 1)),
        "cam": np.tile(np.array([1.0, 0.0, 0.0], np.float32), (frames, 1)),
        "rest_joints": SMPL_REST_JOINTS.astype(np.float32),
        "model": np.str_("synthetic"),
        "window": np.int32(0),
        "meta": np.str_(json.dumps({"source": "known rotations"})),
    }
    if format_version >= 2:
        arrays["times"] = arrays["frame_ids"].astype(np.float64) / fps
    return arrays


def write_motion_file(path: Path, **kwargs: object) -> Path:
    np.savez(path, **motion_arrays(**kwargs))  # type: ignore[arg-type]
    return path
