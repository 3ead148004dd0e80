"""Reading and checking a motion file, the backend's `.npz` output (no bpy).

The add-on's own copy of the contract in DESIGN.md / backend/core/motion_file.py: every key, dtype
and shape is checked before anything touches the scene, and the file is opened with
`allow_pickle=False`, so a hostile or broken file is a clear error, never code execution
or a traceback.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

#: The version this add-on writes against (the backend's FORMAT_VERSION); it also reads format 1,
#: whose rows have no `times`: they are derived as frame_ids / source fps (`times_for_format_1`).
SUPPORTED_FORMAT_VERSION = 2
READABLE_FORMAT_VERSIONS = (1, 2)

#: key -> (dtype kind, shape with None standing for N frames).
REQUIRED_KEYS: dict[str, tuple[str, tuple[int | None, ...]]] = {
    "format_version": ("i", ()),
    "poses": ("f", (None, 24, 3)),
    "betas": ("f", (10,)),
    "transl": ("f", (None, 3)),
    "valid": ("b", (None,)),
    "frame_ids": ("i", (None,)),
    "times": ("f", (None,)),  # format 2 on; seconds, presentation time of each row
    "fps": ("f", ()),
    "bboxes": ("f", (None, 4)),
    "cam": ("f", (None, 3)),
    "rest_joints": ("f", (24, 3)),
    "model": ("U", ()),
    "window": ("i", ()),
    "meta": ("U", ()),
}
#: Optional keys: checked when present (posed joints, the pinhole camera, the MediaPipe landmarks).
OPTIONAL_KEYS: dict[str, tuple[str, tuple[int | None, ...]]] = {
    "joints3d": ("f", (None, 24, 3)),
    "focal_length": ("f", ()),
    "image_size": ("i", (2,)),
    "landmarks2d": ("f", (None, 33, 3)),
    "landmarks_world": ("f", (None, 33, 3)),
    "contacts": ("b", (None, 4)),
    "floor_plane": ("f", (4,)),
}
#: `contacts` columns: left ankle, left ball, right ankle, right ball. `floor_plane` (nx, ny, nz, d):
#: camera-frame unit normal against gravity, a point x is n.x + d metres above the floor.
FLOOR_NORMAL_TOLERANCE = 1e-3
#: Optional, all or none: every person tracked (P of them), for `backend run --tracks FILE --person ID`.
#: "P" stands for the number of people. The add-on only checks them; the backend reads them.
PEOPLE_KEYS: dict[str, tuple[str, tuple[int | str | None, ...]]] = {
    "people_ids": ("i", ("P",)),
    "people_valid": ("b", ("P", None)),
    "people_bboxes": ("f", ("P", None, 4)),
    "people_landmarks2d": ("f", ("P", None, 33, 3)),
    "people_world": ("f", ("P", None, 33, 3)),
}
_KIND_NAMES = {"f": "floating point", "i": "an integer", "b": "boolean", "U": "a string"}
_ACCEPTED_KINDS = {"f": "f", "i": "iu", "b": "b", "U": "US"}


class MotionFileError(ValueError):
    """The motion file is missing, unreadable or breaks the contract; the message says which and why."""


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


def check_arrays(arrays: dict[str, np.ndarray], source: str) -> int:
    """Raise MotionFileError for any breach of the contract; return the number of frames N."""
    if "format_version" not in arrays:
        raise MotionFileError(f"{source}: missing keys format_version")
    version = int(np.asarray(arrays["format_version"]).reshape(-1)[0]) if np.size(arrays["format_version"]) else -1
    if version not in READABLE_FORMAT_VERSIONS:
        raise MotionFileError(f"{source}: format_version {version} is not supported by this add-on "
                              f"(it reads versions {', '.join(map(str, READABLE_FORMAT_VERSIONS))}); "
                              "update the add-on or the backend")
    required = {key: spec for key, spec in REQUIRED_KEYS.items() if version >= 2 or key != "times"}
    missing = [key for key in required if key not in arrays]
    if missing:
        raise MotionFileError(f"{source}: missing keys {', '.join(missing)}")
    poses_shape = np.shape(arrays["poses"])
    if len(poses_shape) != 3 or poses_shape[0] < 1:
        raise MotionFileError(f"{source}: 'poses' must have shape [N, 24, 3] with N >= 1, got {list(poses_shape)}")
    frames = int(poses_shape[0])
    specs = {**required, **{key: spec for key, spec in OPTIONAL_KEYS.items() if key in arrays}}
    for key, (kind, shape) in specs.items():
        value = arrays[key]
        expected = tuple(frames if size is None else size for size in shape)
        if value.shape != expected:
            raise MotionFileError(f"{source}: '{key}' has shape {list(value.shape)}, expected {list(expected)}")
        if value.dtype.kind not in _ACCEPTED_KINDS[kind]:
            raise MotionFileError(f"{source}: '{key}' must be {_KIND_NAMES[kind]}, got {value.dtype}")
        if kind == "f" and not np.all(np.isfinite(value)):
            raise MotionFileError(f"{source}: '{key}' contains NaN or infinite values")
    if float(arrays["fps"]) <= 0:
        raise MotionFileError(f"{source}: 'fps' must be positive, got {float(arrays['fps'])}")
    if "floor_plane" in arrays:
        norm = float(np.linalg.norm(arrays["floor_plane"].astype(np.float64)[:3]))
        if abs(norm - 1.0) > FLOOR_NORMAL_TOLERANCE:
            raise MotionFileError(f"{source}: 'floor_plane' normal must be a unit vector, its length is {norm:.4f}")
    if frames > 1 and np.any(np.diff(arrays["frame_ids"].astype(np.int64)) <= 0):
        raise MotionFileError(f"{source}: 'frame_ids' must increase from row to row")
    if "times" in arrays and frames > 1 and np.any(np.diff(arrays["times"].astype(np.float64)) <= 0):
        raise MotionFileError(f"{source}: 'times' must increase from row to row")
    _check_people(arrays, frames, source)
    try:
        json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as exc:
        raise MotionFileError(f"{source}: 'meta' is not valid JSON ({exc.msg})") from exc
    return frames


def _check_people(arrays: dict[str, np.ndarray], frames: int, source: str) -> None:
    present = [key for key in PEOPLE_KEYS if key in arrays]
    if not present:
        return
    if len(present) != len(PEOPLE_KEYS):
        raise MotionFileError(f"{source}: the people_* keys come all together; missing "
                              f"{', '.join(sorted(set(PEOPLE_KEYS) - set(present)))}")
    people = int(arrays["people_ids"].shape[0]) if arrays["people_ids"].ndim == 1 else 0
    for key, (kind, shape) in PEOPLE_KEYS.items():
        value = arrays[key]
        expected = tuple(people if size == "P" else frames if size is None else size for size in shape)
        if people < 1 or value.shape != expected:
            raise MotionFileError(f"{source}: '{key}' has shape {list(value.shape)}, expected {list(expected)}")
        if value.dtype.kind not in _ACCEPTED_KINDS[kind]:
            raise MotionFileError(f"{source}: '{key}' must be {_KIND_NAMES[kind]}, got {value.dtype}")


def _require_npz_archive(path: Path, source: str) -> None:
    """A .npz is a zip archive. Anything else would reach np.load's pickle branch and be refused with
    "Cannot load file containing pickled data", which tells the user nothing: say what it is instead."""
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        raise MotionFileError(f"{source}: cannot read the motion file ({exc.strerror or exc})") from exc
    if head.startswith(b"PK\x03\x04"):
        return
    try:
        head.decode("utf-8")
        kind = "a text file" if head.strip() else "empty"
    except UnicodeDecodeError:
        kind = "not a .npz archive"
    raise MotionFileError(f"{source} is not a motion file ({kind}): choose the .npz file that the backend wrote "
                          "(Import Video Motion makes one, or `backend run VIDEO --out FILE.npz`)")


def load_motion(path: str | Path) -> Motion:
    """Open, check and return a motion file; every failure is a MotionFileError naming the file."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise MotionFileError(f"motion file not found: {source}")
    _require_npz_archive(path, source)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except ValueError as exc:  # object arrays need pickle, which is refused
        raise MotionFileError(f"{source}: not a valid motion file ({exc})") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise MotionFileError(f"{source}: not a readable .npz motion file ({exc})") from exc
    check_arrays(arrays, source)
    meta = json.loads(str(arrays["meta"]))
    meta = meta if isinstance(meta, dict) else {"value": meta}
    times = arrays["times"].astype(np.float64) if "times" in arrays else times_for_format_1(
        arrays["frame_ids"], float(arrays["fps"]), meta)
    return Motion(
        poses=arrays["poses"].astype(np.float64),
        transl=arrays["transl"].astype(np.float64),
        rest_joints=arrays["rest_joints"].astype(np.float64),
        frame_ids=arrays["frame_ids"].astype(np.int64),
        times=times,
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


def times_for_format_1(frame_ids: np.ndarray, fps: float, meta: dict[str, Any]) -> np.ndarray:
    """Row times [N] (seconds) of a format-1 file, which had none: frame_ids / fps, as format 1 keyed them.

    Format 1's `fps` was the row rate (source fps / stride) while `frame_ids` counted source frames;
    when its meta records `source_fps` (every backend-written file does), that is the divisor, so a
    strided format-1 file plays at its real speed. Mirrors backend/motion_file.py.
    """
    source_fps = meta.get("source_fps", fps)
    try:
        source_fps = float(source_fps)
    except (TypeError, ValueError):
        source_fps = fps
    if not np.isfinite(source_fps) or source_fps <= 0:
        source_fps = fps
    return np.asarray(frame_ids, np.float64) / source_fps
