"""Training data: the TCMR/VIBE preprocessed sequence databases, converted once, then streamed from disk.

The published databases (VIBE `lib/data_utils/*_utils.py`, reused by TCMR and MPS-Net) are
`joblib.dump` files of a dict of per-frame arrays: `features` [N, 2048] (SPIN ResNet-50), `pose`
[N, 72] (SMPL axis-angle), `shape` [N, 10], `joints3D` [N, 49, 3] (SPIN's 49 joints, metres),
`joints2D` [N, 49, 3] (pixels + confidence), `vid_name` [N] and `frame_id` [N], often `bbox`
[N, 4] (cx, cy, w, h in pixels) and more. They are pickles, so `convert_dataset` is the one
place that reads them: a restricted unpickler that can build only numpy arrays and plain
containers (no object arrays from joblib's raw stream, no other classes), run by the user on
files they trust. It writes a folder of `.npy` arrays plus `meta.json`, which training
memory-maps (`SequenceArrays`): memory stays bounded by the batch, not the database.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import BackendError, ErrorCode
from ..core.outputs import ordinary_file_mode

FORMAT = "video-mocap-sequence-db"
REQUIRED = ("features", "pose", "shape", "joints3D", "joints2D", "vid_name", "frame_id")
OPTIONAL = ("bbox", "valid")
#: numpy globals a numpy array needs in a pickle stream (numpy 1.x and 2.x module names).
_NUMPY = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
          ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
          ("numpy", "ndarray"), ("numpy", "dtype")}


def _allowed(module: str, name: str) -> Any:
    if (module, name) in _NUMPY:
        if name in ("_reconstruct", "scalar"):
            return getattr(np.core.multiarray, name)
        return getattr(np, name)
    if module == "numpy.dtypes" and name.endswith("DType"):
        return getattr(np.dtypes, name)
    if module == "collections" and name == "OrderedDict":
        return collections.OrderedDict
    if module == "joblib.numpy_pickle" and name == "NumpyArrayWrapper":
        from joblib.numpy_pickle import NumpyArrayWrapper

        return NumpyArrayWrapper
    if module == "_codecs" and name == "encode":
        return lambda text, encoding="utf-8": text.encode(encoding)
    raise pickle.UnpicklingError(f"refers to {module}.{name}, which is not array data; refused")


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return _allowed(module, name)


def _joblib_unpickler() -> type:
    from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

    class RestrictedNumpyUnpickler(NumpyUnpickler):
        """joblib's unpickler with an allow-list; object arrays are read by the restricted plain unpickler."""

        dispatch = dict(NumpyUnpickler.dispatch)

        def find_class(self, module: str, name: str) -> Any:
            return _allowed(module, name)

        def load_build(self) -> None:
            pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
            if isinstance(self.stack[-1], NumpyArrayWrapper):
                wrapper = self.stack.pop()
                if wrapper.dtype.hasobject:  # joblib would call plain pickle.load here
                    array = _PlainUnpickler(self.file_handle).load()
                else:
                    array = wrapper.read(self, self.ensure_native_byte_order)
                self.stack.append(array)

        dispatch[pickle.BUILD[0]] = load_build

    return RestrictedNumpyUnpickler


def read_database(path: Path) -> dict[str, Any]:
    """A joblib (optionally compressed) or plain pickle database, with the restricted unpickler."""
    import joblib.numpy_pickle as jnp

    path = Path(path)
    if not path.is_file():
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"database not found: {path}")
    opener = getattr(jnp, "_validate_fileobject_and_memmap", None) or jnp._read_fileobject
    unpickler_cls = _joblib_unpickler()
    try:
        with open(path, "rb") as handle, opener(handle, str(path), None) as opened:
            stream = opened[0] if isinstance(opened, tuple) else opened
            data = unpickler_cls(str(path), stream, ensure_native_byte_order=True).load()
    except pickle.UnpicklingError as exc:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{path}: {exc}; only arrays and plain containers are read "
                                                   "from a database") from exc
    except Exception as exc:  # noqa: BLE001 - truncated, wrong format, decompression errors
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{path} is not a readable sequence database "
                                                   f"({type(exc).__name__}: {str(exc)[:200]})") from exc
    if not isinstance(data, dict):
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{path} holds a {type(data).__name__}, not a dict of arrays")
    return data


