"""TAR (Chen et al. 2023, "Temporal-aware refinement for video-based human pose and shape recovery"): GTE, LTE, RRM.

TAR is ReFit (Wang and Daniilidis 2023) made temporal; the paper names three parts:
- `GTE`, Global Temporal Encoder (sec. 3.1): a 4-layer transformer encoder over the static global
  features F of the T = 9 window, a weighted average "implemented with 1D convolution" (Fig. 3a), then
  ReFit's `init_layer` (the MLP to 26 hidden states) and ReFit's `regressor` with CLIFF's bounding-box
  vector for the initial estimate (Fig. 3b). Those two keep ReFit's names, so they load from ReFit.
- `LTE`, Local Temporal Encoder (sec. 3.2): a bidirectional ConvGRU (eqs. 1-4) over the L = 5 local
  maps around the mid-frame, split at tau = floor((L - 1) / 2), hidden maps initialised with zeros;
  the two last hidden maps are concatenated and projected by a convolution.
- `RRM`, Recurrent Refinement Module (sec. 3.3): ReFit's 26 GRUs, marker lookup and regressor, 5
  iterations, except that the hidden states start from GTE's (ReFit resets them to zero) and the
  markers sample LTE's temporal local features (ReFit samples the mid-frame's static ones).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn as nn

from ..backbones.hrnet import HRNetW48ReFit
from ..heads.refit import ITERATIONS, NUM_MARKERS, CropCamera, Estimate, ReFitHeads, VerticesFn

SEQ_LEN = 9  # T: "a small input sequence T = 9" (sec. 4.1.1)
LOCAL_LEN = 5  # L: "the model achieves the best results when L = 5" (Table 5)
GLOBAL_DIM = 384  # ReFit's global vector (backbone final_layer + 8x8 average pool)
GTE_LAYERS = 4  # "a 4-layer transformer encoder" (sec. 3.1.1)
GTE_HEADS = 8  # not in the paper: 8 as Vaswani et al.'s base model; 384 / 8 = 48 per head
GTE_FEEDFORWARD = 4 * GLOBAL_DIM  # not in the paper: Vaswani et al.'s ratio (2048 / 512)
GTE_DROPOUT = 0.1  # not in the paper: Vaswani et al.'s
LTE_KERNEL = 3  # not in the paper: 3x3, the kernel of the ConvGRU of Siam et al. 2017 that the paper cites


class GTE(nn.Module):
    """Global Temporal Encoder: static global features F [B, T, D] -> temporal global feature f [B, D] of the mid-frame.

    d_model = D = 384, ReFit's global vector itself (not in the paper: no projection, so ReFit's
    `init_layer` reads f as it read one frame's vector). Heads 8, feed-forward 4 D, dropout 0.1, post-norm
    ReLU layers: Vaswani et al.'s base model, which the paper cites (not in the paper). Positional
    encoding: a learned [T, D] table added to F (not in the paper; T is fixed at 9). Weighted average:
    `Conv1d(T, 1, kernel_size=1)` with the T frames as its input channels (Fig. 3a), initialised to the
    plain mean (our choice).
    """

    def __init__(self, dim: int = GLOBAL_DIM, seq_len: int = SEQ_LEN, layers: int = GTE_LAYERS,
                 heads: int = GTE_HEADS, feedforward: int = GTE_FEEDFORWARD, dropout: float = GTE_DROPOUT) -> None:
        super().__init__()
        self.seq_len = seq_len
        self.position = nn.Parameter(torch.zeros(1, seq_len, dim))
        nn.init.trunc_normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=feedforward, dropout=dropout,
                                           activation="relu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.average = nn.Conv1d(seq_len, 1, kernel_size=1)
        nn.init.constant_(self.average.weight, 1.0 / seq_len)
        nn.init.zeros_(self.average.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features [B, T, D] (frames in time order) -> [B, D]."""
        if features.shape[1] != self.seq_len:
            raise ValueError(f"GTE takes windows of {self.seq_len} frames, got {features.shape[1]}")
        encoded = self.encoder(features + self.position)
        return self.average(encoded)[:, 0]


