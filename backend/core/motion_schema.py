"""The motion-file contract: SMPL's joint order, every key with its dtype and shape, and the one check.

This file exists twice, byte for byte: `backend/core/motion_schema.py` (the writer) and
`addon/core/motion_schema.py` (the reader; Blender cannot import the backend). A test compares
them; edit the backend's copy and copy it over (`cp backend/core/motion_schema.py addon/core/`).
numpy and the standard library only.

The file is an `.npz` read with `allow_pickle=False` (never unpickled). Camera frame: x right,
y down, z forward, metres. README.md, "The motion file", describes every key.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

#: 2 added `times` (each row's presentation time) and made `fps` the source's nominal rate.
FORMAT_VERSION = 2
#: Versions both sides read; a format-1 file's rows get `times` = frame_ids / source fps (`row_times`).
READABLE_VERSIONS = (1, 2)

#: SMPL's 24 joints in order, and each joint's parent (-1 for the root); parents come first.
JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

#: key -> (dtype kind, shape with None standing for N frames). Required keys of format 2 (format 1: all but `times`).
REQUIRED_KEYS: dict[str, tuple[str, tuple[int | None, ...]]] = {
    "format_version": ("i", ()),
    "poses": ("f", (None, 24, 3)),
    "betas": ("f", (10,)),
    "transl": ("f", (None, 3)),
    "valid": ("b", (None,)),
    "frame_ids": ("i", (None,)),
    "times": ("f", (None,)),  # seconds: presentation time of each row, from the clip's first frame
    "fps": ("f", ()),  # the source's nominal rate: display and "match scene fps" only, never key by it
    "bboxes": ("f", (None, 4)),
    "cam": ("f", (None, 3)),
    "rest_joints": ("f", (24, 3)),
    "model": ("U", ()),
    "window": ("i", ()),
    "meta": ("U", ()),
}
#: Optional keys, checked when present: posed joints; the full-image pinhole camera the translation
#: was solved with (focal length in pixels, principal point at the centre of `image_size` = width,
#: height); the tracked person's MediaPipe landmarks: image (x px, y px, visibility) and world
#: (metres, hip-centred, turned into the camera frame along the viewing ray).
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
#: found from the feet or up from the body's balance (`--ground auto|plane`). Files without either
#: key stay valid.
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
_KIND_NAMES = {"f": "floating point", "i": "an integer", "b": "boolean", "U": "a string"}
_ACCEPTED_KINDS = {"f": "f", "i": "iu", "b": "b", "U": "US"}


class MotionFileError(ValueError):
    """The motion file is missing, unreadable or breaks the contract; the message says which and why."""


def check_arrays(arrays: dict[str, Any], source: str) -> int:
    """Raise MotionFileError (naming `source`) for any breach of the contract; return the number of frames N."""
    if "format_version" not in arrays:
        raise MotionFileError(f"{source}: missing keys format_version")
    version = int(np.asarray(arrays["format_version"]).reshape(-1)[0]) if np.size(arrays["format_version"]) else -1
    if version not in READABLE_VERSIONS:
        raise MotionFileError(f"{source}: format_version {version} is not supported (this side reads versions "
                              f"{', '.join(map(str, READABLE_VERSIONS))}); update the add-on or the backend")
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
        value = np.asarray(arrays[key])
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
        norm = float(np.linalg.norm(np.asarray(arrays["floor_plane"], np.float64)[:3]))
        if abs(norm - 1.0) > FLOOR_NORMAL_TOLERANCE:
            raise MotionFileError(f"{source}: 'floor_plane' normal must be a unit vector, its length is {norm:.4f}")
    _check_people(arrays, frames, source)
    if frames > 1 and np.any(np.diff(np.asarray(arrays["frame_ids"]).astype(np.int64)) <= 0):
        raise MotionFileError(f"{source}: 'frame_ids' must increase from row to row")
    if "times" in arrays and frames > 1 and np.any(np.diff(np.asarray(arrays["times"]).astype(np.float64)) <= 0):
        raise MotionFileError(f"{source}: 'times' must increase from row to row")
    try:
        json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as exc:
        raise MotionFileError(f"{source}: 'meta' is not valid JSON ({exc.msg})") from exc
    return frames


def _check_people(arrays: dict[str, Any], frames: int, source: str) -> None:
    """The optional `people_*` keys: all or none, P >= 1 people, each with N rows."""
    present = [key for key in PEOPLE_KEYS if key in arrays]
    if not present:
        return
    if len(present) != len(PEOPLE_KEYS):
        raise MotionFileError(f"{source}: the people_* keys come all together; missing "
                              f"{', '.join(sorted(set(PEOPLE_KEYS) - set(present)))}")
    people = int(np.shape(arrays["people_ids"])[0]) if np.ndim(arrays["people_ids"]) == 1 else -1
    for key, (kind, shape) in PEOPLE_KEYS.items():
        value = np.asarray(arrays[key])
        expected = tuple(people if size == "P" else frames if size is None else size for size in shape)
        if value.shape != expected or people < 1:
            raise MotionFileError(f"{source}: '{key}' has shape {list(value.shape)}, expected {list(expected)}")
        if value.dtype.kind not in _ACCEPTED_KINDS[kind]:
            raise MotionFileError(f"{source}: '{key}' must be {_KIND_NAMES[kind]}, got {value.dtype}")
        if kind == "f" and not np.all(np.isfinite(value)):
            raise MotionFileError(f"{source}: '{key}' contains NaN or infinite values")


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


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of a motion file, read without unpickling and checked; MotionFileError names the file."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise MotionFileError(f"motion file not found: {source}")
    _require_npz_archive(path, source)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except ValueError as exc:  # object arrays need pickle, which is refused
        raise MotionFileError(f"{source}: not a readable motion file ({exc})") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise MotionFileError(f"{source}: not a readable .npz motion file ({exc})") from exc
    check_arrays(arrays, source)
    return arrays


def row_times(arrays: dict[str, Any]) -> np.ndarray:
    """[N] float64 seconds at which each row is shown: `times`, or for a format-1 file (which had none)
    frame_ids / source fps, as format 1 keyed them.

    Format 1's `fps` was the row rate (source fps / stride) while `frame_ids` counted source frames;
    when its meta records `source_fps` (every backend-written file does), that is the divisor, so a
    strided format-1 file plays at its real speed.
    """
    if "times" in arrays:
        return np.asarray(arrays["times"], np.float64)
    fps = float(arrays["fps"])
    try:
        meta = json.loads(str(arrays["meta"]))
        source_fps = float(meta.get("source_fps", fps)) if isinstance(meta, dict) else fps
    except (json.JSONDecodeError, TypeError, ValueError):
        source_fps = fps
    if not np.isfinite(source_fps) or source_fps <= 0:
        source_fps = fps
    return np.asarray(arrays["frame_ids"], np.float64) / source_fps


#: Rates an export may be written at, beyond the source's own and its multiples (film, PAL, NTSC
#: rounded, high-speed): a BVH or FBX at one of these plays everywhere.
COMMON_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 72.0, 90.0, 96.0, 100.0, 120.0, 144.0, 150.0, 180.0,
                200.0, 240.0, 300.0, 360.0, 480.0, 600.0, 960.0, 1000.0)
#: A pose "lands on" an export frame when it is this close to it (frames): container timestamps
#: are rounded (Matroska keeps whole milliseconds).
ON_FRAME = 0.06


def export_rate(times: np.ndarray, nominal_fps: float) -> float:
    """Frame rate for an export that carries every pose: the source's nominal rate or above.

    `times` [N] seconds. Returns the first of the nominal rate, the common rates above it and the
    nominal rate's multiples (in increasing order) at which every row lands on its own whole
    frame; failing that, the first at which every row still gets a frame of its own (the exporter
    then samples the curves between keys). A constant-rate clip exports at its own rate (120 fps
    stays 120); a phone clip mixing 1/12 s and 1/30 s steps exports at 60.
    """
    if nominal_fps <= 0:
        raise ValueError(f"frame rate must be positive, got {nominal_fps}")
    seconds = np.asarray(times, np.float64) - float(times[0])
    candidates = sorted({nominal_fps, *(r for r in COMMON_RATES if r > nominal_fps),
                         *(nominal_fps * k for k in range(2, 41))})
    fallback = None
    for rate in candidates:
        frames = seconds * rate
        whole = np.round(frames)
        distinct = len(whole) < 2 or bool(np.all(np.diff(whole) >= 1))
        if distinct and np.all(np.abs(frames - whole) <= ON_FRAME):
            return float(rate)
        if distinct and fallback is None:
            fallback = float(rate)
    if fallback is not None:
        return fallback
    gaps = np.diff(seconds)
    return float(np.ceil(1.0 / max(float(gaps[gaps > 0].min()) if np.any(gaps > 0) else 1.0, 1e-6)))


def level_rotation(floor_plane: np.ndarray) -> np.ndarray:
    """[3, 3] smallest camera-frame rotation taking `floor_plane`'s up (its normal, the first three values)
    onto the camera's -y: the camera as if it were level. numpy only (Rodrigues' formula)."""
    up = np.asarray(floor_plane, dtype=np.float64)[:3]
    up = up / np.linalg.norm(up)
    target = np.array([0.0, -1.0, 0.0])
    axis = np.cross(up, target)
    sin, cos = float(np.linalg.norm(axis)), float(up @ target)
    if sin < 1e-12:
        return np.eye(3) if cos > 0 else np.diag([1.0, -1.0, -1.0])
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]]) / sin
    angle = np.arctan2(sin, cos)
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)
