"""STR (Zhang et al., BMVC 2022): spatio-temporal tendency reasoning, built from the paper's text.

No code or weights were published (the authors' repository only says "coming soon"); what the
paper leaves open is answered from the authors' rebuttal where it says something
(`shared/reference/str_facts.md`) and otherwise chosen here, each choice noted where it is made.

Input: a window of T = 16 per-frame SPIN ResNet-50 features F [B, T, 2048]. Data flow (Fig. 2):
- TTR (sec. 2.2, eq. 1-2) -> F_ttr [B, T, C];
- STE (sec. 2.3, eq. 3-5) -> STEF1, STEF2 [B, T, C];
- F_STR = Integration(F_ttr, STEF1, STEF2) (eq. 6);
- integration strategies (Algorithm 1) on F -> F_SF, F_CF;
- Z = Integration(F_SF, F_STR, F_CF) (eq. 7) -> SPIN's iterative SMPL regressor (3 iterations).

Choices the paper leaves open (each also noted on its class):
- which frame a window returns: the current frame T//2 (8 of 0..15), as TCMR, whose training
  recipe STR follows ("Following [2]"), and the frame `windows.window_rows` centres;
- GRU sizes: every GRU has hidden C/2 and, where its output meets F in a residual sum (TTR,
  STE), is bidirectional so its output has F's C = 2048 channels (TCMR's `gru_cur` shape);
- TTR's "three identical GRU" are one GRU applied to the three fragments: three separate copies
  add 37.8 M parameters and would put STR 27 % above the rebuttal's 127.19 M, one lands within 2 %;
- STE's convolution: channel-wise (depthwise) Conv1d, kernel 3, over time, as in TEA's motion
  excitation, which STE's "difference of convolved adjacent features" follows;
- Integration's FC stack: TCMR's (shared fc to 256, three tanh layers, softmax), which the
  rebuttal describes, after a ReLU + FC to 2048 per input kind;
- F^{c1}/F^{c2}: the window split in time at T//2 (past 0..7; current and future 8..15), one
  unidirectional GRU, the future half read backwards so both halves end next to the current frame;
- N = 2 self-integration heads per half (N is not given; 2 keeps the count near 127.19 M).

`STRConfig` keeps these sizes; the paper's configuration is the default. Smaller widths exist
only so the test-suite can train in seconds; they put one Linear in front (`width < feat_dim`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as nnf

from ..heads.regressor import IterativeRegressor
from .attention import TemporalAttention

#: Our checkpoint layout (README "STR checkpoint"): {"format": FORMAT, "version": 1, "config": {...},
#: "model": state dict of `STR` (no SMPL keys), "epoch": int, "metrics": {name: float}}.
FORMAT = "video-mocap-str"
FORMAT_VERSION = 1
FILE_NAME = "str_model.pth.tar"
N_FRAGMENTS = 4  # TTR's sub-fragments: the paper's and the rebuttal's default (62.0 / 61.6 / 62.6 for 2 / 4 / 8)


@dataclass(frozen=True)
class STRConfig:
    """Sizes of an STR network; the defaults are the paper's configuration."""

    feat_dim: int = 2048  # per-frame SPIN ResNet-50 feature
    width: int = 2048  # C inside TTR/STE; equal to feat_dim in the paper (no input projection)
    fusion: int = 2048  # Integration's per-input FC width (rebuttal: "FC to 2048"); the regressor's input
    n_self: int = 2  # N of Algorithm 1: self-integration heads per half
    seq_len: int = 16  # T (paper, sec. 3.1)

    def __post_init__(self) -> None:
        if self.seq_len % N_FRAGMENTS or self.seq_len % 2:
            raise ValueError(f"seq_len {self.seq_len} must split into {N_FRAGMENTS} fragments and two halves")
        if self.width % 2:
            raise ValueError(f"width {self.width} must be even (bidirectional GRUs of width/2)")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> STRConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown STR config keys {sorted(unknown)}")
        return cls(**{k: int(v) for k, v in data.items()})


