"""The motion file: the `.npz` contract between the backend and the add-on (DESIGN.md).

`write_motion_file` checks every key and shape before it writes, and writes atomically
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
from .outputs import atomic_output, check_output_path

#: 2 added `times` (each row's presentation time) and made `fps` the source's nominal rate.
FORMAT_VERSION = 2
#: Versions `load_motion_file` reads; a format-1 file gets `times` = frame_ids / source fps.
READABLE_VERSIONS = (1, 2)

#: key -> (dtype kind, shape with None for N). Required keys of format 2 (format 1: all but `times`).
REQUIRED_KEYS: dict[str, tuple[str, tuple[int | None, ...]]] = {
    "format_version": ("i", ()),
    "poses": ("f", (None, 24, 3)),
    "betas": ("f", (10,)),
    "transl": ("f", (None, 3)),
    "valid": ("b", (None,)),
    "frame_ids": ("i", (None,)),
    "times": ("f", (None,)),
    "fps": ("f", ()),
    "bboxes": ("f", (None, 4)),
    "cam": ("f", (None, 3)),
    "rest_joints": ("f", (24, 3)),
    "model": ("U", ()),
    "window": ("i", ()),
    "meta": ("U", ()),
}
#: Optional keys: posed joints; the full-image pinhole camera the translation was solved with
#: (focal length in pixels, principal point at the image centre of `image_size` = width, height);
#: and the tracked person's MediaPipe landmarks: image (x px, y px, visibility) and world (metres,
#: hip-centred, turned into the camera frame along the viewing ray: camera.view_ray_rotation).
OPTIONAL_KEYS: dict[str, tuple[str, tuple[int | None, ...]]] = {
    "joints3d": ("f", (None, 24, 3)),
    "focal_length": ("f", ()),
    "image_size": ("i", (2,)),
    "landmarks2d": ("f", (None, 33, 3)),
    "landmarks_world": ("f", (None, 33, 3)),
    "contacts": ("b", (None, 4)),
    "floor_plane": ("f", (4,)),
}
#: `contacts`: per frame, whether each foot point rests on the floor, columns
#: (left ankle, left ball, right ankle, right ball) = grounding.CONTACT_JOINTS.
#: `floor_plane`: (nx, ny, nz, d) in the camera frame, n a unit vector against gravity; a point x
#: is n.x + d metres above the floor (d: the camera's height). Written only when the floor was
#: found from the feet (`--ground auto|plane`). Files without either key stay valid.
FLOOR_NORMAL_TOLERANCE = 1e-3
#: Optional, all or none: every person tracked in the clip (P of them, the imported one included), so
#: another person can be converted later without detecting again (`backend run --tracks FILE --person ID`).
#: "P" is the number of people, None is N. `people_world` holds MediaPipe's world landmarks as tracked
#: (hip-centred, not yet turned onto the viewing ray); `people_valid` marks the rows where that person was
#: detected (elsewhere the values are interpolated). Files without them stay valid.
PEOPLE_KEYS: dict[str, tuple[str, tuple[int | str | None, ...]]] = {
    "people_ids": ("i", ("P",)),
    "people_valid": ("b", ("P", None)),
    "people_bboxes": ("f", ("P", None, 4)),
    "people_landmarks2d": ("f", ("P", None, 33, 3)),
    "people_world": ("f", ("P", None, 33, 3)),
}


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


def validate_arrays(arrays: dict[str, np.ndarray], source: str = "motion file") -> int:
    """Check keys, dtypes, shapes and finiteness; returns N. Raises ValueError naming the problem."""
    if "format_version" not in arrays:
        raise ValueError(f"{source}: missing keys ['format_version']")
    version = int(arrays["format_version"])
    if version not in READABLE_VERSIONS:
        raise ValueError(f"{source}: format_version {version} is not supported (expected one of {READABLE_VERSIONS})")
    required = {k: v for k, v in REQUIRED_KEYS.items() if version >= 2 or k != "times"}
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ValueError(f"{source}: missing keys {missing}")
    n = int(np.shape(arrays["poses"])[0]) if np.ndim(arrays["poses"]) == 3 else -1
    if n < 1:
        raise ValueError(f"{source}: 'poses' must have shape [N, 24, 3] with N >= 1, got {np.shape(arrays['poses'])}")
    specs = dict(required)
    specs.update({k: v for k, v in OPTIONAL_KEYS.items() if k in arrays})
    for key, (kind, shape) in specs.items():
        value = np.asarray(arrays[key])
        want = tuple(n if s is None else s for s in shape)
        if value.shape != want:
            raise ValueError(f"{source}: '{key}' has shape {value.shape}, expected {want}")
        if kind == "f" and value.dtype.kind not in "f":
            raise ValueError(f"{source}: '{key}' must be floating point, got {value.dtype}")
        if kind == "i" and value.dtype.kind not in "iu":
            raise ValueError(f"{source}: '{key}' must be an integer, got {value.dtype}")
        if kind == "b" and value.dtype.kind != "b":
            raise ValueError(f"{source}: '{key}' must be boolean, got {value.dtype}")
        if kind == "U" and value.dtype.kind not in "US":
            raise ValueError(f"{source}: '{key}' must be a string, got {value.dtype}")
        if kind == "f" and not np.all(np.isfinite(value)):
            raise ValueError(f"{source}: '{key}' contains NaN or infinite values")
    if float(arrays["fps"]) <= 0:
        raise ValueError(f"{source}: 'fps' must be positive, got {float(arrays['fps'])}")
    if "times" in arrays and n > 1 and np.any(np.diff(np.asarray(arrays["times"], np.float64)) <= 0):
        raise ValueError(f"{source}: 'times' must increase from row to row")
    _validate_people(arrays, n, source)
    if "floor_plane" in arrays:
        norm = float(np.linalg.norm(np.asarray(arrays["floor_plane"], np.float64)[:3]))
        if abs(norm - 1.0) > FLOOR_NORMAL_TOLERANCE:
            raise ValueError(f"{source}: 'floor_plane' normal must be a unit vector, its length is {norm:.4f}")
    try:
        json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: 'meta' is not valid JSON ({exc})") from exc
    return n


def _validate_people(arrays: dict[str, np.ndarray], n: int, source: str) -> None:
    present = [key for key in PEOPLE_KEYS if key in arrays]
    if not present:
        return
    if len(present) != len(PEOPLE_KEYS):
        raise ValueError(f"{source}: the people_* keys come all together; missing "
                         f"{sorted(set(PEOPLE_KEYS) - set(present))}")
    people = int(np.shape(arrays["people_ids"])[0]) if np.ndim(arrays["people_ids"]) == 1 else -1
    kinds = {"i": "iu", "b": "b", "f": "f"}
    for key, (kind, shape) in PEOPLE_KEYS.items():
        value = np.asarray(arrays[key])
        want = tuple(people if s == "P" else n if s is None else s for s in shape)
        if value.shape != want or people < 1:
            raise ValueError(f"{source}: '{key}' has shape {value.shape}, expected {want}")
        if value.dtype.kind not in kinds[kind]:
            raise ValueError(f"{source}: '{key}' has dtype {value.dtype}")
        if kind == "f" and not np.all(np.isfinite(value)):
            raise ValueError(f"{source}: '{key}' contains NaN or infinite values")


def check_writable(out: Path) -> None:
    """Fail early, before minutes of inference, if the motion file cannot be written."""
    check_output_path(out, (".npz",), "motion file")


def write_motion_file(out: Path, motion: Motion) -> Path:
    """Validate and write atomically; on any failure no file (partial or temp) is left behind."""
    out = Path(out)
    arrays = motion.to_arrays()
    validate_arrays(arrays, source=str(out))
    check_writable(out)
    try:
        with atomic_output(out) as handle:
            np.savez(handle, **arrays)
    except OSError as exc:
        raise BackendError(ErrorCode.OUT_NOT_WRITABLE, f"cannot write {out}: {exc.strerror or exc}") from exc
    return out


def load_motion_file(path: Path) -> dict[str, np.ndarray]:
    """Read and validate a motion file without ever unpickling; raises ValueError naming the file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable motion file ({exc})") from exc
    validate_arrays(arrays, source=str(path))
    if "times" not in arrays:
        arrays["times"] = times_for_format_1(arrays)
    return arrays


def times_for_format_1(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Row times of a format-1 file, which had none: frame_ids / fps, as format 1 keyed them.

    Format 1's `fps` was the row rate (source fps / stride) while `frame_ids` were source frames;
    when the file's meta records the source rate, that is the right divisor.
    """
    fps = float(arrays["fps"])
    try:
        meta = json.loads(str(arrays["meta"]))
        source_fps = float(meta.get("source_fps", fps)) if isinstance(meta, dict) else fps
    except (json.JSONDecodeError, TypeError, ValueError):
        source_fps = fps
    if not np.isfinite(source_fps) or source_fps <= 0:
        source_fps = fps
    return np.asarray(arrays["frame_ids"], np.float64) / source_fps
