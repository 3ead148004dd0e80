"""ReFit's heads: marker feedback, 26 GRUs and the regressor, named as the official state dict.

Source of every name, shape and formula (facts only, own code): ReFit (Wang & Daniilidis, ICCV
2023), commit 3167cbf: `lib/models/refit.py:REFIT`, `lib/models/update.py`, `lib/models/
multi_linear.py`, `lib/models/utils.py:bilinear_sampler`; summarised in the reference notes and
checked against `tests/data/refit_layout.json`.

Public API (stable; TAR builds on it):
- `ReFitHeads`: the module holding `init_pose/init_shape/init_cam` (mean-parameter buffers),
  `init_layer`, `corr_layer`, `flow_layer`, `local_layer`, `masked_layer`, `update_block`,
  `regressor` under their official names. Methods: `initial_hidden(z)`, `initial_estimate(z,
  bbox)`, `zero_hidden(batch)`, `correlation(feature)`, `local_feedback(corr, markers2d, mask)`,
  `step(...)`, `refine(...)` (the per-frame loop from any estimate and hidden states).
- `Estimate` (pose6d [B,144], shape [B,10], cam [B,3]), `Hidden` (pose [B,24,32], shape [B,32],
  cam [B,32]), `CropCamera` (the CLIFF box vector, crop-to-full translation, projection).
- `marker_lookup(corr, coords, radius)`: the 7x7 window sampler; `MARKER_VERTICES` (67 SMPL
  vertex ids, `data/smpl/smpl_ssm.npy`); `MultiLinear`, `GRU`, `MultiGRU`, `UpdateBlock`, `Regressor`.
- `VerticesFn`: `(rotmat [B,24,3,3], betas [B,10]) -> vertices [B,6890,3]` (SMPL body frame, metres),
  or directly the 67 marker vertices [B,67,3] in MARKER_VERTICES order (`body.smpl_subset`, cheaper).

Camera convention: OpenCV axes (x right, y down, z forward), pixels of the full image; the crop
camera (s, tx, ty) lives in the 256 px crop of a square box of side b = 200 * scale px.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as nnf

from .rotation import rot6d_to_rotmat

NUM_JOINTS = 24
NUM_MARKERS = 67
HIDDEN = 32  # hidden size of each of the 26 GRUs (MODEL.HIDDEN_DIM)
LOCAL_DIM = 256  # MODEL.LOCAL_DIM
FLOW_DIM = 5  # REFIT(flow_dim=5) default
RADIUS = 3  # MODEL.RADIUS: 7x7 window
FEATURE_CHANNELS = 720  # HRNet-W48 local map
GLOBAL_DIM = 384  # HRNet-W48 global vector
CROP_SIZE = 256  # IMG_RES
FEATURE_STRIDE = 4  # crop pixels per feature-map pixel
ITERATIONS = 5  # demo/eval/training all use 5
MASK_PROB = 0.25  # TRAIN.MASKED_PROB: whole markers dropped in training
UPDATE_INPUT = LOCAL_DIM + 3 + NUM_JOINTS * 6 + 10 + 3  # 416: [local, bbox, pose6d, shape, cam]
#: ReFit's 67 marker vertices on the SMPL mesh (data/smpl/smpl_ssm.npy, shipped in its repository).
MARKER_VERTICES = (
    0, 183, 239, 601, 630, 706, 857, 874, 1053, 1058, 1112, 1306, 1368, 1396, 1454, 1504, 1666, 1725, 1741, 1863,
    2108, 2112, 2174, 2224, 3015, 3076, 3078, 3116, 3123, 3233, 3284, 3327, 3336, 3346, 3387, 3503, 3512, 3695,
    3749, 4118, 4222, 4343, 4360, 4538, 4544, 4598, 4722, 4841, 4871, 4927, 5135, 5194, 5210, 5299, 5414, 5568,
    5635, 5686, 6306, 6540, 6543, 6633, 6683, 6728, 6736, 6747, 6786,
)

VerticesFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class MultiLinear(nn.Module):
    """`heads` independent linear maps: weight [heads, out, in], bias [heads, out]; x [B, heads, in]."""

    def __init__(self, heads: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(heads, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(heads, out_features))
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default init, per head
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("koi,bki->bko", self.weight, x) + self.bias


class GRU(nn.Module):
    """z = s(Wz[h,x]), r = s(Wr[h,x]), q = tanh(Wq[r*h, x]), h' = (1-z) h + z q (hidden first)."""

    def __init__(self, hidden: int = HIDDEN, inputs: int = UPDATE_INPUT) -> None:
        super().__init__()
        self.lz = nn.Linear(hidden + inputs, hidden)
        self.lr = nn.Linear(hidden + inputs, hidden)
        self.lq = nn.Linear(hidden + inputs, hidden)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        hx = torch.cat([h, x], dim=-1)
        z = torch.sigmoid(self.lz(hx))
        r = torch.sigmoid(self.lr(hx))
        q = torch.tanh(self.lq(torch.cat([r * h, x], dim=-1)))
        return (1 - z) * h + z * q