def _check(data: dict[str, Any], path: Path) -> dict[str, np.ndarray]:
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{path} lacks the keys {missing} (found {sorted(data)[:12]}); "
                                                   "expected a TCMR/VIBE preprocessed database")
    arrays = {k: np.asarray(data[k]) for k in (*REQUIRED, *OPTIONAL) if k in data}
    n = len(arrays["features"])
    expected = {"features": (2,), "pose": (2, 72), "shape": (2, 10), "joints3D": (3,), "joints2D": (3,)}
    for key, value in arrays.items():
        if len(value) != n:
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"{path}: '{key}' has {len(value)} rows, 'features' {n}")
        rule = expected.get(key)
        if rule and (value.ndim != rule[0] or (len(rule) > 1 and value.shape[1] != rule[1])):
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"{path}: '{key}' has shape {value.shape}")
    if arrays["joints3D"].shape[2] != 3 or arrays["joints2D"].shape[2] != 3:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{path}: joints must be [N, J, 3]")
    arrays["vid_name"] = np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in arrays["vid_name"]])
    arrays["frame_id"] = arrays["frame_id"].astype(np.int64)
    for key in ("features", "pose", "shape", "joints3D", "joints2D", "bbox"):
        if key in arrays:
            arrays[key] = arrays[key].astype(np.float32)
    if "valid" in arrays:
        arrays["valid"] = arrays["valid"].astype(bool)
    return arrays


def convert_dataset(src: Path, dst: Path) -> Path:
    """Read a trusted database once (restricted unpickler) and write `dst/` = {key}.npy + meta.json.

    Written into a temporary folder next to `dst` and renamed when complete, so `dst` is never half
    written. Raises BAD_ARGUMENT naming the file for anything that is not the published layout.
    """
    src, dst = Path(src), Path(dst)
    arrays = _check(read_database(src), src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    meta = {"format": FORMAT, "version": 1, "source": src.name, "source_sha256": digest,
            "frames": len(arrays["features"]), "videos": len(set(arrays["vid_name"].tolist())),
            "keys": sorted(arrays), "joints": int(arrays["joints3D"].shape[1])}
    return write_array_folder(dst, arrays, meta, "converted database")


def write_array_folder(dst: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any], kind: str) -> Path:
    """Write `dst/` = one `{key}.npy` per array (never pickled) + `meta.json`, all or nothing.

    Written into a temporary folder next to `dst` and renamed when complete; a `dst` that exists
    without a `meta.json` is not ours to replace (OUT_NOT_WRITABLE, naming `kind`)."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() and not (dst / "meta.json").is_file():
        raise BackendError(ErrorCode.OUT_NOT_WRITABLE, f"{dst} exists and is not a {kind}; choose another folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}-", dir=dst.parent))
    try:
        for key, value in arrays.items():
            np.save(tmp / f"{key}.npy", value, allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        os.chmod(tmp, ordinary_file_mode() | 0o111)  # mkdtemp's 0700 is for secrets; this is a plain folder
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dst

def read_array_folder(folder: Path, fmt: str, what: str, source: str,
                      wrong_hint: str = "") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The counterpart of `write_array_folder`: `meta.json` and every array it lists, memory-mapped
    (`np.load(mmap_mode='r')`, never unpickling). Returns (meta, {key: array [N, ...]}).

    BAD_ARGUMENT names the folder when it has no meta.json (a converted `what` is made by `convert-dataset
    SOURCE FOLDER`) or when its format is not `fmt` (then `wrong_hint`, when given, follows the format found).
    """
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{folder} is not a converted {what} (no meta.json); make one "
                                                   f"with `python -m backend convert-dataset {source} {folder}`")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != fmt:
        found = f" (it is {meta.get('format')!r}); {wrong_hint}" if wrong_hint else ""
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{meta_path} is not a {fmt} folder{found}")
    arrays = {key: np.load(folder / f"{key}.npy", mmap_mode="r", allow_pickle=False) for key in meta["keys"]}
    return meta, arrays


