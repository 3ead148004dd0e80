"""TAR's network (`temporal/tar_net.py`): GTE and LTE against the paper's equations, batching, and the
ablation that proves TAR's shared parts are ReFit's.

Weights are random (no official TAR or ReFit weights are downloadable here); the SMPL model is the
synthetic one. The ablation test runs the real HRNet-W48 layout at a 128 px crop (the same network;
a quarter of the pixels keeps it near 10 s on two CPU cores). The CLI run uses the real layout at
ReFit's 256 px from the random ReFit-layout file (`weights_synth.write_refit_checkpoint`): the slow
one, ~2-4 min on two shared cores (40 HRNet-W48 frames).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as nnf

from backend.body.smpl_model import smpl_forward
from backend.core.motion_file import REQUIRED_KEYS, load_motion_file
from backend.models.heads.refit import CropCamera
from backend.models.refit import WEIGHTS_PATH as REFIT_FILE
from backend.models.tar import refit_init
from backend.models.temporal.refit import ReFit
from backend.models.temporal.tar_net import GTE, LTE, TAR, ConvGRUCell, TARConfig, neutral_mean_
from tests.conftest import SINGLE, run_backend


def _vertices(layer):
    return lambda rot, betas: smpl_forward(layer, rot, betas)[0]


def _camera(batch: int, crop: int = 256, seed: int = 0) -> CropCamera:
    g = torch.Generator().manual_seed(seed)
    centre = torch.tensor([640.0, 360.0]) + 60 * torch.randn(batch, 2, generator=g)
    side = 300 + 40 * torch.rand(batch, generator=g)
    return CropCamera(centre, side, torch.full((batch,), 1468.6), torch.tensor([[640.0, 360.0]]).repeat(batch, 1),
                      crop_size=crop)


def _perturb(model: torch.nn.Module, seed: int = 3, scale: float = 0.02) -> None:
    """Random non-zero values in every parameter and BN statistic (so no part is an accidental identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.dtype.is_floating_point and not name.startswith("init_"):
                if name.endswith("running_var"):
                    tensor.copy_(0.5 + torch.rand(tensor.shape, generator=g))
                else:
                    tensor.add_(scale * torch.randn(tensor.shape, generator=g))


def test_conv_gru_is_equations_1_to_4() -> None:
    torch.manual_seed(0)
    cell = ConvGRUCell(5).eval()
    _perturb(cell, scale=0.3)
    m, h = torch.randn(2, 5, 9, 9), torch.randn(2, 5, 9, 9)
    wz, wr, ww = cell.input_gates.weight.chunk(3)
    bz, br, bw = cell.input_gates.bias.chunk(3)
    uz, ur = cell.hidden_gates.weight.chunk(2)
    u = cell.hidden_candidate.weight

    def conv(x: torch.Tensor, k: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        return nnf.conv2d(x, k, b, padding=1)

    z = torch.sigmoid(conv(m, wz, bz) + conv(h, uz))  # eq. 1
    r = torch.sigmoid(conv(m, wr, br) + conv(h, ur))  # eq. 2 (U_r: see ConvGRUCell)
    candidate = torch.tanh(conv(m, ww, bw) + conv(r * h, u))  # eq. 3
    expected = (1 - z) * h + z * candidate  # eq. 4
    assert torch.allclose(cell(m, h), expected, atol=1e-6)


def test_lte_splits_at_the_mid_frame_and_starts_from_zero() -> None:
    torch.manual_seed(1)
    lte = LTE(channels=4, length=5).eval()
    _perturb(lte, scale=0.3)
    maps = torch.randn(3, 5, 4, 8, 8)
    zero = torch.zeros(3, 4, 8, 8)
    past = zero
    for t in (0, 1, 2):
        past = lte.past(maps[:, t], past)
    future = zero
    for t in (4, 3, 2):
        future = lte.future(maps[:, t], future)
    expected = lte.project(torch.cat([past, future], dim=1))
    out = lte(maps)
    assert out.shape == (3, 4, 8, 8)
    assert torch.allclose(out, expected, atol=1e-6)
    # each branch sees only its half: swapping the two sides changes the result
    assert not torch.allclose(lte(maps.flip(1)), out, atol=1e-4)
    with pytest.raises(ValueError, match="5 local maps"):
        lte(maps[:, :4])


def test_gte_is_order_aware_and_averages_with_a_1d_convolution() -> None:
    torch.manual_seed(2)
    gte = GTE(dim=384, seq_len=9).eval()
    features = torch.randn(4, 9, 384)
    out = gte(features)
    assert out.shape == (4, 384)
    encoded = gte.encoder(features + gte.position)
    weights = gte.average.weight.view(9)
    assert torch.allclose(out, (weights[None, :, None] * encoded).sum(1) + gte.average.bias, atol=1e-5)
    assert torch.allclose(weights, torch.full((9,), 1 / 9))  # starts as the plain mean
    assert not torch.allclose(gte(features.flip(1)), out, atol=1e-4)  # the positional table sees time order
    layers = gte.encoder.layers
    assert len(layers) == 4 and layers[0].self_attn.num_heads == 8
    with pytest.raises(ValueError, match="windows of 9"):
        gte(features[:, :8])


@pytest.fixture(scope="module")
def heads() -> TAR:
    """Full-size TAR heads (real HRNet-W48 layout), random weights, neutral mean parameters."""
    torch.manual_seed(4)
    model = TAR().eval()
    neutral_mean_(model)
    _perturb(model)
    return model


def test_batched_windows_equal_single_windows(heads: TAR, smpl_layer) -> None:
    """Six windows with full-size inputs (z [9, 384], correlation maps [5, 67, 64, 64]) in one batch and alone."""
    torch.manual_seed(5)
    z, corr, camera = torch.randn(6, 9, 384).relu(), torch.randn(6, 5, 67, 64, 64), _camera(6)
    vertices = _vertices(smpl_layer)
    with torch.inference_mode():
        together = heads.forward_windows(z, corr, camera, vertices)
        worst = 0.0
        for i in range(6):
            one = CropCamera(camera.center[i:i + 1], camera.side[i:i + 1], camera.focal[i:i + 1],
                             camera.principal[i:i + 1])
            alone = heads.forward_windows(z[i:i + 1], corr[i:i + 1], one, vertices)
            for a, b in zip(together, alone):
                for x, y in ((a.pose6d, b.pose6d), (a.shape, b.shape), (a.cam, b.cam)):
                    worst = max(worst, float((x[i:i + 1] - y).abs().max()))
    print(f"\nTAR batched vs single windows: max |diff| {worst:.2e} over 6 windows x 6 estimates")
    assert len(together) == 6 and worst <= 1e-5
    assert all(torch.isfinite(e.pose6d).all() for e in together)


def test_without_gte_and_lte_tar_is_refit_per_frame(smpl_layer) -> None:
    """Same weights: TAR with both temporal encoders ablated == ReFit's forward on the mid-frame (<= 1e-5)."""
    torch.manual_seed(6)
    refit = ReFit().eval()
    neutral_mean_(refit)
    _perturb(refit)
    tar = TAR(TARConfig(crop_size=128)).eval()
    missing, unexpected = tar.load_state_dict(refit.state_dict(), strict=False)
    assert not unexpected and {k.split(".")[0] for k in missing} == {"gte", "lte"}
    crops, camera, vertices = torch.randn(1, 9, 3, 128, 128), _camera(1, crop=128), _vertices(smpl_layer)
    with torch.inference_mode():
        # ReFit's backbone on the same 9 crops (one batch, as TAR runs it: conv kernels pick their algorithm by
        # batch size, ~1e-5 apart after HRNet), then ReFit's per-frame forward of the mid-frame from its outputs
        feature, z = refit.backbone(crops[0])
        reference = refit.forward_features(feature[4:5], z[4:5], camera, vertices)
        tar.ablate_gte = tar.ablate_lte = True
        ablated = tar(crops, camera, vertices)
        tar.ablate_gte = tar.ablate_lte = False
        full = tar(crops, camera, vertices)
    assert len(ablated) == len(reference) + 1  # TAR also returns the initial estimate
    worst = max(float((a.pose6d - b.pose6d).abs().max().item()) for a, b in zip(ablated[1:], reference))
    worst = max(worst, *(float((a.cam - b.cam).abs().max()) for a, b in zip(ablated[1:], reference)),
                *(float((a.shape - b.shape).abs().max()) for a, b in zip(ablated[1:], reference)))
    differs = float((full[-1].pose6d - reference[-1].pose6d).abs().max())
    print(f"\nTAR with GTE+LTE ablated vs ReFit: max |diff| {worst:.2e}; with them: {differs:.2e}")
    assert worst <= 1e-5
    assert differs > 1e-3  # the switches matter: GTE and LTE do change the result
    assert np.isfinite(differs)


def test_tar_initialises_from_the_official_refit_layout(weights_dir: Path) -> None:
    """Random weights in the exact official ReFit layout (refit_layout.json): every ReFit key loads into TAR
    under its own name; the keys left at their initialisation are listed, and they are exactly GTE's and LTE's."""
    path = weights_dir / REFIT_FILE
    model, untrained = refit_init(path)
    state = torch.load(path, map_location="cpu", weights_only=True)["model"]
    own = model.state_dict()
    assert untrained and {k.split(".")[0] for k in untrained} == {"gte", "lte"}
    assert set(untrained) == {k for k in own if k.startswith(("gte.", "lte."))}
    shared = [k for k in own if k not in untrained]
    assert all(torch.equal(own[k], state[k]) for k in shared)
    n_new = sum(own[k].numel() for k in untrained)
    print(f"\nTAR from ReFit's layout: {len(shared)} ReFit tensors loaded, {len(untrained)} GTE/LTE tensors "
          f"({n_new / 1e6:.2f} M numbers) untrained")


def test_run_tar_from_the_refit_file_through_the_cli(weights_dir: Path, smpl_dir: Path, tmp_path: Path) -> None:
    """The real layout (HRNet-W48) on the 40-frame sample, initialised from the random ReFit-layout file."""
    out = tmp_path / "tar.npz"
    started = time.monotonic()
    result = run_backend("run", str(SINGLE), "--model", "tar", "--out", str(out), "--weights-dir", str(weights_dir),
                         "--smpl-dir", str(smpl_dir), timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [e for e in result.events if e.get("event") == "warning" and e.get("code") == "TAR_UNTRAINED"]
    assert len(warnings) == 1 and "61 GTE and LTE tensors untrained" in warnings[0]["message"]
    motion = load_motion_file(out)
    assert set(REQUIRED_KEYS) <= set(motion) and str(motion["model"]) == "tar" and int(motion["window"]) == 9
    assert motion["poses"].shape == (40, 24, 3) and motion["transl"].shape == (40, 3)
    assert np.isfinite(motion["poses"]).all() and np.isfinite(motion["transl"]).all()
    assert np.isfinite(motion["joints3d"]).all()
    meta = json.loads(str(motion["meta"]))
    assert meta["tar_init"] == "refit" and REFIT_FILE in meta["weights_sha256"]
    assert meta["config"] == {"seq_len": 9, "local_len": 5, "backbone": "hrnet_w48", "crop_size": 256}
    print(f"\nrun --model tar (HRNet-W48, 40 frames) through the CLI: {time.monotonic() - started:.0f} s; "
          f"timings {meta['timings']}")