class MultiGRU(GRU):
    """24 independent GRUs (one per joint) with the same gate equations; h [B,24,32], x [B,24,416]."""

    def __init__(self, heads: int = NUM_JOINTS, hidden: int = HIDDEN, inputs: int = UPDATE_INPUT) -> None:
        nn.Module.__init__(self)
        self.lz = MultiLinear(heads, hidden + inputs, hidden)
        self.lr = MultiLinear(heads, hidden + inputs, hidden)
        self.lq = MultiLinear(heads, hidden + inputs, hidden)


@dataclass
class Hidden:
    """The 26 GRU hidden states: pose [B,24,32], shape [B,32], cam [B,32]."""

    pose: torch.Tensor
    shape: torch.Tensor
    cam: torch.Tensor


@dataclass
class Estimate:
    """SMPL estimate: pose6d [B,144] (raw 6D, SPIN convention, joint 0 = global orientation in the
    full-image camera frame), shape [B,10] betas, cam [B,3] crop camera (s, tx, ty)."""

    pose6d: torch.Tensor
    shape: torch.Tensor
    cam: torch.Tensor

    def rotmat(self) -> torch.Tensor:
        """[B,24,3,3] rotations (Gram-Schmidt of the 6D numbers)."""
        return rot6d_to_rotmat(self.pose6d).view(-1, NUM_JOINTS, 3, 3)

    def detach(self) -> Estimate:
        return Estimate(self.pose6d.detach(), self.shape.detach(), self.cam.detach())


class UpdateBlock(nn.Module):
    """x = [local 256, bbox 3, pose6d 144, shape 10, cam 3]; the 24 pose GRUs all get the same x."""

    def __init__(self) -> None:
        super().__init__()
        self.pose_gru = MultiGRU()
        self.shape_gru = GRU()
        self.cam_gru = GRU()

    def forward(self, hidden: Hidden, local: torch.Tensor, estimate: Estimate) -> Hidden:
        x = torch.cat([local, estimate.pose6d, estimate.shape, estimate.cam], dim=-1)
        pose = self.pose_gru(hidden.pose, x[:, None].expand(-1, NUM_JOINTS, -1))
        return Hidden(pose, self.shape_gru(hidden.shape, x), self.cam_gru(hidden.cam, x))


class Regressor(nn.Module):
    """[h, bbox] (35) -> (Multi)Linear 35->32 + ReLU -> per-joint 6D delta, shape delta, camera delta."""

    def __init__(self) -> None:
        super().__init__()
        self.p = nn.Sequential(MultiLinear(NUM_JOINTS, HIDDEN + 3, HIDDEN), nn.ReLU(inplace=True))
        self.s = nn.Sequential(nn.Linear(HIDDEN + 3, HIDDEN), nn.ReLU(inplace=True))
        self.c = nn.Sequential(nn.Linear(HIDDEN + 3, HIDDEN), nn.ReLU(inplace=True))
        self.decpose = MultiLinear(NUM_JOINTS, HIDDEN, 6)
        self.decshape = nn.Linear(HIDDEN, 10)
        self.deccam = nn.Linear(HIDDEN, 3)

    def forward(self, hidden: Hidden, bbox: torch.Tensor) -> Estimate:
        """Deltas (as an Estimate) from the hidden states and the box vector [B,3]."""
        pose = torch.cat([hidden.pose, bbox[:, None].expand(-1, NUM_JOINTS, -1)], dim=-1)
        d_pose = self.decpose(self.p(pose)).flatten(1)
        d_shape = self.decshape(self.s(torch.cat([hidden.shape, bbox], dim=-1)))
        d_cam = self.deccam(self.c(torch.cat([hidden.cam, bbox], dim=-1)))
        return Estimate(d_pose, d_shape, d_cam)


