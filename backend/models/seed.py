"""What the seed models' cards share, without importing torch: SPIN's backbone checkpoint and the runner.

TCMR and MPS-Net both ship the same `spin_model_checkpoint.pth.tar` (nkolot/SPIN's
`data/model_checkpoint.pt`) inside their own data zips; each card names its own zip as the source.
"""

from __future__ import annotations

from typing import Any

from .base import ModelOutput, ModelRequest
from .registry import Checkpoint, ModelCard, Runner

SPIN_FILE = "spin_model_checkpoint.pth.tar"
SPIN_NOTE = "; it is SPIN's HMR checkpoint (nkolot/SPIN, scripts/fetch_data.sh, data/model_checkpoint.pt)"
SPIN_BACKBONE = "SPIN HMR ResNet-50 (pooled 2048-d)"


def build_spin_hmr(official_pairing: bool = False) -> Any:
    from .backbones.hmr import SpinHMR

    return SpinHMR()


def spin_checkpoint(source: str) -> Checkpoint:
    """The SPIN backbone file, downloaded from `source` (a release's data zip)."""
    return Checkpoint(SPIN_FILE, source + SPIN_NOTE, f"the SPIN backbone ({SPIN_FILE})", wrapper="model",
                      signature="layer4.2.bn3.", build=build_spin_hmr, layout="spin_hmr", legacy_format=True)


def seed_runner(card: ModelCard) -> Runner:
    """The runner of a seed model: `seed_runner.run_seed` on its card (torch is imported on the first run)."""

    def run(request: ModelRequest) -> ModelOutput:
        from .seed_runner import run_seed

        return run_seed(request, card)

    return run
