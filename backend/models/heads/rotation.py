"""Rotation conversions the seed models need (torch side).

The regressors predict each joint's rotation as 6 numbers read as a row-major 3x2 matrix, i.e.
the first two columns of R interleaved (Zhou et al. 2019, as in SPIN/TCMR/MPS-Net/STAF);
Gram-Schmidt turns them into a rotation. Axis-angle for the motion file is computed in float64
with `backend.skeleton`, which is exact near pi where the official kornia code is not.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as nnf

from ...geometry.skeleton import matrix_to_axis_angle


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """[..., 6k] -> [B*k, 3, 3] rotations, columns b1, b2, b1 x b2."""
    x = x.reshape(-1, 3, 2)
    a1, a2 = x[:, :, 0], x[:, :, 1]
    b1 = nnf.normalize(a1, dim=1)
    b2 = nnf.normalize(a2 - (b1 * a2).sum(dim=1, keepdim=True) * b1, dim=1)
    b3 = torch.cross(b1, b2, dim=1)
    return torch.stack((b1, b2, b3), dim=-1)


def rotmat_to_axis_angle(rotmats: np.ndarray) -> np.ndarray:
    """[..., 3, 3] -> [..., 3] axis-angle, float32."""
    return matrix_to_axis_angle(np.asarray(rotmats, np.float64)).astype(np.float32)
