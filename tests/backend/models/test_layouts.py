"""Layouts: every module's state dict equals the official manifest key for key and shape for shape."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch

from backend.models.backbones.hmr import SpinHMR
from backend.models.checkpoints import guess_kind
from backend.models.registry import all_cards

#: manifest entry -> the network its card builds, for every official checkpoint of every card (STR's is ours)
CHECKPOINTS = {spec.layout: spec for card in all_cards() for spec in card.checkpoints if spec.layout}
BUILDERS: dict[str, Callable[[], torch.nn.Module]] = {layout: spec.build for layout, spec in CHECKPOINTS.items()}
SMPLX_PARAMS_PER_LAYER = 5248  # the batch-64 betas/global_orient/body_pose nn.Parameters of smplx's SMPL
PAPER = {"tcmr": 108.89e6, "mpsnet": 39.63e6}


SMPL_LAYER = re.compile(r"(^|\.)smpl(_male|_female)?\.")  # TCMR's regressor.smpl., ReFit's smpl_male. ...


def _is_smpl(key: str) -> bool:
    return SMPL_LAYER.search(key) is not None


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", list(BUILDERS))
def test_state_dict_matches_manifest(name: str, layouts: dict[str, Any]) -> None:
    entry = layouts[name]
    ours = BUILDERS[name]().state_dict()
    official = {k: tuple(v) for k, v in entry["keys"].items() if not _is_smpl(k)}
    assert not any(_is_smpl(k) for k in ours), "the SMPL layer comes from the user's files, not the checkpoint"
    assert set(ours) == set(official), (sorted(set(ours) - set(official))[:5], sorted(set(official) - set(ours))[:5])
    wrong = {k: (tuple(v.shape), official[k]) for k, v in ours.items() if tuple(v.shape) != official[k]}
    assert not wrong, wrong
    for key, dtype in entry["dtypes_not_float32"].items():
        if not _is_smpl(key):
            assert str(ours[key].dtype) == f"torch.{dtype}", key
    dropped = [k for k in entry["keys"] if _is_smpl(k)]
    assert all(SMPL_LAYER.split(k, 1)[-1] for k in dropped)  # only SMPL-layer keys are left out


@pytest.mark.parametrize("name", list(BUILDERS))
def test_parameter_count_matches_official(name: str, layouts: dict[str, Any]) -> None:
    """Official totals include the smplx layers' unused batch parameters; ours carry no SMPL layer."""
    entry = layouts[name]
    smpl_layers = len({k.split("smpl.", 1)[0] for k in entry["keys"] if _is_smpl(k) and k.endswith("smpl.betas")})
    assert _params(BUILDERS[name]()) + smpl_layers * SMPLX_PARAMS_PER_LAYER == entry["param_count_total"]


@pytest.mark.parametrize("name", ["tcmr", "mpsnet"])
def test_parameter_counts_beside_the_papers(name: str) -> None:
    """The papers count the temporal model (with one SMPL layer's parameters) plus SPIN's whole HMR."""
    model, backbone = _params(BUILDERS[name]()), _params(SpinHMR())
    total = model + SMPLX_PARAMS_PER_LAYER + backbone
    print(f"\n{name}: temporal model {model:,} + SMPL layer params {SMPLX_PARAMS_PER_LAYER:,} + SPIN HMR {backbone:,} "
          f"= {total:,} = {total / 1e6:.2f} M (paper: {PAPER[name] / 1e6:.2f} M)")
    assert round(total / 1e6, 2) == round(PAPER[name] / 1e6, 2)


@pytest.mark.parametrize("layout", list(CHECKPOINTS))
def test_card_checkpoint_facts_match_the_manifest(layout: str, layouts: dict[str, Any]) -> None:
    """File name, wrapper and key signature on each card are the official file's."""
    spec, entry = CHECKPOINTS[layout], layouts[layout]
    assert spec.file == entry["file"] and spec.wrapper == entry["wrapper"]
    keys = [spec.only + k for k in entry["keys"]] if spec.only and not any(
        k.startswith(spec.only) for k in entry["keys"]) else list(entry["keys"])
    assert guess_kind(keys) == spec.describes
