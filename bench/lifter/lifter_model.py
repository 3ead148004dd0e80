"""The prototype lifter: a temporal 1D-conv network (dilated residual blocks, VideoPose3D-style) from
per-frame box-normalised 2D of the 12 limb joints to their mid-hip-relative 3D (metres) in the
crop-aligned camera frame (x right, y down, z along the viewing ray of the mid-hip), the frame that
MediaPipe's world landmarks use in the product.

Joint order: `mocap_data.SMPL_IDS` (left/right hip, knee, ankle, shoulder, elbow, wrist).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.geometry.skeleton import rotation_between  # noqa: E402

JOINTS = 12
#: index pairs (left, right) in the lifter's joint order.
MIRROR = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11))
FLIP = np.array([1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10])
#: bones as (parent, child) in the lifter's order: thighs, shins, upper arms, forearms.
BONES = ((0, 2), (1, 3), (2, 4), (3, 5), (6, 8), (7, 9), (8, 10), (9, 11))


def normalise_2d(px: np.ndarray) -> np.ndarray:
    """[..., N, 12, 2] pixels -> per frame: minus the joints' box centre, over the box's larger side."""
    lo, hi = px.min(axis=-2, keepdims=True), px.max(axis=-2, keepdims=True)
    size = np.maximum((hi - lo).max(axis=-1, keepdims=True), 1e-6)
    return (px - 0.5 * (lo + hi)) / size


def crop_turn(hip_px: np.ndarray, focal: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """[..., 2] mid-hip pixels -> [..., 3, 3] rotations taking the optical axis onto the mid-hip's ray
    (the product's `camera.view_ray_rotation`); crop-aligned = turn^T @ camera."""
    rays = np.concatenate([(hip_px - centre) / focal, np.ones(hip_px.shape[:-1] + (1,))], axis=-1)
    return rotation_between(np.broadcast_to(np.array([0.0, 0.0, 1.0]), rays.shape), rays)


class Block(nn.Module):
    def __init__(self, ch: int, dilation: int, dropout: float):
        super().__init__()
        self.pad = dilation
        self.body = nn.Sequential(
            nn.Conv1d(ch, ch, 3, dilation=dilation, bias=False), nn.BatchNorm1d(ch), nn.ReLU(), nn.Dropout(dropout),
            nn.Conv1d(ch, ch, 1, bias=False), nn.BatchNorm1d(ch), nn.ReLU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, self.pad:-self.pad] + self.body(x)


class Lifter(nn.Module):
    """[B, T + rf - 1, 12, 2] normalised 2D -> [B, T, 12, 3] metres (no padding inside)."""

    def __init__(self, ch: int = 256, dilations: tuple[int, ...] = (3, 9, 27), dropout: float = 0.15):
        super().__init__()
        self.receptive_field = 3 + 2 * sum(dilations)
        self.expand = nn.Sequential(nn.Conv1d(2 * JOINTS, ch, 3, bias=False), nn.BatchNorm1d(ch), nn.ReLU(),
                                    nn.Dropout(dropout))
        self.blocks = nn.Sequential(*(Block(ch, d, dropout) for d in dilations))
        self.out = nn.Conv1d(ch, 3 * JOINTS, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        y = self.out(self.blocks(self.expand(x.reshape(b, t, -1).transpose(1, 2))))
        return y.transpose(1, 2).reshape(b, -1, JOINTS, 3)

    @torch.no_grad()
    def lift(self, norm2d: np.ndarray, flip: bool = False) -> np.ndarray:
        """A whole clip [N, 12, 2] (normalised) -> [N, 12, 3], the ends padded by repeating the edge frames.
        flip: also lift the mirrored clip (x negated, left <-> right), mirror the answer back, average."""
        half = (self.receptive_field - 1) // 2
        padded = np.concatenate([np.repeat(norm2d[:1], half, 0), norm2d, np.repeat(norm2d[-1:], half, 0)])
        clips = [padded]
        if flip:
            clips.append(padded[:, FLIP] * np.array([-1.0, 1.0]))
        self.eval()
        out = self(torch.from_numpy(np.stack(clips).astype(np.float32))).numpy().astype(np.float64)
        if flip:
            return 0.5 * (out[0] + out[1][:, FLIP] * np.array([-1.0, 1.0, 1.0]))
        return out[0]


def load(path: Path) -> Lifter:
    state = torch.load(path, map_location="cpu")
    model = Lifter(**state["config"])
    model.load_state_dict(state["weights"])
    model.eval()
    return model
