"""STAF (Yao et al., 2023): APM + TCFM + SAFM on PyMAF's mesh-aligned feedback, window T = 9.

Input: the PyMAF backbone's layer4 maps of the window's 9 frames [B, 9, 2048, 7, 7].
- APM (average pooling module): the current frame's map (index 4) is replaced by the mean map
  of all 9 frames, so the model looks at the whole sequence.
- Stage 0: deconv 7 -> 14, features sampled on a fixed 21x21 grid and reduced to 5 channels
  (2205 per frame); TCFM (a MoCA block on 2205 channels) mixes them over time; regressor 0
  refines the mean parameters of every frame once.
- Stage 1: deconv 14 -> 28; the 431-vertex downsampled mesh of each frame's stage-0 estimate is
  projected with its camera and the map is sampled there (2155 per frame); SAFM fuses frames
  (0,1,2), (3,4,5), (6,7,8) and then the three results; regressor 1 refines the current frame.
- Stage 2: deconv 28 -> 56 on the current frame only, mesh-aligned features from the stage-1
  estimate, regressor 2 gives the output.

Where the official code is wrong, and what this module does instead:
- TCFM builds its attention input with `cat(dim=0).view(B, 2, T, T)` and so pairs the wrong
  windows inside a batch (see mpsnet.MoCA); here every window is paired with itself, equal to
  the official model run one window at a time. `official_pairing=True` restores the official
  batching.
- The official APM writes the mean map into the caller's tensor; here the input is not mutated.
- (The demo's shifted last rows are a runner matter: see seed_runner; every row is its own frame.)

Speed without changing the maths (`frame_cache` / `forward_cached`): for every frame but the
current one, the stage-0/1 deconvolution maps, the grid features and TCFM's theta/phi/g do not
depend on the window, so they are computed once per frame and reused by the 8 windows that
contain it. The current frame's first deconvolution is linear before its BatchNorm, so the mean
map's deconvolution is the mean of the cached per-frame deconvolutions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as nnf

from ..heads.regressor import IterativeRegressor
from ..heads.rotation import rot6d_to_rotmat
from .attention import TemporalAttention, hierarchical_fusion
from .mpsnet import MoCA

SEQ_LEN = 9
MID = SEQ_LEN // 2
GRID = 21
MLP_DIM = (256, 128, 64, 5)
N_VERTS_DS = 431
GRID_FEAT = GRID * GRID * MLP_DIM[-1]  # 2205
MESH_FEAT = N_VERTS_DS * MLP_DIM[-1]  # 2155
SAFM_GROUPS = ((0, 1, 2), (3, 4, 5), (6, 7, 8))
FOCAL = 5000.0
CROP = 224.0

#: rotmats [B, 24, 3, 3], betas [B, 10] -> vertices [B, 6890, 3]
SmplVertices = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def apm(maps: torch.Tensor) -> torch.Tensor:
    """Average pooling module: [B, T, C, H, W] with the current frame replaced by the mean over T."""
    out = maps.clone()
    out[:, maps.shape[1] // 2] = maps.mean(dim=1)
    return out


def grid_points() -> torch.Tensor:
    """The fixed 21x21 sampling grid [1, 2, 441] in [-1, 1], 'ij' meshgrid order as in PyMAF."""
    lin = torch.linspace(-1, 1, GRID)
    xv, yv = torch.meshgrid(lin, lin, indexing="ij")
    return torch.stack([xv.reshape(-1), yv.reshape(-1)]).unsqueeze(0)


def project(points: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """SPIN's crop camera: [B, P, 3] points, cam (s, tx, ty) -> [B, P, 2] in [-1, 1] crop coordinates."""
    tz = 2 * FOCAL / (CROP * cam[:, 0] + 1e-9)
    shifted = points + torch.stack([cam[:, 1], cam[:, 2], tz], dim=-1)[:, None]
    return shifted[..., :2] / shifted[..., 2:3] * FOCAL / (CROP / 2.0)


