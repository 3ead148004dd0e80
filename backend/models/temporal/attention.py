"""Attentive integration of three features, as TCMR, MPS-Net (HAFI) and STAF (SAFM) use it.

A shared fc maps each feature to 256 (no activation: the official `relu` is never applied), the
three are concatenated and scored by three tanh-activated layers; the softmax of the scores
weights the sum. `hierarchical_fusion` is HAFI / SAFM: three groups of three adjacent frames are
each fused, then the three results are fused again with the same module.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class TemporalAttention(nn.Module):
    def __init__(self, attention_size: int, seq_len: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(attention_size, 256)
        self.attention = nn.Sequential(
            nn.Linear(256 * seq_len, 256), nn.Tanh(),
            nn.Linear(256, 256), nn.Tanh(),
            nn.Linear(256, seq_len), nn.Tanh(),
        )

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """[B, S, C] -> attention weights [B, S]."""
        return torch.softmax(self.attention(self.fc(x).flatten(1)), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, S, C] -> weighted sum [B, C]."""
        return (x * self.scores(x)[:, :, None]).sum(dim=1)


def hierarchical_fusion(attention: TemporalAttention, z: torch.Tensor,
                        groups: tuple[tuple[int, int, int], ...]) -> torch.Tensor:
    """[B, T, C] -> [B, C]: fuse each group of frames (past, current, future), then fuse the three."""
    fused = [attention(z[:, list(g)]) for g in groups]
    return attention(torch.stack(fused, dim=1))
