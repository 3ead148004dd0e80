"""MPS-Net (Wei et al., CVPR 2022): MoCA (with NSSM) + HAFI + SPIN regressor, window T = 16.

MoCA on the window's static features X [T, C]:
- NSSM = softmax(X X^T) (row-wise), the normalised self-similarity of the raw features;
- attention map = softmax(theta(X) phi(X)^T) of the non-local block;
- the two maps are stacked and a 1x1 conv (`conv_mask_forR`, 2 -> 1) recalibrates them; its
  row softmax (the MoCA map) weights g(X); `conv_mask` lifts the result back to C channels and
  the input is added (residual).
HAFI fuses frames (4,5,6), (7,8,9), (10,11,12) with one shared TemporalAttention, then fuses the
three results again: the frame indices are fixed in the official code, so only T = 16 works.

Where the official code is wrong, and what this module does instead:
- Batch pairing. The official code stacks the two maps with `cat((nssm, attn), 0).view(B, 2, T, T)`,
  which gives window i the maps of windows 2i and 2i+1 (or the attention maps of other windows
  for i >= B/2): a frame's output depends on its batch neighbours. Here each window is paired
  with its own maps, which equals the official model run one window at a time (B = 1).
  `official_pairing=True` reproduces the official pairing; with the demo's batches of 64 windows
  it reproduces the official demo's output. (The published numbers come from `evaluate.py`, which
  batches 8 windows per forward, so they are not reproduced by the demo's batching.)
- The official eval forward also runs the regressor and SMPL on every frame of `out_` reshaped
  without a transpose (the unused `smpl_output_Dm`), 8-10x the cost of the encoder. Skipped.

Speed without changing the maths (`forward_cached`): theta, phi and g are 1x1 convolutions, i.e.
per-frame projections, so they are computed once per frame and gathered by every window; and
`conv_mask` only runs on the 9 frames HAFI reads.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..heads.regressor import IterativeRegressor
from .attention import TemporalAttention, hierarchical_fusion

FEAT = 2048
HAFI_GROUPS = ((4, 5, 6), (7, 8, 9), (10, 11, 12))


class MoCA(nn.Module):
    """Motion continuity attention; the conv names are the official ones (non-local block)."""

    def __init__(self, channel: int, official_pairing: bool = False) -> None:
        super().__init__()
        inter = channel // 2
        self.conv_phi = nn.Conv1d(channel, inter, kernel_size=1, bias=False)
        self.conv_theta = nn.Conv1d(channel, inter, kernel_size=1, bias=False)
        self.conv_g = nn.Conv1d(channel, inter, kernel_size=1, bias=False)
        self.conv_mask = nn.Conv1d(inter, channel, kernel_size=1, bias=False)
        self.conv_mask_forR = nn.Conv2d(2, 1, kernel_size=1, bias=False)
        self.official_pairing = official_pairing

    @staticmethod
    def nssm(x: torch.Tensor) -> torch.Tensor:
        """Normalised self-similarity matrix of [B, T, C] -> [B, T, T]."""
        return torch.softmax(x @ x.transpose(1, 2), dim=-1)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame theta, phi, g of [N, C] -> [N, 3, C/2] (the 1x1 convs as one matmul)."""
        w = torch.cat([self.conv_theta.weight, self.conv_phi.weight, self.conv_g.weight], dim=0)[..., 0]
        return (x @ w.t()).view(x.shape[0], 3, -1)

    def moca_map(self, x: torch.Tensor, theta: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        """[B, T, T] MoCA map from the NSSM and the non-local attention map."""
        nssm = self.nssm(x)
        attn = torch.softmax(theta @ phi.transpose(1, 2), dim=-1)
        batch, t = x.shape[:2]
        if self.official_pairing:
            stacked = torch.cat((nssm, attn), dim=0).view(batch, 2, t, t)
        else:
            stacked = torch.stack((nssm, attn), dim=1)
        return torch.softmax(self.conv_mask_forR(stacked).view(batch, t, t), dim=-1)

    def respond(self, x: torch.Tensor, proj: torch.Tensor, frames: list[int] | None = None) -> torch.Tensor:
        """Z = conv_mask(MoCA map . g) + X for windows [B, T, C] with projections [B, T, 3, C/2].

        `frames` limits the output to those window positions (the MoCA map still sees all T).
        """
        theta, phi, g = proj[:, :, 0], proj[:, :, 1], proj[:, :, 2]
        y = self.moca_map(x, theta, phi)
        if frames is not None:
            y, x = y[:, frames], x[:, frames]
        w = self.conv_mask.weight[..., 0]
        return (y @ g) @ w.t() + x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reference path with the convolutions as the official code runs them: [B, T, C] -> [B, T, C]."""
        xc = x.transpose(1, 2)
        theta = self.conv_theta(xc).transpose(1, 2)
        phi = self.conv_phi(xc).transpose(1, 2)
        g = self.conv_g(xc).transpose(1, 2)
        y = self.moca_map(x, theta, phi)
        return self.conv_mask((y @ g).transpose(1, 2)).transpose(1, 2) + x


class MoCAHAFI(MoCA):
    """The official `nonlocalblock`: MoCA's convolutions plus HAFI's shared attention."""

    def __init__(self, channel: int = FEAT, official_pairing: bool = False) -> None:
        super().__init__(channel, official_pairing)
        self.attention = TemporalAttention(channel, 3)

    def hafi(self, z: torch.Tensor) -> torch.Tensor:
        """Hierarchical attentive feature integration of frames 4..12 of [B, T, C] -> [B, C]."""
        return hierarchical_fusion(self.attention, z, HAFI_GROUPS)


class MPSNet(nn.Module):
    """State dict = the official `gen_state_dict` minus `regressor.smpl.*`."""

    def __init__(self, official_pairing: bool = False) -> None:
        super().__init__()
        self.nonlocalblock = MoCAHAFI(FEAT, official_pairing)
        self.regressor = IterativeRegressor(FEAT)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Windows [B, 16, 2048] -> current-frame (pose6d, betas, cam), reference path."""
        return self.regressor(self.nonlocalblock.hafi(self.nonlocalblock(x)), n_iter=3)

    def frame_cache(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return feats, self.nonlocalblock.project(feats)

    def forward_cached(self, cache: tuple[torch.Tensor, torch.Tensor],
                       rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feats, proj = cache
        block = self.nonlocalblock
        used = sorted({f for group in HAFI_GROUPS for f in group})
        z = block.respond(feats[rows], proj[rows], used)
        local = tuple(tuple(used.index(f) for f in group) for group in HAFI_GROUPS)
        fused = hierarchical_fusion(block.attention, z, local)
        return self.regressor(fused, n_iter=3)
