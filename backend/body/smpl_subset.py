"""SMPL posed at a few chosen vertices only (ReFit's 67 markers), exactly as the full layer poses them.

ReFit re-poses SMPL in every iteration only to project its 67 marker vertices. Linear blend
skinning is per vertex, so the chosen rows of the shape and pose blend shapes and of the skinning
weights give the same vertices as `smplx`'s full forward (same `lbs` steps: v_shaped, joints
from the regressor, pose offsets, `batch_rigid_transform`, skinning), at a fraction of the cost.
The joint regressor is folded into the shape basis once (J = J_r v_template + (J_r S) beta), which
only changes float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn


class SmplVertexSubset(nn.Module):
    """`forward(rotmat [B,24,3,3], betas [B,10]) -> [B,K,3]` vertices `ids` of an `smplx.SMPL` layer
    (SMPL body frame: y up, metres, no translation). Buffers are copies; the layer is not kept."""

    def __init__(self, layer: Any, ids: Sequence[int]) -> None:
        super().__init__()
        index = torch.as_tensor(list(ids), dtype=torch.long, device=layer.v_template.device)
        betas = 10
        shapedirs = layer.shapedirs[..., :betas]  # [6890, 3, 10]
        regressor = layer.J_regressor  # [24, 6890]
        self.register_buffer("v_template", layer.v_template[index].clone())
        self.register_buffer("shapedirs", shapedirs[index].clone())
        posedirs = layer.posedirs.view(layer.posedirs.shape[0], -1, 3)  # [207, 6890, 3]
        self.register_buffer("posedirs", posedirs[:, index].reshape(posedirs.shape[0], -1).clone())
        self.register_buffer("lbs_weights", layer.lbs_weights[index].clone())
        self.register_buffer("j_template", regressor @ layer.v_template)
        self.register_buffer("j_shapedirs", torch.einsum("jv,vcl->jcl", regressor, shapedirs))
        self.register_buffer("parents", layer.parents.clone())

    def forward(self, rotmat: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        from smplx.lbs import batch_rigid_transform

        b = len(rotmat)
        rotmat = rotmat.to(self.v_template.dtype)
        betas = betas.to(self.v_template.dtype)
        v_shaped = self.v_template + torch.einsum("bl,kcl->bkc", betas, self.shapedirs)
        joints = self.j_template + torch.einsum("bl,jcl->bjc", betas, self.j_shapedirs)
        eye = torch.eye(3, dtype=rotmat.dtype, device=rotmat.device)
        pose_feature = (rotmat[:, 1:] - eye).reshape(b, -1)
        v_posed = v_shaped + (pose_feature @ self.posedirs).view(b, -1, 3)
        _, transforms = batch_rigid_transform(rotmat, joints, self.parents, dtype=rotmat.dtype)
        t = (self.lbs_weights @ transforms.view(b, -1, 16)).view(b, -1, 4, 4)
        return (t[..., :3, :3] @ v_posed[..., None])[..., 0] + t[..., :3, 3]