@dataclass
class CropCamera:
    """Where a crop sits in its full image, and that image's pinhole (all full-image pixels).

    center [B,2] box centre; side [B] box side b = 200 * scale (the square the 256 px crop covers);
    focal [B] focal length (ReFit's default sqrt(W^2 + H^2)); principal [B,2] (default W/2, H/2).
    """

    center: torch.Tensor
    side: torch.Tensor
    focal: torch.Tensor
    principal: torch.Tensor
    crop_size: int = CROP_SIZE

    def bbox_info(self) -> torch.Tensor:
        """CLIFF's box vector [B,3]: [2.8 (cx-px)/f, 2.8 (cy-py)/f, (b - 0.24 f) / (0.06 f)] (REFIT.bbox_est)."""
        f = self.focal
        offset = (self.center - self.principal) / f[:, None] * 2.8
        return torch.cat([offset, ((self.side - 0.24 * f) / (0.06 * f))[:, None]], dim=-1)

    def full_translation(self, cam: torch.Tensor) -> torch.Tensor:
        """Crop camera (s, tx, ty) [B,3] -> SMPL translation [B,3] in the full-image camera frame (metres):
        [tx + 2(cx-px)/(b s), ty + 2(cy-py)/(b s), 2f/(b s)] (REFIT.get_trans; no epsilon, as there)."""
        s, tx, ty = cam.unbind(-1)
        bs = self.side * s
        shift = 2 * (self.center - self.principal) / bs[:, None]
        return torch.stack([tx + shift[:, 0], ty + shift[:, 1], 2 * self.focal / bs], dim=-1)

    def to_crop(self, points: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
        """SMPL-frame points [B,K,3] under crop camera `cam` -> crop pixels [B,K,2] (REFIT.project):
        perspective projection of X + t with K(f, principal), then (p - (c - b/2)) * 256 / b."""
        points = points + self.full_translation(cam)[:, None]
        full = points[..., :2] / points[..., 2:3] * self.focal[:, None, None] + self.principal[:, None]
        origin = self.center - self.side[:, None] / 2
        return (full - origin[:, None]) * (self.crop_size / self.side)[:, None, None]


def marker_lookup(corr: torch.Tensor, coords: torch.Tensor, radius: int = RADIUS) -> torch.Tensor:
    """Each marker samples a (2r+1)^2 window of its own channel: corr [B,K,H,W], coords [B,K,2]
    (x, y in feature-map pixels) -> [B,K,(2r+1)^2].

    Flat index k = (2r+1) i + j samples (x + i - r, y + j - r): x is the slow index (REFIT.lookup's
    meshgrid order). Bilinear, align_corners=True (x_norm = 2x/(W-1) - 1), zeros outside the map.
    """
    b, k, h, w = corr.shape
    offsets = torch.arange(-radius, radius + 1, device=corr.device, dtype=coords.dtype)
    side = len(offsets)
    x = coords[..., 0].reshape(b * k, 1, 1) + offsets.view(1, side, 1)  # varies with i
    y = coords[..., 1].reshape(b * k, 1, 1) + offsets.view(1, 1, side)  # varies with j
    x, y = torch.broadcast_tensors(x, y)
    grid = torch.stack([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], dim=-1)  # [BK, side, side, 2]
    sampled = nnf.grid_sample(corr.reshape(b * k, 1, h, w), grid.to(corr.dtype), mode="bilinear",
                              padding_mode="zeros", align_corners=True)
    return sampled.view(b, k, side * side)


def make_corr_layer() -> nn.Sequential:
    """conv3x3 720->256 + BN + ReLU, conv3x3 256->256 + BN + ReLU, conv1x1 256->67 (no biases)."""
    return nn.Sequential(
        nn.Conv2d(FEATURE_CHANNELS, 256, 3, 1, 1, bias=False), nn.BatchNorm2d(256, momentum=0.1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, 1, 1, bias=False), nn.BatchNorm2d(256, momentum=0.1), nn.ReLU(inplace=True),
        nn.Conv2d(256, NUM_MARKERS, 1, 1, 0, bias=False))


class ReFitHeads(nn.Module):
    """Everything of REFIT except the backbone and the SMPL layers, under the official top-level names."""

    def __init__(self) -> None:
        super().__init__()
        # mean parameters (smpl_mean_params.npz), stored in the checkpoint; placeholders until loaded
        self.register_buffer("init_pose", torch.zeros(1, NUM_JOINTS * 6))
        self.register_buffer("init_shape", torch.zeros(1, 10))
        self.register_buffer("init_cam", torch.tensor([[0.9, 0.0, 0.0]]))
        self.init_layer = nn.Linear(GLOBAL_DIM, 26 * HIDDEN)
        self.corr_layer = make_corr_layer()
        area = (2 * RADIUS + 1) ** 2
        self.flow_layer = MultiLinear(NUM_MARKERS, area, FLOW_DIM)
        self.local_layer = nn.Linear(NUM_MARKERS * FLOW_DIM, LOCAL_DIM)
        self.masked_layer = nn.Dropout1d(p=MASK_PROB)
        self.update_block = UpdateBlock()
        self.regressor = Regressor()
        self.register_buffer("marker_ids", torch.tensor(MARKER_VERTICES), persistent=False)

    def initial_hidden(self, z: torch.Tensor) -> Hidden:
        """tanh(init_layer(z)) viewed [B,26,32]: rows 0-23 pose, 24 shape, 25 cam."""
        h = torch.tanh(self.init_layer(z)).view(len(z), 26, HIDDEN)
        return Hidden(h[:, :NUM_JOINTS], h[:, NUM_JOINTS], h[:, NUM_JOINTS + 1])

    def initial_estimate(self, hidden: Hidden, bbox: torch.Tensor) -> Estimate:
        """Mean parameters plus the regressor's deltas from `hidden` (ReFit's first estimate)."""
        d = self.regressor(hidden, bbox)
        return Estimate(self.init_pose + d.pose6d, self.init_shape + d.shape, self.init_cam + d.cam)

    def zero_hidden(self, batch: int) -> Hidden:
        """All-zero hidden states: ReFit resets them after the initial estimate (init_layer seeds only that)."""
        p = self.init_pose
        return Hidden(p.new_zeros(batch, NUM_JOINTS, HIDDEN), p.new_zeros(batch, HIDDEN), p.new_zeros(batch, HIDDEN))

    def correlation(self, feature: torch.Tensor) -> torch.Tensor:
        """[B,720,64,64] local map -> [B,67,64,64], one channel per marker."""
        return self.corr_layer(feature)

    def marker_mask(self, batch: int) -> torch.Tensor | None:
        """[B,67,5] Dropout1d mask of whole markers in training; None (identity) at inference."""
        if not self.training:
            return None
        return self.masked_layer(self.init_pose.new_ones(batch, NUM_MARKERS, FLOW_DIM))

    def local_feedback(self, corr: torch.Tensor, markers2d: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Markers in crop pixels [B,67,2] -> the 256-d local feedback (lookup, flow_layer, mask, local_layer)."""
        loc = self.flow_layer(marker_lookup(corr, markers2d / FEATURE_STRIDE))  # [B,67,5]
        if mask is not None:
            loc = loc * mask
        return self.local_layer(loc.flatten(1))  # marker-major [B,335] -> [B,256]

    def markers(self, vertices: VerticesFn, estimate: Estimate) -> torch.Tensor:
        """The 67 marker vertices [B,67,3] (SMPL frame) of an estimate (`vertices` may return all or just them)."""
        verts = vertices(estimate.rotmat(), estimate.shape)
        return verts if verts.shape[1] == NUM_MARKERS else verts[:, self.marker_ids]

    def step(self, corr: torch.Tensor, camera: CropCamera, bbox: torch.Tensor, estimate: Estimate, hidden: Hidden,
             vertices: VerticesFn, mask: torch.Tensor | None = None) -> tuple[Estimate, Hidden]:
        """One ReFit iteration: project the estimate's markers, look up, update the 26 GRUs, add the deltas.
        The estimate and the projected markers are detached, as in REFIT.forward."""
        current = estimate.detach()
        markers2d = camera.to_crop(self.markers(vertices, current), current.cam).detach()
        local = torch.cat([self.local_feedback(corr, markers2d, mask), bbox], dim=-1)
        hidden = self.update_block(hidden, local, current)
        d = self.regressor(hidden, bbox)
        return Estimate(current.pose6d + d.pose6d, current.shape + d.shape, current.cam + d.cam), hidden

    def refine(self, corr: torch.Tensor, camera: CropCamera, estimate: Estimate, hidden: Hidden, vertices: VerticesFn,
               iters: int = ITERATIONS, mask: torch.Tensor | None = None) -> list[Estimate]:
        """The per-frame loop from any estimate and hidden states (ReFit: zeros; TAR: its GTE's).

        corr [B,67,64,64] is the map the markers sample. Returns the `iters` estimates after each
        iteration (the last is the result). `mask` defaults to `marker_mask` (identity in eval).
        """
        bbox = camera.bbox_info()
        if mask is None:
            mask = self.marker_mask(len(corr))
        out = []
        for _ in range(iters):
            estimate, hidden = self.step(corr, camera, bbox, estimate, hidden, vertices, mask)
            out.append(estimate)
        return out
