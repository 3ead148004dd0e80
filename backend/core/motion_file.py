"""Writing and reading the motion file, the `.npz` contract between the backend and the add-on.

The keys, their dtypes and shapes and the check are in `motion_schema.py` (shared with the add-on
byte for byte). `write_motion_file` checks every key and shape before it writes, and writes atomically
(temp file in the same folder, fsync, rename), so a reader never sees half a file.
`load_motion_file` never unpickles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BackendError, ErrorCode
from .motion_schema import (
    FORMAT_VERSION,
    OPTIONAL_KEYS,
    PEOPLE_KEYS,
    READABLE_VERSIONS,
    REQUIRED_KEYS,
    MotionFileError,
    check_arrays,
    read_arrays,
    row_times,
)
from .outputs import atomic_output, check_output_path

__all__ = ["FORMAT_VERSION", "OPTIONAL_KEYS", "PEOPLE_KEYS", "READABLE_VERSIONS", "REQUIRED_KEYS", "Motion",
           "MotionFileError", "check_writable", "load_motion_file", "write_motion_file"]


@dataclass
class Motion:
    """One person's motion in the camera frame (x right, y down, z forward).

    Row i shows source frame `frame_ids[i]` at `times[i]` seconds (presentation time from the
    container, relative to the clip's first frame; frame_ids / fps for constant-rate clips and
    image sequences). `fps` is the source's nominal rate, for display only: never key by it.
    """

    poses: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    valid: np.ndarray
    frame_ids: np.ndarray
    fps: float
    bboxes: np.ndarray
    cam: np.ndarray
    rest_joints: np.ndarray
    model: str
    window: int
    meta: dict[str, Any] = field(default_factory=dict)
    joints3d: np.ndarray | None = None
    focal_length: float | None = None
    image_size: tuple[int, int] | None = None
    landmarks2d: np.ndarray | None = None
    landmarks_world: np.ndarray | None = None
    contacts: np.ndarray | None = None
    floor_plane: np.ndarray | None = None
    times: np.ndarray | None = None  # None: frame_ids / fps (a constant-rate clip); the pipeline always sets it
    people: dict[str, np.ndarray] | None = None  # PEOPLE_KEYS -> arrays

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "format_version": np.int32(FORMAT_VERSION),
            "poses": np.asarray(self.poses, np.float32),
            "betas": np.asarray(self.betas, np.float32),
            "transl": np.asarray(self.transl, np.float32),
            "valid": np.asarray(self.valid, bool),
            "frame_ids": np.asarray(self.frame_ids, np.int32),
            "times": np.asarray(self.times if self.times is not None
                                else np.asarray(self.frame_ids, np.float64) / float(self.fps), np.float64),
            "fps": np.float64(self.fps),
            "bboxes": np.asarray(self.bboxes, np.float32),
            "cam": np.asarray(self.cam, np.float32),
            "rest_joints": np.asarray(self.rest_joints, np.float32),
            "model": np.str_(self.model),
            "window": np.int32(self.window),
            "meta": np.str_(json.dumps(self.meta, sort_keys=True)),
        }
        if self.joints3d is not None:
            arrays["joints3d"] = np.asarray(self.joints3d, np.float32)
        if self.focal_length is not None:
            arrays["focal_length"] = np.float32(self.focal_length)
        if self.image_size is not None:
            arrays["image_size"] = np.asarray(self.image_size, np.int32)
        for key in ("landmarks2d", "landmarks_world", "floor_plane"):
            if getattr(self, key) is not None:
                arrays[key] = np.asarray(getattr(self, key), np.float32)
        if self.contacts is not None:
            arrays["contacts"] = np.asarray(self.contacts, bool)
        if self.people is not None:
            dtypes = {"i": np.int32, "b": bool, "f": np.float32}
            for key, (kind, _shape) in PEOPLE_KEYS.items():
                arrays[key] = np.asarray(self.people[key], dtypes[kind])
        return arrays


def check_writable(out: Path) -> None:
    """Fail early, before minutes of inference, if the motion file cannot be written."""
    check_output_path(out, (".npz",), "motion file")


def write_motion_file(out: Path, motion: Motion) -> Path:
    """Validate and write atomically; on any failure no file (partial or temp) is left behind."""
    out = Path(out)
    arrays = motion.to_arrays()
    check_arrays(arrays, str(out))
    check_writable(out)
    try:
        with atomic_output(out) as handle:
            np.savez(handle, **arrays)
    except OSError as exc:
        raise BackendError(ErrorCode.OUT_NOT_WRITABLE, f"cannot write {out}: {exc.strerror or exc}") from exc
    return out


def load_motion_file(path: Path) -> dict[str, np.ndarray]:
    """Read and check a motion file without ever unpickling; MotionFileError (a ValueError) names the file.
    A format-1 file gets the `times` its rows were keyed at (`motion_schema.row_times`)."""
    arrays = read_arrays(path)
    arrays["times"] = row_times(arrays)
    return arrays
