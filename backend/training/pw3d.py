"""3DPW's published sequence files, converted once into image sequences with SMPL ground truth (TAR's training data).

The layout (3DPW's readme, `sequenceFiles/{train,validation,test}/<sequence>.pkl`, images in
`imageFiles/<sequence>/image_{i:05d}.jpg`): each file is a Python-2 pickle of a dict with, per
actor (lists of one or two), `poses` [N, 72] SMPL axis-angle in the world frame, `trans` [N, 3],
`betas` [10+], `jointPositions` [N, 72] (24 SMPL joints, world frame, metres), `poses2d`
[N, 3, 18] (COCO-18 detections: x, y, confidence), `campose_valid` [N]; and per sequence
`cam_poses` [N, 4, 4] (world -> camera, one per image), `cam_intrinsics` [3, 3], `img_frame_ids`,
`sequence`. (VIBE's `lib/data_utils/threedpw_utils.py` reads the same keys the same way.)

Because the files are pickles, `read_sequence_file` is the one place that reads them: a restricted
unpickler that can build only numpy arrays, dtypes and plain builtin containers; a file that refers
to anything else is refused with an error naming the file and the global it asked for, and nothing
in it runs. `convert_3dpw` writes the project's own format (`ImageSequences` reads it with
`np.load(allow_pickle=False)`): one row per (actor, image) in camera coordinates:

- `pose` [N, 72]: the root rotation turned into the camera frame (R_cam @ R_root, as VIBE does), the
  body pose unchanged; `betas` [N, 10];
- `joints3D` [N, 24, 3]: `jointPositions` moved into the camera frame (metres, x right, y down, z forward);
- `joints2D` [N, 24, 3]: those joints projected with the sequence's intrinsics (pixels) + visibility 1;
- `bbox` [N, 4]: (cx, cy, w, h) pixels, the box of the projected joints grown by BOX_MARGIN (joints
  lie inside the body outline); the model then crops with its own scale as at inference;
- `focal` [N, 2], `princpt` [N, 2] pixels; `valid` [N] (campose_valid: camera pose aligned to the image);
- `track` [N] ("<sequence>_<actor>"), `frame_id` [N] (image index), `image` [N] (path under `images_root`).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import BackendError, ErrorCode
from ..geometry.skeleton import axis_angle_to_matrix
from .datasets import write_array_folder

FORMAT = "video-mocap-image-sequences"
VERSION = 1
BOX_MARGIN = 1.2  # the joints' box grown by 20 % to cover head, hands and feet (our choice; not in the paper)
SPLITS = ("train", "validation", "test")
REQUIRED = ("sequence", "poses", "betas", "jointPositions", "cam_poses", "cam_intrinsics", "campose_valid")

#: the only globals a 3DPW sequence file may name: numpy's array/scalar rebuilders (numpy 1.x and 2.x
#: module names), dtypes, `_codecs.encode` (bytes in protocol-2 pickles written by Python 3) and plain builtins.
_NUMPY = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
          ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
          ("numpy", "ndarray"), ("numpy", "dtype")}
_BUILTINS = {"list": list, "dict": dict, "tuple": tuple, "set": set, "frozenset": frozenset, "bytearray": bytearray}


def _latin1(text: str, encoding: str = "utf-8") -> bytes:
    if encoding.replace("-", "").lower() != "latin1":
        raise pickle.UnpicklingError(f"refers to codec {encoding!r}, not array data")
    return text.encode("latin1")


class ArrayUnpickler(pickle.Unpickler):
    """Builds numpy arrays, dtypes and builtin containers only; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY:
            return getattr(np.core.multiarray, name) if name in ("_reconstruct", "scalar") else getattr(np, name)
        if module == "numpy.dtypes" and name.endswith("DType") and hasattr(np, "dtypes"):
            return getattr(np.dtypes, name)
        if module == "_codecs" and name == "encode":
            return _latin1
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return _BUILTINS[name]
        raise pickle.UnpicklingError(f"refers to {module}.{name}, which is not array data; refused")