def _bigru(width: int) -> nn.GRU:
    """Bidirectional GRU, hidden width/2: output has width channels, so it can meet F in a residual sum."""
    return nn.GRU(width, width // 2, batch_first=True, bidirectional=True)


class TTR(nn.Module):
    """Temporal tendency reasoning (eq. 1-2): [B, T, C] -> F + concat(F^o_1..F^o_4) [B, T, C].

    F is split in time into 4 fragments of T/4 frames. F^o_1 = F_1; for i = 2..4,
    F^o_i = GRU(F_i + F^o_{i-1}) + F^o_{i-1}: the GRU reads the fragment fused with the previous
    output (our reading of eq. 1's GRU(F^o_i), which builds F^o_i "from F_i and F^o_{i-1}", as the
    rebuttal puts it, and gives F^o_4 four fragments of receptive field). One bidirectional GRU
    (hidden C/2) serves the three fragments: "three identical GRU" (see the module docstring).
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.gru = _bigru(width)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        parts = f.chunk(N_FRAGMENTS, dim=1)
        outputs = [parts[0]]
        for part in parts[1:]:
            y, _ = self.gru(part + outputs[-1])
            outputs.append(y + outputs[-1])
        return f + torch.cat(outputs, dim=1)


class STE(nn.Module):
    """Spatial tendency enhancing (eq. 3-5): [B, T, C] -> (STEF1, STEF2), each [B, T, C].

    (a) time domain: S_F = channel-wise Conv1d(k=3) of F over time (our choice of the paper's
    "1D convolution"; TEA's motion excitation is channel-wise too). M1(t) = D_F(t) - D_f(t) with
    D the adjacent-frame differences; A1 = sigmoid(mean over time of M1); STEF1 = GRU(F) * A1.
    (b) frequency domain: F_fft = IFFT(g * FFT(F)) along time with a learnt gain g per frequency
    bin, initialised to 1 so FFT-IFFT "preserves human information" at the start and can raise the
    high-frequency motion bins; M2 = GRU(F) - F (the rebuttal takes this difference between the
    FFTs, which is the same by linearity); A2 = sigmoid(mean over time of M2); STEF2 = GRU(F_fft) * A2.
    "we send F and F_fft to the GRU": one bidirectional GRU (hidden C/2) serves all three uses.
    """

    def __init__(self, width: int, seq_len: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(width, width, kernel_size=3, padding=1, groups=width)
        self.gru = _bigru(width)
        self.freq_gain = nn.Parameter(torch.ones(seq_len // 2 + 1))

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.conv(f.transpose(1, 2)).transpose(1, 2)
        m1 = (s[:, 1:] - s[:, :-1]) - (f[:, 1:] - f[:, :-1])
        a1 = torch.sigmoid(m1.mean(dim=1, keepdim=True))
        f_g, _ = self.gru(f)
        stef1 = f_g * a1
        spectrum = torch.fft.rfft(f, dim=1) * self.freq_gain[None, :, None]
        f_fft = torch.fft.irfft(spectrum, n=f.shape[1], dim=1)
        a2 = torch.sigmoid((f_g - f).mean(dim=1, keepdim=True))
        g_fft, _ = self.gru(f_fft)
        return stef1, g_fft * a2


class Integration(nn.Module):
    """The integration network (Fig. 2; rebuttal): attention-weighted sum of a set of features.

    Each input kind k (a tensor [B, S_k, D_k] of S_k members) goes through ReLU + its own FC to
    `fusion` channels (rebuttal: 2048); all members are scored together by TCMR's attention (shared
    FC to 256, concatenation, three tanh FC layers, softmax) and summed with those weights -> [B, fusion].
    """

    def __init__(self, dims: tuple[int, ...], members: tuple[int, ...], fusion: int) -> None:
        super().__init__()
        self.members = members
        self.proj = nn.ModuleList(nn.Linear(d, fusion) for d in dims)
        self.attention = TemporalAttention(fusion, sum(members))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        parts = [p(nnf.relu(x if x.dim() == 3 else x[:, None])) for p, x in zip(self.proj, inputs)]
        return self.attention(torch.cat(parts, dim=1))


class IntegrationStrategies(nn.Module):
    """Algorithm 1: [B, T, C] -> (F_SF, F_CF), each [B, fusion].

    Split (c = 2, our choice): F^{c1} = frames 0..T/2-1 (past), F^{c2} = frames T/2..T-1 (current and
    future), read backwards, both through one unidirectional GRU of hidden C/2 ("GRU(SPLIT(F))").
    Self-integration: N heads per half, each its own Integration over the half's T/2 frames -> F_i^{c}.
    Cross-integration: F_SF = Integration(F^{c1}_{1..N}, F^{c2}_{1..N}); F_CF = Integration(F^{c1}, F^{c2}).
    """

    def __init__(self, width: int, fusion: int, n_self: int, seq_len: int) -> None:
        super().__init__()
        half, hidden = seq_len // 2, width // 2
        self.gru = nn.GRU(width, hidden, batch_first=True)
        self.self_c1 = nn.ModuleList(Integration((hidden,), (half,), fusion) for _ in range(n_self))
        self.self_c2 = nn.ModuleList(Integration((hidden,), (half,), fusion) for _ in range(n_self))
        self.cross_self = Integration((fusion, fusion), (n_self, n_self), fusion)
        self.cross_orig = Integration((hidden, hidden), (half, half), fusion)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        half = f.shape[1] // 2
        c1, _ = self.gru(f[:, :half])
        c2, _ = self.gru(torch.flip(f[:, half:], dims=[1]))
        s1 = torch.stack([head(c1) for head in self.self_c1], dim=1)
        s2 = torch.stack([head(c2) for head in self.self_c2], dim=1)
        return self.cross_self(s1, s2), self.cross_orig(c1, c2)


class STR(nn.Module):
    """STR on windows of static features: [B, T, feat_dim] -> current-frame (pose6d [B,144], betas [B,10], cam [B,3]).

    Every window is computed on its own (no batch statistics), so batched windows equal single ones.
    """

    crop_scale = 1.2  # SPIN/TCMR crops (STR uses the same precomputed SPIN features)

    def __init__(self, config: STRConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or STRConfig()
        self.input_proj = nn.Identity() if config.width == config.feat_dim else nn.Linear(config.feat_dim,
                                                                                            config.width)
        self.ttr = TTR(config.width)
        self.ste = STE(config.width, config.seq_len)
        self.str_integration = Integration((config.width,) * 3, (1, 1, 1), config.fusion)
        self.strategies = IntegrationStrategies(config.width, config.fusion, config.n_self, config.seq_len)
        self.final_integration = Integration((config.fusion,) * 3, (1, 1, 1), config.fusion)
        self.regressor = IterativeRegressor(config.fusion)

    def encode(self, f: torch.Tensor) -> torch.Tensor:
        """Projected windows [B, T, C] -> Z [B, fusion] for the current frame T//2."""
        if f.shape[1] != self.config.seq_len:
            raise ValueError(f"STR takes windows of {self.config.seq_len} frames, got {f.shape[1]}")
        mid = f.shape[1] // 2
        f_ttr = self.ttr(f)
        stef1, stef2 = self.ste(f)
        f_str = self.str_integration(f_ttr[:, mid], stef1[:, mid], stef2[:, mid])
        f_sf, f_cf = self.strategies(f)
        return self.final_integration(f_sf, f_str, f_cf)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Windows of features [B, T, feat_dim] -> (pose6d, betas, cam) of each window's frame T//2."""
        return self.regressor(self.encode(self.input_proj(x)), n_iter=3)

    def frame_cache(self, feats: torch.Tensor) -> torch.Tensor:
        """Per-frame work shared by all windows: the input projection (identity in the paper's sizes)."""
        return self.input_proj(feats)

    def forward_cached(self, cache: torch.Tensor,
                       rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`cache` [n, C] from `frame_cache`, `rows` [B, T] frame indices into it."""
        return self.regressor(self.encode(cache[rows]), n_iter=3)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
