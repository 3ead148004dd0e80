"""The SMPL body model from the user's files: loading it into `smplx` and converting the official pkl.

SMPL files are licensed and never shipped. The backend reads `SMPL_NEUTRAL.npz` (plain arrays,
loaded with `allow_pickle=False`). The official download is a Python-2 pickle whose arrays are
partly `chumpy` objects; `convert_smpl` turns it into the npz once, on the user's say-so, with a
restricted unpickler that only rebuilds numpy arrays, scipy sparse matrices and chumpy leaves as
plain data, so no code from the file ever runs.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import BackendError, ErrorCode
from ..core.outputs import atomic_output

SMPL_FILE = "SMPL_NEUTRAL.npz"
SMPL_DOWNLOAD = ("the neutral SMPL model: 'SMPL for Python' v1.1.0 from https://smpl.is.tue.mpg.de "
                 "(basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl), or SMPLify's "
                 "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl from https://smplify.is.tue.mpg.de (free registration)")
NUM_VERTS = 6890
NUM_JOINTS = 24
NUM_FACES = 13776

#: array name -> expected shape (None = any length on that axis)
SMPL_ARRAYS: dict[str, tuple[int | None, ...]] = {
    "v_template": (NUM_VERTS, 3),
    "shapedirs": (NUM_VERTS, 3, None),
    "posedirs": (NUM_VERTS, 3, 207),
    "J_regressor": (NUM_JOINTS, NUM_VERTS),
    "weights": (NUM_VERTS, NUM_JOINTS),
    "f": (NUM_FACES, 3),
    "kintree_table": (2, NUM_JOINTS),
}


def smpl_path(smpl_dir: Path) -> Path:
    return Path(smpl_dir) / SMPL_FILE


def require_smpl(smpl_dir: Path) -> Path:
    """The npz path, or SMPL_MISSING saying exactly what to download and which command to run."""
    smpl_dir = Path(smpl_dir)
    path = smpl_path(smpl_dir)
    if path.is_file():
        return path
    pkls = sorted(p.name for p in smpl_dir.glob("*.pkl")) if smpl_dir.is_dir() else []
    neutral = [p for p in pkls if "neutral" in p.lower()]
    if neutral:
        hint = (f"{smpl_dir} holds {neutral[0]}: convert it once with "
                f"`python -m backend convert-smpl {smpl_dir / neutral[0]} --out {path}` (only for a file you trust)")
    else:
        hint = f"download {SMPL_DOWNLOAD}, then run `python -m backend convert-smpl PKL --out {path}` once"
    raise BackendError(ErrorCode.SMPL_MISSING, f"{SMPL_FILE} not found in {smpl_dir}; {hint}")


def load_smpl_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read and check the npz without unpickling; SMPL_MISSING naming the file if it is unusable."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise BackendError(ErrorCode.SMPL_MISSING,
                           f"{path} is not a readable SMPL npz ({exc}); convert the official pkl again with "
                           "`python -m backend convert-smpl PKL OUT.npz`") from exc
    check_smpl_arrays(arrays, str(path))
    return arrays


def check_smpl_arrays(arrays: dict[str, np.ndarray], source: str) -> None:
    for key, shape in SMPL_ARRAYS.items():
        if key not in arrays:
            raise BackendError(ErrorCode.SMPL_MISSING, f"{source}: SMPL array '{key}' is missing; "
                               "convert the official pkl again with `python -m backend convert-smpl PKL OUT.npz`")
        got = arrays[key].shape
        if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
            raise BackendError(ErrorCode.SMPL_MISSING,
                               f"{source}: SMPL array '{key}' has shape {got}, expected {shape}; "
                               "not an SMPL model file")
    if arrays["shapedirs"].shape[2] < 10:
        raise BackendError(ErrorCode.SMPL_MISSING, f"{source}: SMPL 'shapedirs' has fewer than 10 shape components")


def load_smpl_layer(smpl_dir: Path, device: str = "cpu") -> Any:
    """An `smplx.SMPL` layer (neutral, 10 betas, no stored pose/shape parameters) from SMPL_NEUTRAL.npz."""
    import smplx
    from smplx.utils import Struct

    path = require_smpl(smpl_dir)
    arrays = load_smpl_arrays(path)
    # smplx prints a note about the 10 shape components on stdout, which belongs to the JSON events.
    with contextlib.redirect_stdout(sys.stderr):
        layer = smplx.SMPL(str(path), data_struct=Struct(**arrays), create_betas=False, create_global_orient=False,
                           create_body_pose=False, create_transl=False, num_betas=10, batch_size=1)
    return layer.to(device).eval()


def smpl_forward(layer: Any, rotmats: Any, betas: Any) -> tuple[Any, Any]:
    """(vertices [B, 6890, 3], joints [B, 24, 3]) for rotation matrices [B, 24, 3, 3] and betas [B, 10]."""
    out = layer(betas=betas, global_orient=rotmats[:, :1], body_pose=rotmats[:, 1:], pose2rot=False)
    return out.vertices, out.joints[:, :NUM_JOINTS]


def rest_joints(layer: Any, betas: np.ndarray) -> np.ndarray:
    """The 24 joints at zero pose for one betas vector: the skeleton the add-on builds (y up, metres)."""
    import torch

    device = layer.v_template.device
    with torch.inference_mode():
        rot = torch.eye(3, device=device).expand(1, NUM_JOINTS, 3, 3)
        b = torch.as_tensor(np.asarray(betas, np.float32)[None], device=device)
        _, joints = smpl_forward(layer, rot, b)
    return joints[0].cpu().numpy().astype(np.float32)


# ---------------------------------------------------------------- converting the official pkl


class _Opaque:
    """Stand-in for a pickled object: keeps its state as plain data, runs nothing."""

    def __init__(self, *args: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ChumpyArray(_Opaque):
    """A `chumpy.ch.Ch` leaf: its value is the numpy array stored under 'x'."""

    def value(self) -> np.ndarray:
        state = self.state if isinstance(self.state, dict) else {}
        for key in ("x", "a"):
            if isinstance(state.get(key), np.ndarray):
                return state[key]
        raise ValueError(f"a chumpy object without a stored array (keys: {sorted(state)})")


class _SparseMatrix(_Opaque):
    """A scipy CSC/CSR matrix: rebuilt dense from its data/indices/indptr."""

    column_major = True

    def value(self) -> np.ndarray:
        state = self.state if isinstance(self.state, dict) else {}
        shape = state.get("_shape", state.get("shape"))
        data, indices, indptr = (np.asarray(state[k]) for k in ("data", "indices", "indptr"))
        rows, cols = (shape[1], shape[0]) if self.column_major else (shape[0], shape[1])
        dense = np.zeros((rows, cols), dtype=np.float64)
        for major in range(rows):
            lo, hi = int(indptr[major]), int(indptr[major + 1])
            dense[major, indices[lo:hi]] = data[lo:hi]
        return dense.T if self.column_major else dense


class _CsrMatrix(_SparseMatrix):
    column_major = False


def _latin1_bytes(text: str, encoding: str = "utf-8") -> bytes:
    """`_codecs.encode` as Python 3 protocol-2 pickles use it for bytes, limited to latin-1."""
    if encoding.replace("-", "").lower() != "latin1":
        raise pickle.UnpicklingError(f"refusing codec {encoding!r} in an SMPL file")
    return text.encode("latin1")


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    """copyreg._reconstructor limited to our stand-ins built on `object`."""
    if base is not object or not (isinstance(cls, type) and issubclass(cls, _Opaque)):
        raise pickle.UnpicklingError(f"refusing to rebuild {cls!r} on {base!r}")
    return cls.__new__(cls)


class SmplUnpickler(pickle.Unpickler):
    """Unpickler for the official SMPL pkl that can only build arrays and plain data."""

    def find_class(self, module: str, name: str) -> Any:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
            return getattr(np.core.multiarray, name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _reconstructor
        if module == "_codecs" and name == "encode":
            return _latin1_bytes
        if module in ("__builtin__", "builtins") and name in ("object", "set", "frozenset"):
            return {"object": object, "set": set, "frozenset": frozenset}[name]
        if module.startswith("chumpy"):
            return _ChumpyArray
        if module.startswith("scipy.sparse") and name == "csc_matrix":
            return _SparseMatrix
        if module.startswith("scipy.sparse") and name == "csr_matrix":
            return _CsrMatrix
        raise pickle.UnpicklingError(f"the SMPL file refers to {module}.{name}, which is not array data; refusing it")


def _plain(value: Any) -> Any:
    if isinstance(value, (_ChumpyArray, _SparseMatrix)):
        return value.value()
    return value


def convert_smpl(pkl: Path, npz: Path) -> Path:
    """Convert the official SMPL .pkl (chumpy inside) into the npz the backend reads; returns `npz`.

    Run this once on a file you downloaded yourself. Nothing in the pickle is executed: only
    numpy arrays, sparse matrices and chumpy leaves are rebuilt, as plain arrays.
    """
    pkl, npz = Path(pkl), Path(npz)
    try:
        raw = pkl.read_bytes()
    except OSError as exc:
        raise BackendError(ErrorCode.SMPL_MISSING, f"cannot read {pkl}: {exc.strerror or exc}") from exc
    try:
        data = SmplUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise BackendError(ErrorCode.SMPL_MISSING,
                           f"{pkl} is not an SMPL model pickle this converter understands ({exc})") from exc
    if not isinstance(data, dict):
        raise BackendError(ErrorCode.SMPL_MISSING, f"{pkl} does not hold an SMPL model (top level is not a dict)")
    try:
        arrays = {k: np.asarray(_plain(data[k])) for k in SMPL_ARRAYS if k in data}
    except (ValueError, KeyError, TypeError) as exc:
        raise BackendError(ErrorCode.SMPL_MISSING, f"{pkl}: cannot read an SMPL array ({exc})") from exc
    check_smpl_arrays(arrays, str(pkl))
    out = {
        "v_template": arrays["v_template"].astype(np.float64),
        "shapedirs": arrays["shapedirs"].astype(np.float64),
        "posedirs": arrays["posedirs"].astype(np.float64),
        "J_regressor": arrays["J_regressor"].astype(np.float64),
        "weights": arrays["weights"].astype(np.float64),
        "f": arrays["f"].astype(np.int64),
        "kintree_table": arrays["kintree_table"].astype(np.int64),
    }
    npz.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(npz) as handle:
        np.savez(handle, **out)
    return npz
