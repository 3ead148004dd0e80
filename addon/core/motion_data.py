"""Reading and checking a motion file, the backend's `.npz` output (no bpy).

The contract (keys, dtypes, shapes, the check) is `motion_schema.py`, byte for byte the backend's
`backend/core/motion_schema.py`: every key, dtype and shape is checked before anything touches
the scene, and the file is opened with `allow_pickle=False`, so a hostile or broken file is a
clear error, never code execution or a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .motion_schema import (
    FORMAT_VERSION,
    OPTIONAL_KEYS,
    READABLE_VERSIONS,
    REQUIRED_KEYS,
    MotionFileError,
    read_arrays,
    row_times,
)

__all__ = ["FORMAT_VERSION", "OPTIONAL_KEYS", "READABLE_VERSIONS", "REQUIRED_KEYS", "Motion", "MotionFileError",
           "load_motion"]


@dataclass(frozen=True)
class Motion:
    """One person's motion: rotations and translation in the camera frame, rest skeleton in the body frame."""

    poses: np.ndarray          # [N, 24, 3] axis-angle, joint 0 in the camera frame
    transl: np.ndarray         # [N, 3] metres, camera frame
    rest_joints: np.ndarray    # [24, 3] metres, SMPL body frame
    frame_ids: np.ndarray      # [N] source frame index of each row
    times: np.ndarray          # [N] float64 seconds: when each row is shown (key row i at its time)
    fps: float                 # the source's nominal rate: display and "match scene fps" only
    valid: np.ndarray          # [N] bool
    betas: np.ndarray
    model: str
    window: int
    meta: dict[str, Any]
    focal_length: float | None = None
    image_size: tuple[int, int] | None = None
    contacts: np.ndarray | None = None      # [N, 4] bool, feet on the floor
    floor_plane: np.ndarray | None = None   # [4] the floor found from the feet, camera frame
    people_ids: tuple[int, ...] = ()        # everyone tracked, when the file keeps their tracks

    @property
    def frame_count(self) -> int:
        return int(self.poses.shape[0])


def load_motion(path: str | Path) -> Motion:
    """Open, check and return a motion file; every failure is a MotionFileError naming the file."""
    arrays = read_arrays(path)
    meta = json.loads(str(arrays["meta"]))
    meta = meta if isinstance(meta, dict) else {"value": meta}
    return Motion(
        poses=arrays["poses"].astype(np.float64),
        transl=arrays["transl"].astype(np.float64),
        rest_joints=arrays["rest_joints"].astype(np.float64),
        frame_ids=arrays["frame_ids"].astype(np.int64),
        times=row_times(arrays),
        fps=float(arrays["fps"]),
        valid=arrays["valid"].astype(bool),
        betas=arrays["betas"].astype(np.float64),
        model=str(arrays["model"]),
        window=int(arrays["window"]),
        meta=meta,
        focal_length=float(arrays["focal_length"]) if "focal_length" in arrays else None,
        image_size=tuple(int(v) for v in arrays["image_size"]) if "image_size" in arrays else None,
        contacts=arrays["contacts"].astype(bool) if "contacts" in arrays else None,
        floor_plane=arrays["floor_plane"].astype(np.float64) if "floor_plane" in arrays else None,
        people_ids=tuple(int(v) for v in arrays["people_ids"]) if "people_ids" in arrays else (),
    )


def detected_span(motion: Motion) -> Motion:
    """The rows from the first to the last frame where the person was detected (`valid`).

    Before the first and after the last detection the backend has no motion, only a held pose; the
    add-on keys from the first detection by default. Undetected rows inside the span (interpolated)
    stay. A clip with no detected row is returned unchanged.
    """
    rows = np.flatnonzero(motion.valid)
    if len(rows) == 0 or (rows[0] == 0 and rows[-1] == motion.frame_count - 1):
        return motion
    span = slice(int(rows[0]), int(rows[-1]) + 1)
    return replace(motion, poses=motion.poses[span], transl=motion.transl[span], frame_ids=motion.frame_ids[span],
                   times=motion.times[span], valid=motion.valid[span],
                   contacts=None if motion.contacts is None else motion.contacts[span])

