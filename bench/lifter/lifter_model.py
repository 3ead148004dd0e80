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

# The product's own pieces, re-exported for the training and evaluation scripts.
from backend.builtin.lifter import BONES, MIRRORED, normalise_2d  # noqa: E402
from backend.geometry.skeleton import rotation_between  # noqa: E402

JOINTS = 12
#: index pairs (left, right) in the lifter's joint order.
MIRROR = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11))
FLIP = MIRRORED


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
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = Lifter(**state["config"])
    model.load_state_dict(state["weights"])
    model.eval()
    return model


__all__ = ["BONES", "FLIP", "JOINTS", "MIRROR", "ROOT", "Lifter", "export_npz", "load", "normalise_2d",
           "rotation_between"]


def export_npz(path: Path, out: Path) -> None:
    """A trained checkpoint (`train_lifter.py`'s .pt) -> the product's weights file (float32 arrays named as
    the layers, batch-norm counters dropped, a `config` JSON string; read by `backend.builtin.lifter.load`)."""
    import json

    state = torch.load(path, map_location="cpu", weights_only=True)
    model = Lifter(**state["config"])
    arrays = {k: v.numpy().astype(np.float32) for k, v in state["weights"].items()
              if not k.endswith("num_batches_tracked")}
    arrays["config"] = np.array(json.dumps({
        "dilations": [int(b.pad) for b in model.blocks], "channels": int(state["config"].get("ch", 256)),
        "source": "bench/lifter/train_lifter.py", "val_mpjpe_mm": float(state["val_mpjpe_mm"]),
        "step": int(state["step"])}))
    np.savez_compressed(out, **arrays)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="export a trained checkpoint as the product's weights file")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path, help="e.g. backend/builtin/lifter_cmu.npz")
    args = parser.parse_args()
    export_npz(args.checkpoint, args.out)
