"""ResNet-50 trunk in plain torch (no torchvision), key-compatible with SPIN's HMR and PyMAF.

Both official backbones are torchvision's ResNet-50 v1.5 layout (stride on the 3x3 conv of each
bottleneck): conv1, bn1, layer1..layer4. SPIN's HMR keeps these names at the top level of its
state dict; STAF's PyMAF backbone keeps them under `feature_extractor.`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as nnf

LAYERS = (3, 4, 6, 3)
EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride) -> 1x1 expand, plus the shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * EXPANSION, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * EXPANSION)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


def _make_layer(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes * EXPANSION:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes * EXPANSION, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(planes * EXPANSION),
        )
    layers = [Bottleneck(inplanes, planes, stride, downsample)]
    layers += [Bottleneck(planes * EXPANSION, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class ResNet50(nn.Module):
    """The trunk: 224x224 crop -> layer4 map [N, 2048, 7, 7]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = _make_layer(64, 64, LAYERS[0], 1)
        self.layer2 = _make_layer(256, 128, LAYERS[1], 2)
        self.layer3 = _make_layer(512, 256, LAYERS[2], 2)
        self.layer4 = _make_layer(1024, 512, LAYERS[3], 2)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The 2048-d static feature: layer4 averaged over its 7x7 grid (SPIN's AvgPool2d(7))."""
        return nnf.avg_pool2d(self.feature_map(x), 7).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x)