class MeshAlignedSampler(nn.Module):
    """PyMAF's MAF extractor (`maf_extractor.i`): point-wise features reduced 256 -> 5 by an MLP.

    Each layer after the first also sees the raw sampled feature (skip concatenation); leaky ReLU
    between layers, ReLU at the end; the result is flattened channel-major ([B, 5 * P]).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("Dmap", torch.zeros(N_VERTS_DS, 6890))
        self.conv0 = nn.Conv1d(MLP_DIM[0], MLP_DIM[1], 1)
        self.conv1 = nn.Conv1d(MLP_DIM[1] + MLP_DIM[0], MLP_DIM[2], 1)
        self.conv2 = nn.Conv1d(MLP_DIM[2] + MLP_DIM[0], MLP_DIM[3], 1)

    def reduce(self, feat: torch.Tensor) -> torch.Tensor:
        """[B, 256, P] -> [B, 5 * P].

        Same sums as the official Conv1d MLP, arranged as matrix products over all points: each
        layer's weight is split into its part for the previous layer and its part for the skipped
        input, and the skipped input's parts of all three layers are one product (about 2.5x faster
        on CPU than Conv1d with concatenations).
        """
        x = feat.transpose(1, 2)  # [B, P, C] view; measured faster here than a contiguous [B*P, C] copy
        w0, w1, w2 = self.conv0.weight[..., 0], self.conv1.weight[..., 0], self.conv2.weight[..., 0]
        h0, h1 = w0.shape[0], w1.shape[0]
        direct = nnf.linear(x, torch.cat([w0, w1[:, h0:], w2[:, h1:]], dim=0))
        y = nnf.leaky_relu(direct[..., :h0] + self.conv0.bias)
        y = nnf.leaky_relu(nnf.linear(y, w1[:, :h0], self.conv1.bias) + direct[..., h0:h0 + h1])
        y = nnf.relu(nnf.linear(y, w2[:, :h1], self.conv2.bias) + direct[..., h0 + h1:])
        return y.transpose(1, 2).flatten(1)

    def sample(self, maps: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Maps [B, C, H, W], points [B, P, 2] (x, y in [-1, 1]) -> [B, 5 * P]."""
        # A contiguous grid: grid_sample is about 3x slower on a transposed view.
        feat = nnf.grid_sample(maps, points.contiguous().unsqueeze(2), align_corners=True)[..., 0]
        return self.reduce(feat)

    def mesh_points(self, verts: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
        """Full-mesh vertices [B, 6890, 3] -> projected downsampled mesh [B, 431, 2].

        One [431, 6890] x [6890, 3B] product instead of the official broadcast matmul, which
        re-reads the 12 MB Dmap for every frame of the batch.
        """
        batch = verts.shape[0]
        down = self.Dmap @ verts.transpose(0, 1).reshape(verts.shape[1], -1)
        return project(down.view(-1, batch, 3).transpose(0, 1), cam)


class TCFM(nn.Module):
    """Temporal coherence fusion module: a MoCA block over the 9 frames' grid features."""

    def __init__(self, channel: int = GRID_FEAT, official_pairing: bool = False) -> None:
        super().__init__()
        self.nonlocalblock = MoCA(channel, official_pairing)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlocalblock(x)


class SAFMFusion(nn.Module):
    """Holds SAFM's attention under the official name `safm.nonlocalblock.attention`."""

    def __init__(self, channel: int = MESH_FEAT) -> None:
        super().__init__()
        self.attention = TemporalAttention(channel, 3)


class SAFM(nn.Module):
    """Spatial alignment fusion module: hierarchical attention over adjacent frames' mesh features."""

    def __init__(self) -> None:
        super().__init__()
        self.nonlocalblock = SAFMFusion()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 9, 2155] -> [B, 2155]."""
        return hierarchical_fusion(self.nonlocalblock.attention, x, SAFM_GROUPS)


def _deconv_layers() -> nn.Sequential:
    layers: list[nn.Module] = []
    inplanes = 2048
    for _ in range(3):
        layers += [nn.ConvTranspose2d(inplanes, 256, kernel_size=4, stride=2, padding=1, output_padding=0, bias=False),
                   nn.BatchNorm2d(256, momentum=0.1), nn.ReLU(inplace=True)]
        inplanes = 256
    return nn.Sequential(*layers)


class STAF(nn.Module):
    """State dict = the official `gen_state_dict` of STAF(seqlen=9) minus `regressor.i.smpl.*`."""

    def __init__(self, official_pairing: bool = False) -> None:
        super().__init__()
        self.register_buffer("points_grid", grid_points())
        self.deconv_layers = _deconv_layers()
        self.maf_extractor = nn.ModuleList(MeshAlignedSampler() for _ in range(3))
        self.regressor = nn.ModuleList([IterativeRegressor(GRID_FEAT), IterativeRegressor(MESH_FEAT),
                                        IterativeRegressor(MESH_FEAT)])
        self.safm = SAFM()
        self.tcfm = TCFM(GRID_FEAT, official_pairing)

    def stage(self, i: int) -> nn.Sequential:
        return self.deconv_layers[3 * i:3 * i + 3]

    def deconv(self, i: int, maps: torch.Tensor) -> torch.Tensor:
        """Deconvolution stage i on channels-last maps (about 1.6x faster on CPU, same sums)."""
        return self.stage(i)(maps.contiguous(memory_format=torch.channels_last))

    def grid_features(self, maps14: torch.Tensor) -> torch.Tensor:
        points = self.points_grid.transpose(1, 2).expand(maps14.shape[0], -1, -1)
        return self.maf_extractor[0].sample(maps14, points)

    def _refine(self, i: int, feat: torch.Tensor, pose: torch.Tensor | None, shape: torch.Tensor | None,
                cam: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.regressor[i](feat, pose, shape, cam, n_iter=1)

    def _mesh_stages(self, smpl: SmplVertices, maps28: torch.Tensor, mid28: torch.Tensor,
                     est0: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                     batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stages 1 and 2 from the stage-0 estimates of all B*9 frames (maps28 [B*9, 256, 28, 28])."""
        pose0, shape0, cam0 = est0
        verts = smpl(rot6d_to_rotmat(pose0).view(-1, 24, 3, 3), shape0)
        feats1 = self.maf_extractor[1].sample(maps28, self.maf_extractor[1].mesh_points(verts, cam0))
        fused = self.safm(feats1.view(batch, SEQ_LEN, -1))
        pose1, shape1, cam1 = self._refine(1, fused, *(t.view(batch, SEQ_LEN, -1)[:, MID] for t in est0))
        verts1 = smpl(rot6d_to_rotmat(pose1).view(-1, 24, 3, 3), shape1)
        maps56 = self.deconv(2, mid28)
        feats2 = self.maf_extractor[2].sample(maps56, self.maf_extractor[2].mesh_points(verts1, cam1))
        return self._refine(2, feats2, pose1, shape1, cam1)

    def forward(self, maps: torch.Tensor, smpl: SmplVertices) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reference path, structured as the official forward: [B, 9, 2048, 7, 7] -> (pose6d, betas, cam)."""
        batch = maps.shape[0]
        x = apm(maps).reshape(-1, 2048, 7, 7)
        maps14 = self.deconv(0, x)
        grid = self.grid_features(maps14).view(batch, SEQ_LEN, -1)
        grid = self.tcfm(grid).reshape(batch * SEQ_LEN, -1)
        est0 = self._refine(0, grid, None, None, None)
        maps28 = self.deconv(1, maps14)
        mid28 = maps28.reshape(batch, SEQ_LEN, *maps28.shape[1:])[:, MID]
        return self._mesh_stages(smpl, maps28, mid28, est0, batch)

    # ------------------------------------------------------------------ cached path
    def frame_cache(self, maps: torch.Tensor) -> dict[str, torch.Tensor]:
        """Window-independent work for frames [n, 2048, 7, 7]: stage-0 deconvolution (before its
        BatchNorm, for the APM mean), 14x14 and 28x28 maps, grid features and TCFM projections."""
        conv0 = self.deconv_layers[0](maps.contiguous(memory_format=torch.channels_last))
        maps14 = self.deconv_layers[2](self.deconv_layers[1](conv0))
        grid = self.grid_features(maps14)
        return {"conv0": conv0, "maps28": self.deconv(1, maps14), "grid": grid,
                "proj": self.tcfm.nonlocalblock.project(grid)}

    def forward_cached(self, cache: dict[str, torch.Tensor], rows: torch.Tensor,
                       smpl: SmplVertices) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`cache` from `frame_cache` over n frames, `rows` [B, 9] indices into it."""
        batch = rows.shape[0]
        # APM: the current frame is the mean map; its first deconvolution is the mean of the cached ones.
        mid14 = self.deconv_layers[2](self.deconv_layers[1](cache["conv0"][rows].mean(dim=1)))
        mid_grid = self.grid_features(mid14)
        mid28 = self.deconv(1, mid14)
        grid = cache["grid"][rows]
        grid[:, MID] = mid_grid
        proj = cache["proj"][rows]
        proj[:, MID] = self.tcfm.nonlocalblock.project(mid_grid)
        grid = self.tcfm.nonlocalblock.respond(grid, proj).reshape(batch * SEQ_LEN, -1)
        est0 = self._refine(0, grid, None, None, None)
        maps28 = cache["maps28"][rows]
        maps28[:, MID] = mid28
        return self._mesh_stages(smpl, maps28.reshape(-1, *mid28.shape[1:]), mid28, est0, batch)
