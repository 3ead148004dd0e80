"""HRNet-W48 with ReFit's extra up/down stages, in plain torch, named as ReFit's official state dict.

Source of the layout (facts only, own code): ReFit (Wang & Daniilidis, ICCV 2023),
`lib/models/hrnet_refit.py:PoseHighResolutionNet` at commit 3167cbf, built with width 48; key
names and shapes are checked against `tests/data/refit_layout.json` (1908 backbone keys).

Public API (stable; TAR builds on it):
- `HRNetW48ReFit()`: `forward(img [B,3,256,256]) -> (feature [B,720,64,64], z [B,384])`.
  `feature` is the stride-4 local map (branch 0 + branches 1-3 upsampled: 48+96+192+384
  channels); `z` the global vector (branch 0 downsampled into each lower branch, final 1x1
  conv + BN + ReLU, average pool over the 8x8 map).
- `FEATURE_CHANNELS` (720), `GLOBAL_DIM` (384), `FEATURE_STRIDE` (4), `WIDTH` (48).

Structure of the HRNet core (the COCO pose HRNet-W48): stem (two 3x3 stride-2 convs), layer1
(4 Bottlenecks to 256 channels), stages 2/3/4 with 1/4/3 modules of 4 BasicBlocks per branch
and "SUM" fusion (j > i: 1x1 conv + BN + nearest upsampling; j < i: chains of 3x3 stride-2
convs). ReFit builds stage 4 with multi-scale output, so all four branches leave stage 4.
Aliases: ReFit registers its three downsample stages twice (as `downsample_stage_{1,2,3}` and
inside the ModuleList `downsamples`); the same module objects are kept under both names here,
so both key sets exist and share storage, exactly as in the official state dict.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as nnf

from .resnet import Bottleneck  # the same 1x1-3x3-1x1 block (stride 1, BN momentum 0.1, ReFit's BN_MOMENTUM)

WIDTH = 48
BRANCH_CHANNELS = (WIDTH, 2 * WIDTH, 4 * WIDTH, 8 * WIDTH)  # 48, 96, 192, 384
FEATURE_CHANNELS = sum(BRANCH_CHANNELS)  # 720
GLOBAL_DIM = BRANCH_CHANNELS[-1]  # 384
FEATURE_STRIDE = 4
#: (modules, branches) of stages 2, 3, 4; each branch has 4 BasicBlocks (HRNet-W48 pose config).
STAGES = ((1, 2), (4, 3), (3, 4))
BN_MOMENTUM = 0.1


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    """conv (no bias) + BN (+ ReLU): indices 0, 1 (, 2) as in the official Sequentials."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN, identity shortcut (channels never change inside HRNet branches)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


