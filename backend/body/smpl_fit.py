"""Fit SMPL shape (betas) to a measured rest skeleton, without torch.

SMPL's rest joints are linear in betas: J(b) = R (T + S b), with R the joint regressor, T the
template and S the shape blend shapes. Aligning root-relative joints is a small ridge regression.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def fit_betas_to_joints(smpl_npz: Path, target_joints: np.ndarray,
                        ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    with np.load(smpl_npz, allow_pickle=False) as model:
        template = np.asarray(model["v_template"], np.float64)
        shapedirs = np.asarray(model["shapedirs"], np.float64)[:, :, :10]
        regressor = np.asarray(model["J_regressor"], np.float64)
    base = regressor @ template  # [24, 3]
    basis = np.einsum("jv,vcb->jcb", regressor, shapedirs)  # [24, 3, 10]
    # Compare root-relative positions: the pelvis offset carries no shape information we need.
    base_rel = base - base[0]
    basis_rel = basis - basis[0]
    target_rel = np.asarray(target_joints, np.float64) - target_joints[0]
    a = basis_rel.reshape(-1, basis.shape[-1])
    b = (target_rel - base_rel).reshape(-1)
    betas = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ b)
    betas = np.clip(betas, -5.0, 5.0)
    joints = base + basis @ betas
    return betas.astype(np.float32), joints
