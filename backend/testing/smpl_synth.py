"""A synthetic SMPL model: the real array shapes and kinematic tree, random but body-like content.

The real SMPL files are licensed, so tests and CI build this instead: a rough human point cloud
in SMPL's rest pose (y up, metres, left = +x), skinning weights on each vertex's bone, a joint
regressor whose rows sum to 1 and average vertices placed around each joint (so the regressed
rest joints are exactly the intended ones), small random shape and pose blend shapes.
"""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np

from ..body.smpl_model import NUM_FACES, NUM_JOINTS, NUM_VERTS, SMPL_FILE
from ..geometry.skeleton import PARENTS

#: Approximate rest joint positions of the neutral SMPL body (metres, y up, +x = the body's left).
REST_JOINTS = np.array([
    [0.00, -0.22, 0.02], [0.06, -0.31, 0.01], [-0.06, -0.31, 0.01], [0.00, -0.11, -0.01],
    [0.10, -0.69, 0.01], [-0.10, -0.69, 0.01], [0.00, 0.03, 0.01], [0.09, -1.09, -0.03],
    [-0.09, -1.09, -0.03], [0.00, 0.08, 0.03], [0.11, -1.15, 0.09], [-0.11, -1.15, 0.09],
    [0.00, 0.29, 0.00], [0.08, 0.20, 0.00], [-0.08, 0.20, 0.00], [0.00, 0.36, 0.05],
    [0.20, 0.23, -0.01], [-0.20, 0.23, -0.01], [0.45, 0.21, -0.03], [-0.45, 0.21, -0.03],
    [0.71, 0.21, -0.01], [-0.71, 0.21, -0.01], [0.79, 0.20, -0.02], [-0.79, 0.20, -0.02],
])
CLUSTER = 16  # vertices placed symmetrically around each joint for the joint regressor


def make_smpl_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """All arrays of an SMPL model file, in the layout smplx reads (posedirs 6890x3x207, dense J_regressor)."""
    rng = np.random.default_rng(seed)
    verts = np.zeros((NUM_VERTS, 3))
    bone = np.zeros(NUM_VERTS, dtype=np.int64)
    j_regressor = np.zeros((NUM_JOINTS, NUM_VERTS))
    for j in range(NUM_JOINTS):
        half = rng.normal(0.0, 0.03, size=(CLUSTER // 2, 3))
        ids = np.arange(j * CLUSTER, (j + 1) * CLUSTER)
        verts[ids] = REST_JOINTS[j] + np.concatenate([half, -half])
        bone[ids] = j
        j_regressor[j, ids] = 1.0 / CLUSTER
    rest = np.arange(NUM_JOINTS * CLUSTER, NUM_VERTS)
    child = rng.integers(1, NUM_JOINTS, size=len(rest))
    parent = np.asarray(PARENTS)[child]
    along = rng.uniform(0.0, 1.0, size=(len(rest), 1))
    verts[rest] = (REST_JOINTS[parent] * (1 - along) + REST_JOINTS[child] * along
                   + rng.normal(0.0, 0.04, size=(len(rest), 3)))
    bone[rest] = parent
    weights = np.zeros((NUM_VERTS, NUM_JOINTS))
    weights[np.arange(NUM_VERTS), bone] = 1.0
    weights[rest, bone[rest]] = 0.7
    weights[rest, child] += 0.3
    shapedirs = np.einsum("vi,kij->vjk", verts, rng.normal(0.0, 0.02, size=(10, 3, 3)))
    posedirs = rng.normal(0.0, 1e-3, size=(NUM_VERTS, 3, 207))
    faces = np.stack([rng.permutation(NUM_VERTS)[:3] for _ in range(NUM_FACES)])
    kintree = np.stack([np.asarray(PARENTS, np.int64), np.arange(NUM_JOINTS)])
    kintree[0, 0] = 4294967295  # the official files store the root's parent as uint32 -1
    return {"v_template": verts, "shapedirs": shapedirs, "posedirs": posedirs, "J_regressor": j_regressor,
            "weights": weights, "f": faces.astype(np.int64), "kintree_table": kintree}


def write_smpl_npz(smpl_dir: Path, seed: int = 0) -> Path:
    """SMPL_NEUTRAL.npz in `smpl_dir`, as `backend convert-smpl` would write it."""
    smpl_dir = Path(smpl_dir)
    smpl_dir.mkdir(parents=True, exist_ok=True)
    path = smpl_dir / SMPL_FILE
    np.savez(path, **make_smpl_arrays(seed))
    return path


def write_smpl_pkl(path: Path, seed: int = 0) -> Path:
    """An official-style SMPL pkl: chumpy `Ch` objects and a scipy CSC J_regressor, protocol 2.

    A stand-in `chumpy.ch` module is registered only while pickling, so the file refers to
    `chumpy.ch.Ch` exactly like the real download, without chumpy being installed.
    """
    import scipy.sparse

    arrays = make_smpl_arrays(seed)
    ch_module = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x: np.ndarray) -> None:
            self.x = x
            self._dirty_vars = set()

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    ch_module.Ch = Ch
    saved = {name: sys.modules.get(name) for name in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"] = types.ModuleType("chumpy")
    sys.modules["chumpy.ch"] = ch_module
    try:
        data = {
            "v_template": Ch(arrays["v_template"]), "shapedirs": Ch(arrays["shapedirs"]),
            "posedirs": arrays["posedirs"], "J_regressor": scipy.sparse.csc_matrix(arrays["J_regressor"]),
            "weights": Ch(arrays["weights"]), "f": arrays["f"].astype(np.uint32),
            "kintree_table": arrays["kintree_table"], "bs_style": "lbs", "bs_type": "lrotmin",
            "J": arrays["J_regressor"] @ arrays["v_template"],
        }
        Path(path).write_bytes(pickle.dumps(data, protocol=2))
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return Path(path)