class HighResolutionModule(nn.Module):
    """One HRNet module: 4 BasicBlocks per branch, then every output branch sums all inputs."""

    def __init__(self, branches: int) -> None:
        super().__init__()
        chans = BRANCH_CHANNELS[:branches]
        self.branches = nn.ModuleList(nn.Sequential(*(BasicBlock(c) for _ in range(4))) for c in chans)
        fuse = []
        for i in range(branches):
            row: list[nn.Module | None] = []
            for j in range(branches):
                if j > i:  # lower resolution -> up: 1x1 conv + BN + nearest x2^(j-i)
                    row.append(nn.Sequential(nn.Conv2d(chans[j], chans[i], 1, 1, 0, bias=False),
                                             nn.BatchNorm2d(chans[i]),
                                             nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                elif j == i:
                    row.append(None)
                else:  # higher resolution -> down: (i-j) stride-2 3x3 convs, ReLU between, none at the end
                    steps = [_conv_bn(chans[j], chans[j], 3, 2, relu=True) for _ in range(i - j - 1)]
                    steps.append(_conv_bn(chans[j], chans[i], 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse)
        self.relu = nn.ReLU(True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, len(xs)):
                y = y + (xs[j] if i == j else row[j](xs[j]))
            out.append(self.relu(y))
        return out


def _transition(pre: tuple[int, ...], cur: tuple[int, ...]) -> nn.ModuleList:
    """Existing branches pass through (None: same channels in W48); the new branch is a 3x3 stride-2
    conv + BN + ReLU from the lowest-resolution previous branch (wrapped in a Sequential, index 0)."""
    layers: list[nn.Module | None] = [None] * len(pre)
    layers.append(nn.Sequential(_conv_bn(pre[-1], cur[-1], 3, 2, relu=True)))
    return nn.ModuleList(layers)


def _upsample(levels: int, channels: int) -> nn.Sequential:
    """ReFit's `_make_upsample_layer`: `levels` x (bilinear x2 align_corners, 3x3 conv, BN, ReLU)."""
    layers: list[nn.Module] = []
    for _ in range(levels):
        layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                   nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
                   nn.BatchNorm2d(channels, momentum=BN_MOMENTUM), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class HRNetW48ReFit(nn.Module):
    """ReFit's backbone: image crop [B,3,256,256] (ImageNet-normalised RGB) -> (feature, z).

    feature [B, 720, 64, 64] (stride 4, the map `corr_layer` reads); z [B, 384] (global vector
    feeding `init_layer`). State-dict names equal the official `backbone.*` keys without the prefix.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        shortcut = nn.Sequential(nn.Conv2d(64, 256, 1, bias=False), nn.BatchNorm2d(256, momentum=BN_MOMENTUM))
        self.layer1 = nn.Sequential(Bottleneck(64, 64, downsample=shortcut), *(Bottleneck(256, 64) for _ in range(3)))
        (m2, b2), (m3, b3), (m4, b4) = STAGES
        self.transition1 = nn.ModuleList([_conv_bn(256, BRANCH_CHANNELS[0], 3, 1, relu=True),
                                          nn.Sequential(_conv_bn(256, BRANCH_CHANNELS[1], 3, 2, relu=True))])
        self.stage2 = nn.Sequential(*(HighResolutionModule(b2) for _ in range(m2)))
        self.transition2 = _transition(BRANCH_CHANNELS[:b2], BRANCH_CHANNELS[:b3])
        self.stage3 = nn.Sequential(*(HighResolutionModule(b3) for _ in range(m3)))
        self.transition3 = _transition(BRANCH_CHANNELS[:b3], BRANCH_CHANNELS[:b4])
        self.stage4 = nn.Sequential(*(HighResolutionModule(b4) for _ in range(m4)))
        # ReFit's additions: the local map and the global vector
        self.upsample_stage_2 = _upsample(1, BRANCH_CHANNELS[1])
        self.upsample_stage_3 = _upsample(2, BRANCH_CHANNELS[2])
        self.upsample_stage_4 = _upsample(3, BRANCH_CHANNELS[3])
        self.downsample_stage_1 = _conv_bn(BRANCH_CHANNELS[0], BRANCH_CHANNELS[1], 3, 2, relu=True)
        self.downsample_stage_2 = _conv_bn(BRANCH_CHANNELS[1], BRANCH_CHANNELS[2], 3, 2, relu=True)
        self.downsample_stage_3 = _conv_bn(BRANCH_CHANNELS[2], BRANCH_CHANNELS[3], 3, 2, relu=True)
        # the same three modules again under a second name: the official state dict has both (aliases)
        self.downsamples = nn.ModuleList([self.downsample_stage_1, self.downsample_stage_2, self.downsample_stage_3])
        self.final_layer = _conv_bn(GLOBAL_DIM, GLOBAL_DIM, 1, 1, relu=True)

    def branches(self, img: torch.Tensor) -> list[torch.Tensor]:
        """The four stage-4 outputs: [B,48,64,64], [B,96,32,32], [B,192,16,16], [B,384,8,8] for 256 crops."""
        x = self.relu(self.bn1(self.conv1(img)))
        x = self.layer1(self.relu(self.bn2(self.conv2(x))))
        xs = [t(x) for t in self.transition1]
        xs = self.stage2(xs)
        xs = self.stage3(xs + [self.transition2[-1](xs[-1])])
        return self.stage4(xs + [self.transition3[-1](xs[-1])])

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xs = self.branches(img)
        feature = torch.cat([xs[0], self.upsample_stage_2(xs[1]), self.upsample_stage_3(xs[2]),
                             self.upsample_stage_4(xs[3])], dim=1)
        y = xs[0]
        for i, down in enumerate(self.downsamples):
            y = down(y) + xs[i + 1]
        y = self.final_layer(y)
        z = nnf.avg_pool2d(y, kernel_size=y.shape[-1]).flatten(1)
        return feature, z
