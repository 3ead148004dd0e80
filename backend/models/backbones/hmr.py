"""SPIN's HMR: the ResNet-50 backbone of TCMR and MPS-Net, with its own iterative regressor.

The state dict equals `spin_model_checkpoint.pth.tar['model']` (conv1 ... layer4, fc1 ... deccam,
init_*), so the official file loads with strict=True. The temporal models use only the pooled
2048-d feature; `regress` is the single-image SPIN estimate, kept for completeness.
"""

from __future__ import annotations

import torch

from ..heads.regressor import add_head, iterate
from .resnet import ResNet50


class SpinHMR(ResNet50):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("init_pose", torch.zeros(1, 144))
        self.register_buffer("init_shape", torch.zeros(1, 10))
        self.register_buffer("init_cam", torch.zeros(1, 3))
        add_head(self, 2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images [N, 3, 224, 224] -> static features [N, 2048] (what the demos call feature_extractor)."""
        return self.pooled(x)

    def regress(self, x: torch.Tensor, n_iter: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return iterate(self, self.pooled(x), None, None, None, n_iter)