class ConvGRUCell(nn.Module):
    """One ConvGRU step, TAR eqs. 1-4 (Siam et al. 2017):

    Z = sigma(W_z * m + U_z * h), R = sigma(W_r * m + U_r * h), h~ = tanh(W * m + U * (R o h)),
    h' = (1 - Z) o h + Z o h~.  Eq. 2 prints U_z in the reset gate; we read it as the standard GRU's
    U_r (a typo: with U_z the two gates would share their recurrent term). W_z, W_r, W run as one
    convolution (with biases), U_z, U_r as another (no bias); `kernel` x `kernel`, 'same' padding.
    Hidden maps have the input's shape (the paper: "the same shape with input local features").
    """

    def __init__(self, channels: int, kernel: int = LTE_KERNEL) -> None:
        super().__init__()
        pad = kernel // 2
        self.channels = channels
        self.input_gates = nn.Conv2d(channels, 3 * channels, kernel, padding=pad)  # W_z, W_r, W
        self.hidden_gates = nn.Conv2d(channels, 2 * channels, kernel, padding=pad, bias=False)  # U_z, U_r
        self.hidden_candidate = nn.Conv2d(channels, channels, kernel, padding=pad, bias=False)  # U

    def forward(self, m: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """m, h [B, C, H, W] -> the next hidden map [B, C, H, W]."""
        wz, wr, w = self.input_gates(m).chunk(3, dim=1)
        uz, ur = self.hidden_gates(h).chunk(2, dim=1)
        z = torch.sigmoid(wz + uz)
        r = torch.sigmoid(wr + ur)
        candidate = torch.tanh(w + self.hidden_candidate(r * h))
        return (1 - z) * h + z * candidate


class LTE(nn.Module):
    """Local Temporal Encoder: local maps M [B, L, C, H, W] -> temporal local map m [B, C, H, W] of the mid-frame.

    Which map (not in the paper, which says "local feature maps", D x 64 x 64): ReFit's correlation map,
    `corr_layer`'s output, C = 67 (one channel per marker) at 64 x 64, i.e. the map RRM samples from;
    the 720-channel backbone map would need ~28 M ConvGRU weights per branch at 3x3. Channels: hidden =
    input = 67 (the paper). Kernel 3x3 (Siam et al.; not in the paper). Past branch over M_p = m_0..m_tau,
    future branch over M_f = m_{L-1}..m_tau (each ends on the mid-frame), both from zero hidden maps;
    `project` is a 1x1 convolution 2C -> C over [m_p, m_f] (kernel not in the paper).
    """

    def __init__(self, channels: int = 67, length: int = LOCAL_LEN, kernel: int = LTE_KERNEL) -> None:
        super().__init__()
        self.length = length
        self.past = ConvGRUCell(channels, kernel)
        self.future = ConvGRUCell(channels, kernel)
        self.project = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        """maps [B, L, C, H, W] in time order -> [B, C, H, W]."""
        if maps.shape[1] != self.length:
            raise ValueError(f"LTE takes {self.length} local maps, got {maps.shape[1]}")
        tau = (self.length - 1) // 2
        past = maps.new_zeros(maps[:, 0].shape)
        for t in range(tau + 1):
            past = self.past(maps[:, t], past)
        future = maps.new_zeros(maps[:, 0].shape)
        for t in range(self.length - 1, tau - 1, -1):
            future = self.future(maps[:, t], future)
        return self.project(torch.cat([past, future], dim=1))


# ---------------------------------------------------------------------------------------------- the network

FORMAT = "video-mocap-tar"  # our checkpoint format (no official TAR weights exist)
FORMAT_VERSION = 1
FILE_NAME = "tar_model.pth.tar"
BACKBONES = ("hrnet_w48", "small")


@dataclass(frozen=True)
class TARConfig:
    """Sizes of one TAR network; stored in its checkpoint so `run` rebuilds exactly what was trained.

    backbone: "hrnet_w48" (the paper's and ReFit's: 720-channel 64 x 64 map at crop 256, 384-d vector) or
    "small" (test sizes only: `SmallBackbone` and a narrow `corr_layer`, the same output roles, so a
    training test fits in CI; everything after the correlation map is the real TAR). crop_size: the
    square crop in pixels (ReFit's 256; the local maps are crop_size / 4).
    """

    seq_len: int = SEQ_LEN
    local_len: int = LOCAL_LEN
    backbone: str = "hrnet_w48"
    crop_size: int = 256

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone {self.backbone!r}: one of {', '.join(BACKBONES)}")
        if self.local_len > self.seq_len or self.local_len % 2 == 0 or self.seq_len % 2 == 0:
            raise ValueError(f"windows T = {self.seq_len}, L = {self.local_len}: both odd, L <= T")
        if self.crop_size % 32:
            raise ValueError(f"crop size {self.crop_size}: a multiple of 32")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TARConfig:
        return cls(**data)


class SmallBackbone(nn.Module):
    """Test-size stand-in for HRNet-W48 with the same output roles: crop [B, 3, S, S] -> (local map
    [B, 32, S/4, S/4], global vector [B, 384]). Not a model of anything; only `TARConfig(backbone="small")`."""

    channels = 32

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.local = nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, self.channels, 1))
        self.down = nn.Sequential(block(self.channels, 64, 2), block(64, 128, 2))
        self.global_layer = nn.Sequential(nn.Linear(128, GLOBAL_DIM), nn.ReLU())

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.local(img)
        return feature, self.global_layer(self.down(feature).mean(dim=(2, 3)))


