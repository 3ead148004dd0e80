"""Fixtures for the seed-model tests: layout manifests, a synthetic SMPL file and official-layout random weights.

Everything is generated once per session under a temporary folder; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from backend.core.threads import auto_threads
from backend.models.registry import all_cards
from backend.testing.smpl_synth import write_smpl_npz
from backend.testing.weights_synth import load_layouts, write_model_weights

LAYOUTS_PATH = Path(__file__).resolve().parents[2] / "data" / "official_layouts.json"
#: The seed models: cards with checkpoints that run on per-frame backbone features (TAR's card lists ReFit's
#: file, tested with ReFit's own layout in its own tests).
SEED_MODELS = tuple(card.name for card in all_cards() if card.checkpoints and card.feature_shape)

torch.set_num_threads(auto_threads())  # shared CI machines: never oversubscribe


@pytest.fixture(scope="session")
def layouts() -> dict[str, Any]:
    return load_layouts(LAYOUTS_PATH)


@pytest.fixture(scope="session")
def smpl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("smpl")
    write_smpl_npz(folder)
    return folder


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory, layouts: dict[str, Any]) -> Path:
    folder = tmp_path_factory.mktemp("weights")
    for model in SEED_MODELS:
        write_model_weights(model, folder, layouts)
    return folder


@pytest.fixture(scope="session")
def smpl_layer(smpl_dir: Path) -> Any:
    from backend.body.smpl_model import load_smpl_layer

    return load_smpl_layer(smpl_dir)