def read_sequence_file(path: Path) -> dict[str, Any]:
    """One 3DPW `.pkl` through `ArrayUnpickler` (latin-1 strings, as the Python-2 originals need).

    Raises BAD_ARGUMENT naming `path` for a pickle that asks for anything but arrays, a truncated or
    non-pickle file, or a top level that is not a dict.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = ArrayUnpickler(handle, encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{path}: {exc}; a 3DPW sequence file holds only arrays, "
                                                   "so this file was not read (nothing in it ran)") from exc
    except OSError as exc:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"cannot read {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - truncated or not a pickle at all
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{path} is not a readable 3DPW sequence file "
                                                   f"({type(exc).__name__}: {str(exc)[:200]})") from exc
    if not isinstance(data, dict):
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{path} holds a {type(data).__name__}, not a 3DPW sequence dict")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{path} lacks the 3DPW keys {missing} (found {sorted(data)[:12]})")
    return data


def _axis_angle(rot: np.ndarray) -> np.ndarray:
    """[..., 3, 3] -> [..., 3] (scipy's robust conversion)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_rotvec().reshape(*rot.shape[:-2], 3)


def sequence_rows(data: dict[str, Any], source: Path, image_dir: str) -> dict[str, np.ndarray]:
    """The rows of one sequence file (every actor), in camera coordinates; see the module docstring."""
    name = str(data["sequence"])
    cam = np.asarray(data["cam_poses"], np.float64)
    k = np.asarray(data["cam_intrinsics"], np.float64)
    n = len(cam)
    if cam.shape != (n, 4, 4) or k.shape != (3, 3):
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{source}: cam_poses {cam.shape} / cam_intrinsics {k.shape} "
                                                   "are not [N, 4, 4] / [3, 3]")
    out: dict[str, list[np.ndarray]] = {key: [] for key in ("track", "frame_id", "image", "pose", "betas", "joints3D",
                                                             "joints2D", "bbox", "focal", "princpt", "valid")}
    for actor in range(len(data["poses"])):
        pose = np.asarray(data["poses"][actor], np.float64).copy()
        joints = np.asarray(data["jointPositions"][actor], np.float64)
        betas = np.asarray(data["betas"][actor], np.float64).reshape(-1)
        if pose.shape != (n, 72) or joints.shape != (n, 72) or len(betas) < 10:
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"{source}: actor {actor} has poses {pose.shape}, "
                                                       f"jointPositions {joints.shape}, betas {betas.shape}; "
                                                       f"expected [{n}, 72], [{n}, 72], [10+] for {n} images")
        rc, tc = cam[:, :3, :3], cam[:, :3, 3]
        pose[:, :3] = _axis_angle(rc @ axis_angle_to_matrix(pose[:, :3]))
        j3d = np.einsum("nij,nkj->nki", rc, joints.reshape(n, 24, 3)) + tc[:, None]
        if np.any(j3d[..., 2] <= 1e-3):
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"{source}: actor {actor} has joints behind the camera")
        pix = j3d[..., :2] / j3d[..., 2:3] * np.diag(k)[:2] + k[:2, 2]
        lo, hi = pix.min(axis=1), pix.max(axis=1)
        size = (hi - lo) * BOX_MARGIN
        valid = np.asarray(data["campose_valid"][actor]).reshape(-1).astype(bool)
        if len(valid) != n:
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"{source}: campose_valid of actor {actor} has {len(valid)} "
                                                       f"entries for {n} images")
        out["track"].append(np.array([f"{name}_{actor}"] * n))
        out["frame_id"].append(np.arange(n, dtype=np.int64))
        out["image"].append(np.array([f"{image_dir}/image_{i:05d}.jpg" for i in range(n)]))
        out["pose"].append(pose)
        out["betas"].append(np.repeat(betas[None, :10], n, axis=0))
        out["joints3D"].append(j3d)
        out["joints2D"].append(np.concatenate([pix, np.ones((n, 24, 1))], axis=-1))
        out["bbox"].append(np.concatenate([(lo + hi) / 2, size], axis=1))
        out["focal"].append(np.repeat(np.diag(k)[None, :2], n, axis=0))
        out["princpt"].append(np.repeat(k[None, :2, 2], n, axis=0))
        out["valid"].append(valid)
    return {key: np.concatenate(value) for key, value in out.items()}


def find_sequence_files(src: Path, split: str) -> tuple[list[Path], Path]:
    """(sorted .pkl files, the imageFiles folder) for the 3DPW folder, its sequenceFiles/, or one split's folder."""
    src = Path(src)
    if not src.is_dir():
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"3DPW folder not found: {src}")
    if (src / "sequenceFiles").is_dir():  # the 3DPW folder
        root, folder = src, src / "sequenceFiles" / split
    elif src.name == "sequenceFiles":
        root, folder = src.parent, src / split
    else:  # one split's folder of sequence files
        root, folder = src.parent.parent, src
    files = sorted(folder.glob("*.pkl"))
    if not files:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{folder} holds no 3DPW sequence files (*.pkl); give the 3DPW "
                                                   f"folder that contains sequenceFiles/ and imageFiles/")
    images = root / "imageFiles"
    if not images.is_dir():
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{images} is missing: 3DPW's images (imageFiles/<sequence>/"
                                                   "image_00000.jpg ...) must sit beside sequenceFiles/")
    return files, images


def convert_3dpw(src: Path, dst: Path, split: str = "train") -> Path:
    """Convert a 3DPW split once into `dst/` ({key}.npy + meta.json), written to a temporary folder and renamed.

    `src`: the 3DPW folder (holding `sequenceFiles/` and `imageFiles/`). Images stay where they are;
    `meta.json` records their folder. Raises BAD_ARGUMENT naming the file for anything unexpected.
    """
    if split not in SPLITS:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--split {split}: 3DPW's splits are {', '.join(SPLITS)}")
    files, images = find_sequence_files(src, split)
    parts = []
    for path in files:
        data = read_sequence_file(path)
        seq = str(data["sequence"])
        if not (images / seq).is_dir():
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"{path}: its images {images / seq} are missing")
        parts.append(sequence_rows(data, path, seq))
    arrays = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    for key in ("pose", "betas", "joints3D", "joints2D", "bbox", "focal", "princpt"):
        arrays[key] = arrays[key].astype(np.float32)
    meta = {"format": FORMAT, "version": VERSION, "source": "3dpw", "split": split,
            "images_root": str(images.resolve()), "frames": len(arrays["pose"]),
            "tracks": len(set(arrays["track"].tolist())), "sequences": [p.stem for p in files],
            "keys": sorted(arrays), "joints": 24}
    return write_array_folder(dst, arrays, meta, "converted dataset")
