"""Batching: windows run in batches equal each window run on its own (1e-5), cached == reference path.

Also: the official MoCA/TCFM pairing, behind its switch, is the official model one window at a
time when the batch is 1 and differs once windows share a batch (the bug being reproduced).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from backend.body.smpl_model import smpl_forward
from backend.models.registry import get_card
from backend.models.seed_runner import load_temporal, run_windows
from backend.models.windows import window_rows

N_FRAMES = {"tcmr": 19, "mpsnet": 19, "staf": 12}  # a few sliding windows plus static edges
WINDOW = {"tcmr": 16, "mpsnet": 16, "staf": 9}


def _features(model: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    shape = (N_FRAMES[model], *get_card(model).feature_shape)
    return torch.relu(torch.randn(shape, generator=gen)) * 0.5


_LOADED: dict[tuple[str, bool], torch.nn.Module] = {}


def _model(model: str, weights_dir: Path, official: bool = False) -> torch.nn.Module:
    key = (model, official)
    if key not in _LOADED:
        _LOADED[key] = load_temporal(get_card(model), weights_dir, "cpu", official_pairing=official)[0]
    return _LOADED[key]


def _run(model: str, net: torch.nn.Module, feats: torch.Tensor, batch: int, smpl) -> list[np.ndarray]:
    setup = get_card(model)
    uses = smpl if setup.smpl_in_forward else None
    return list(run_windows(net, setup, lambda lo, hi: feats[lo:hi], len(feats), WINDOW[model], batch, uses, "cpu"))


def _smpl(layer):
    return lambda rot, betas: smpl_forward(layer, rot, betas)[0]


def _close(a: list[np.ndarray], b: list[np.ndarray], atol: float = 1e-5) -> float:
    worst = max(float(np.abs(x - y).max()) for x, y in zip(a, b))
    assert worst <= atol, worst
    return worst


@pytest.mark.parametrize("model", ["tcmr", "mpsnet", "staf"])
def test_batched_equals_each_window_alone(model: str, weights_dir: Path, smpl_layer) -> None:
    net, feats = _model(model, weights_dir), _features(model)
    together = _run(model, net, feats, batch=len(feats), smpl=_smpl(smpl_layer))
    alone = _run(model, net, feats, batch=1, smpl=_smpl(smpl_layer))
    odd = _run(model, net, feats, batch=5, smpl=_smpl(smpl_layer))
    _close(together, alone)
    _close(odd, alone)
    assert all(np.isfinite(x).all() for x in together)


@pytest.mark.parametrize("model", ["tcmr", "mpsnet", "staf"])
def test_cached_path_equals_reference_forward(model: str, weights_dir: Path, smpl_layer) -> None:
    """forward_cached (per-frame work shared by windows) == the official-structured forward, window by window."""
    net, feats = _model(model, weights_dir), _features(model)
    rows = torch.from_numpy(window_rows(len(feats), WINDOW[model]))
    with torch.inference_mode():
        args = (feats[rows], _smpl(smpl_layer)) if get_card(model).smpl_in_forward else (feats[rows],)
        ref = net(*args)
    cached = _run(model, net, feats, batch=len(feats), smpl=_smpl(smpl_layer))
    _close([t.numpy() for t in ref], cached)


@pytest.mark.parametrize("model", ["mpsnet", "staf"])
def test_official_pairing_switch(model: str, weights_dir: Path) -> None:
    """MoCA (MPS-Net) and TCFM (STAF): with the switch, batch 1 is right and a batch mixes windows."""
    net = load_temporal(get_card(model), weights_dir, "cpu")[0]  # its own copy: the switch is flipped below
    block = net.nonlocalblock if model == "mpsnet" else net.tcfm.nonlocalblock
    channels = block.conv_theta.weight.shape[1]
    x = torch.relu(torch.randn(4, WINDOW[model], channels, generator=torch.Generator().manual_seed(5)))
    with torch.inference_mode():
        fixed = block(x)
        alone = torch.cat([block(x[i:i + 1]) for i in range(4)])
        block.official_pairing = True
        official_alone = torch.cat([block(x[i:i + 1]) for i in range(4)])
        official_batched = block(x)
    torch.testing.assert_close(fixed, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(official_alone, alone, atol=1e-5, rtol=0)
    assert (official_batched - alone).abs().max() > 1e-3  # each window sees its batch neighbours' maps

