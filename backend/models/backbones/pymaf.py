"""STAF's backbone: PyMAF's ResNet-50, keys under `feature_extractor.`, returning the layer4 map.

`base_model.pt['model']` is a whole PyMAF checkpoint; only its `feature_extractor.*` keys belong
here. STAF needs the spatial map [N, 2048, 7, 7], not the pooled vector.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .resnet import ResNet50


class PyMAFBackbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.feature_extractor = ResNet50()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_extractor.feature_map(x)
