"""TCMR (Choi et al., CVPR 2021): PoseForecast + temporal feature integration + SPIN regressor.

Window of T static features, current frame = T//2 (the demo trains and runs T=16):
- all-frames GRU (`gru_cur`, bidirectional, 2 layers) -> its output at the current frame;
- PoseForecast: `gru_bef` over the past frames 0..T//2-1 and `gru_aft` over the future frames
  T-1..T//2+1 (reversed), neither sees the current frame -> their last outputs;
- each of the three goes through ReLU and a linear layer to 2048, and TemporalAttention weights
  their sum (past, current, future) -> the regressor (3 SPIN iterations).

Speed without changing the maths (`forward_cached`): the first GRU layer's input projection
W_ih x_t + b_ih does not depend on the window, so it is computed once per frame for all four
first-layer GRUs and gathered by every window; the second layer of `gru_cur` only runs the
steps that reach the current frame. `forward` is the plain nn.GRU path, kept as the reference.
Batch-independent: each window is computed on its own.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as nnf

from ..heads.regressor import IterativeRegressor
from .attention import TemporalAttention

HIDDEN = 1024
FEAT = 2048


def gru_step(gi: torch.Tensor, h: torch.Tensor | None, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """One nn.GRU step given the input projection gi = W_ih x + b_ih (gate order r, z, n)."""
    gh = b_hh.expand(gi.shape[0], -1) if h is None else nnf.linear(h, w_hh, b_hh)
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return n - z * n if h is None else n + z * (h - n)  # (1 - z) * n + z * h, with h = 0 at the start


def run_steps(gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """Run a GRU direction over precomputed input projections [B, S, 3H] -> outputs [B, S, H]."""
    steps = range(gi.shape[1] - 1, -1, -1) if reverse else range(gi.shape[1])
    out: list[torch.Tensor | None] = [None] * gi.shape[1]
    h = None
    for t in steps:
        h = gru_step(gi[:, t], h, w_hh, b_hh)
        out[t] = h
    return torch.stack(out, dim=1)  # type: ignore[arg-type]


class PoseForecast(nn.Module):
    """TCMR's temporal encoder (checkpoint prefix `encoder.`): all-frames GRU, PoseForecast, integration."""

    def __init__(self, n_layers: int = 2, hidden_size: int = HIDDEN) -> None:
        super().__init__()
        self.gru_cur = nn.GRU(FEAT, hidden_size, num_layers=n_layers, bidirectional=True, batch_first=True)
        self.gru_bef = nn.GRU(FEAT, hidden_size, num_layers=n_layers, batch_first=True)
        self.gru_aft = nn.GRU(FEAT, hidden_size, num_layers=n_layers, batch_first=True)
        self.linear_cur = nn.Linear(hidden_size * 2, FEAT)
        self.linear_bef = nn.Linear(hidden_size, FEAT)
        self.linear_aft = nn.Linear(hidden_size, FEAT)
        self.attention = TemporalAttention(FEAT, 3)

    def integrate(self, g_all: torch.Tensor, g_past: torch.Tensor, g_future: torch.Tensor) -> torch.Tensor:
        """Temporal feature integration: ReLU + linear to 2048 each, attention-weighted sum."""
        y = torch.stack([self.linear_bef(nnf.relu(g_past)), self.linear_cur(nnf.relu(g_all)),
                         self.linear_aft(nnf.relu(g_future))], dim=1)
        return self.attention(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reference path with nn.GRU, as the official code runs it: [B, T, 2048] -> [B, 2048]."""
        mid = x.shape[1] // 2
        y_all, _ = self.gru_cur(x)
        y_past, _ = self.gru_bef(x[:, :mid])
        y_future, _ = self.gru_aft(torch.flip(x[:, mid + 1:], dims=[1]))
        return self.integrate(y_all[:, mid], y_past[:, -1], y_future[:, -1])

    # ------------------------------------------------------------------ cached path
    def frame_projections(self, feats: torch.Tensor) -> torch.Tensor:
        """Per-frame first-layer input projections [N, 4, 3H] (cur forward, cur backward, past, future)."""
        w = torch.cat([self.gru_cur.weight_ih_l0, self.gru_cur.weight_ih_l0_reverse,
                       self.gru_bef.weight_ih_l0, self.gru_aft.weight_ih_l0], dim=0)
        b = torch.cat([self.gru_cur.bias_ih_l0, self.gru_cur.bias_ih_l0_reverse,
                       self.gru_bef.bias_ih_l0, self.gru_aft.bias_ih_l0], dim=0)
        return nnf.linear(feats, w, b).view(feats.shape[0], 4, -1)

    def _second_layer(self, gru: nn.GRU, first: torch.Tensor) -> torch.Tensor:
        """Last output of layer 1 of a unidirectional GRU over the layer-0 outputs [B, S, H]."""
        gi = nnf.linear(first, gru.weight_ih_l1, gru.bias_ih_l1)
        return run_steps(gi, gru.weight_hh_l1, gru.bias_hh_l1)[:, -1]

    def forward_cached(self, proj: torch.Tensor) -> torch.Tensor:
        """Windows of per-frame projections [B, T, 4, 3H] -> integrated feature [B, 2048]."""
        cur, mid = self.gru_cur, proj.shape[1] // 2
        fwd0 = run_steps(proj[:, :, 0], cur.weight_hh_l0, cur.bias_hh_l0)
        bwd0 = run_steps(proj[:, :, 1], cur.weight_hh_l0_reverse, cur.bias_hh_l0_reverse, reverse=True)
        layer0 = torch.cat([fwd0, bwd0], dim=-1)
        # Layer 1 output at `mid`: forward over steps 0..mid, backward over steps T-1..mid.
        gi_f = nnf.linear(layer0[:, :mid + 1], cur.weight_ih_l1, cur.bias_ih_l1)
        gi_b = nnf.linear(layer0[:, mid:], cur.weight_ih_l1_reverse, cur.bias_ih_l1_reverse)
        fwd1 = run_steps(gi_f, cur.weight_hh_l1, cur.bias_hh_l1)[:, -1]
        bwd1 = run_steps(gi_b, cur.weight_hh_l1_reverse, cur.bias_hh_l1_reverse, reverse=True)[:, 0]
        g_all = torch.cat([fwd1, bwd1], dim=-1)
        past0 = run_steps(proj[:, :mid, 2], self.gru_bef.weight_hh_l0, self.gru_bef.bias_hh_l0)
        g_past = self._second_layer(self.gru_bef, past0)
        future_in = torch.flip(proj[:, mid + 1:, 3], dims=[1])
        future0 = run_steps(future_in, self.gru_aft.weight_hh_l0, self.gru_aft.bias_hh_l0)
        g_future = self._second_layer(self.gru_aft, future0)
        return self.integrate(g_all, g_past, g_future)


class TCMR(nn.Module):
    """State dict = the official `gen_state_dict` minus `regressor.smpl.*` (SMPL comes from the user's files)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = PoseForecast()
        self.regressor = IterativeRegressor(FEAT)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Windows [B, T, 2048] -> current-frame (pose6d, betas, cam), reference path."""
        return self.regressor(self.encoder(x), n_iter=3)

    def frame_cache(self, feats: torch.Tensor) -> torch.Tensor:
        return self.encoder.frame_projections(feats)

    def forward_cached(self, cache: torch.Tensor,
                       rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`cache` [n, 4, 3H] from `frame_cache`, `rows` [B, T] indices into it."""
        return self.regressor(self.encoder.forward_cached(cache[rows]), n_iter=3)