def sequence_ranges(names: np.ndarray, frame_ids: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) row ranges of consecutive frames of one clip: a new range starts where the clip's name
    (`names` [N]) changes or its frame id (`frame_ids` [N]) does not step by one."""
    ids = np.asarray(frame_ids)
    breaks = np.flatnonzero((names[1:] != names[:-1]) | (np.diff(ids) != 1)) + 1
    edges = np.concatenate([[0], breaks, [len(ids)]])
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


class SequenceArrays:
    """A converted database, memory-mapped (`np.load(mmap_mode='r')`, never unpickling).

    `sequences`: (start, stop) row ranges of consecutive frames of one video (a new range starts
    where `vid_name` changes or `frame_id` does not step by one).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder = Path(folder)
        self.meta, self.arrays = read_array_folder(folder, FORMAT, "database", "DB.pt")
        self.sequences = sequence_ranges(self.arrays["vid_name"], self.arrays["frame_id"])

    def __len__(self) -> int:
        return len(self.arrays["features"])

    def rows(self, index: np.ndarray, key: str) -> np.ndarray:
        """Rows `index` (any shape) of one array, read from disk."""
        flat = np.asarray(index).reshape(-1)
        order = np.argsort(flat)
        out = np.empty((len(flat), *self.arrays[key].shape[1:]), self.arrays[key].dtype)
        out[order] = self.arrays[key][flat[order]]
        return out.reshape(*np.shape(index), *self.arrays[key].shape[1:])

    def window_starts(self, length: int, stride: int = 1) -> np.ndarray:
        """First rows of every full window of `length` frames inside one sequence."""
        starts = [np.arange(a, b - length + 1, stride) for a, b in self.sequences if b - a >= length]
        return np.concatenate(starts) if starts else np.zeros(0, np.int64)


def batch_order(n_windows: int, batch: int, steps: int, seed: int, epoch: int) -> Iterator[np.ndarray]:
    """`steps` batches of window indices for one epoch, drawn from shuffled passes; the same for the same seed+epoch."""
    rng = np.random.default_rng([seed, epoch])
    pool = np.zeros(0, np.int64)
    for _ in range(steps):
        while len(pool) < batch:
            pool = np.concatenate([pool, rng.permutation(n_windows)])
        yield pool[:batch]
        pool = pool[batch:]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("convert-dataset", help="convert a trusted TCMR/VIBE database (STR) or 3DPW (TAR) once",
                            description="Read a TCMR/VIBE preprocessed database file (STR's precomputed features), or "
                                        "the 3DPW folder with its published sequenceFiles/ and imageFiles/ (TAR's "
                                        "image sequences), and write a folder of .npy arrays that `train` reads. "
                                        "Both are pickles: they are read with a restricted unpickler that builds "
                                        "arrays only and refuses anything else, naming the file.")
    parser.add_argument("src", metavar="SRC", help="e.g. 3dpw_train_db.pt from TCMR's preprocessed data, or the 3DPW "
                                                   "folder (holding sequenceFiles/ and imageFiles/)")
    parser.add_argument("dst", metavar="OUT_DIR", help="folder to write (arrays + meta.json)")
    parser.add_argument("--split", default="train", choices=["train", "validation", "test"],
                        help="3DPW only: which sequenceFiles/ split to convert")
    parser.set_defaults(func=_convert_command)


def _convert_command(args: argparse.Namespace) -> int:
    from ..core.events import EventStream

    src, dst = Path(args.src).expanduser(), Path(args.dst).expanduser()
    if src.is_dir():
        from .pw3d import convert_3dpw

        out = convert_3dpw(src, dst, args.split)
        meta = json.loads((out / "meta.json").read_text())
        EventStream().done(str(out), frames=meta["frames"], tracks=meta["tracks"], source="3dpw")
        return 0
    out = convert_dataset(src, dst)
    meta = json.loads((out / "meta.json").read_text())
    EventStream().done(str(out), frames=meta["frames"], videos=meta["videos"])
    return 0