class TAR(ReFitHeads):
    """TAR on ReFit: ReFit's backbone and heads under ReFit's names (so a ReFit checkpoint initialises
    them) plus `gte` and `lte`. Every output is the window's mid-frame.

    `ablate_gte` / `ablate_lte` (test-only switches): without GTE the mid-frame's own global vector
    seeds the initial estimate and the hidden states restart from zero; without LTE the markers sample
    the mid-frame's own correlation map; with both, TAR is exactly ReFit's per-frame forward.
    """

    def __init__(self, config: TARConfig = TARConfig()) -> None:
        super().__init__()
        self.config = config
        if config.backbone == "hrnet_w48":
            self.backbone: nn.Module = HRNetW48ReFit()
        else:
            self.backbone = SmallBackbone()
            self.corr_layer = nn.Sequential(nn.Conv2d(SmallBackbone.channels, 64, 3, 1, 1, bias=False),
                                            nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, NUM_MARKERS, 1, bias=False))
        self.gte = GTE(GLOBAL_DIM, config.seq_len)
        self.lte = LTE(NUM_MARKERS, config.local_len)
        self.ablate_gte = False
        self.ablate_lte = False

    def frame_features(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame work, done once per frame: crops [N, 3, S, S] -> (z [N, 384], corr [N, 67, S/4, S/4])."""
        feature, z = self.backbone(img)
        return z, self.correlation(feature)

    def local_span(self) -> slice:
        """Which frames of the T window the L local maps are: the L frames centred on the mid-frame."""
        first = self.config.seq_len // 2 - self.config.local_len // 2
        return slice(first, first + self.config.local_len)

    def forward_windows(self, z: torch.Tensor, corr: torch.Tensor, camera: CropCamera, vertices: VerticesFn,
                        iters: int = ITERATIONS) -> list[Estimate]:
        """z [B, T, 384] static global features; corr [B, L, 67, h, w] static local maps (the L frames
        centred on the mid-frame); camera: the mid-frame's crop. Returns [initial estimate, then one per
        RRM iteration] (iters + 1 estimates; the last is the result), all of the mid-frame."""
        mid = self.config.seq_len // 2
        f = z[:, mid] if self.ablate_gte else self.gte(z)
        hidden = self.initial_hidden(f)  # ReFit's init_layer: the MLP to 26 hidden states
        estimate = self.initial_estimate(hidden, camera.bbox_info())  # ReFit's regressor + CLIFF box vector
        if self.ablate_gte:
            hidden = self.zero_hidden(len(z))  # ReFit's reset; TAR keeps GTE's hidden states (sec. 3.3.2)
        m = corr[:, self.config.local_len // 2] if self.ablate_lte else self.lte(corr)
        return [estimate, *self.refine(m, camera, estimate, hidden, vertices, iters)]

    def forward(self, img: torch.Tensor, camera: CropCamera, vertices: VerticesFn,
                iters: int = ITERATIONS) -> list[Estimate]:
        """img [B, T, 3, S, S] crops of the window in time order; camera: the mid-frame's crop."""
        b, t = img.shape[:2]
        feature, z = self.backbone(img.flatten(0, 1))
        feature = feature.view(b, t, *feature.shape[1:])[:, self.local_span()]
        corr = self.correlation(feature.flatten(0, 1))
        return self.forward_windows(z.view(b, t, -1), corr.view(b, self.config.local_len, *corr.shape[1:]), camera,
                                    vertices, iters)


def neutral_mean_(model: ReFitHeads) -> None:
    """Mean parameters for a TAR that does not start from ReFit (test sizes): every joint at identity, the
    root turned 180 degrees about x (upright in the y-down camera; ReFit's own mean has the same root),
    betas 0, crop camera (0.9, 0, 0) as ReFit's `init_cam`. 6D numbers as rot6d_to_rotmat reads them."""
    pose = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(24)
    pose[:6] = torch.tensor([1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
    with torch.no_grad():
        model.init_pose.copy_(pose[None])
        model.init_shape.zero_()
        model.init_cam.copy_(torch.tensor([[0.9, 0.0, 0.0]]))
