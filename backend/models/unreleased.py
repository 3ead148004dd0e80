"""TAR: a registered paper without a public release, not built here. Its runner says plainly it cannot run."""

from __future__ import annotations

from ..core.errors import BackendError, ErrorCode
from .base import ModelOutput, ModelRequest
from .registry import ModelCard, register_model
from .seed import SPIN_BACKBONE


def _refuse(name: str) -> ModelOutput:
    raise BackendError(ErrorCode.BAD_ARGUMENT,
                       f"model '{name}' is not finished: its paper has no public code or weights and this add-on "
                       "has no trained implementation of it, so it cannot produce motion; choose tcmr, mpsnet, "
                       "staf, str or blazepose (`python -m backend models`)")


@register_model(ModelCard(
    name="tar",
    title="TAR (2023)",
    paper="Temporal-aware refinement for video-based human pose and shape recovery",
    status="not finished: no public code or weights; the architecture (window 9, local window 5) exists only in "
           "the paper and is not implemented or trained here, so it cannot produce motion",
    windows=(9,),
    default_window=9,
    backbone=SPIN_BACKBONE,
    needs_smpl=True,
))
def run_tar(request: ModelRequest) -> ModelOutput:
    return _refuse("tar")
