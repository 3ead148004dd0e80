"""SPIN's iterative SMPL regressor (HMR head), shared by SPIN, TCMR, MPS-Net and STAF.

From a feature and the current estimate (6D pose x24, 10 betas, weak-perspective camera) it
predicts residual updates, `n_iter` times, starting at the mean parameters kept in the
`init_pose/init_shape/init_cam` buffers (SPIN's smpl_mean_params, stored in every checkpoint).
There is no activation between fc1 and fc2 (dropout only, inactive at inference), as in SPIN.
"""

from __future__ import annotations

import torch
import torch.nn as nn

NPOSE = 24 * 6
NSHAPE = 10
NCAM = 3


class IterativeRegressor(nn.Module):
    def __init__(self, feat_dim: int = 2048) -> None:
        super().__init__()
        self.register_buffer("init_pose", torch.zeros(1, NPOSE))
        self.register_buffer("init_shape", torch.zeros(1, NSHAPE))
        self.register_buffer("init_cam", torch.zeros(1, NCAM))
        add_head(self, feat_dim)

    def forward(self, x: torch.Tensor, pose: torch.Tensor | None = None, shape: torch.Tensor | None = None,
                cam: torch.Tensor | None = None, n_iter: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return iterate(self, x, pose, shape, cam, n_iter)


def add_head(module: nn.Module, feat_dim: int) -> None:
    """Attach fc1/fc2/decpose/decshape/deccam under the official names."""
    module.fc1 = nn.Linear(feat_dim + NPOSE + NSHAPE + NCAM, 1024)
    module.drop1 = nn.Dropout()
    module.fc2 = nn.Linear(1024, 1024)
    module.drop2 = nn.Dropout()
    module.decpose = nn.Linear(1024, NPOSE)
    module.decshape = nn.Linear(1024, NSHAPE)
    module.deccam = nn.Linear(1024, NCAM)


def iterate(head: nn.Module, x: torch.Tensor, pose: torch.Tensor | None, shape: torch.Tensor | None,
            cam: torch.Tensor | None, n_iter: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Residual refinement: returns (pose6d [B,144], betas [B,10], cam [B,3])."""
    batch = x.shape[0]
    pose = head.init_pose.expand(batch, -1) if pose is None else pose
    shape = head.init_shape.expand(batch, -1) if shape is None else shape
    cam = head.init_cam.expand(batch, -1) if cam is None else cam
    for _ in range(n_iter):
        xc = head.drop2(head.fc2(head.drop1(head.fc1(torch.cat([x, pose, shape, cam], 1)))))
        pose = head.decpose(xc) + pose
        shape = head.decshape(xc) + shape
        cam = head.deccam(xc) + cam
    return pose, shape, cam
