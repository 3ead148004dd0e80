"""Runners for registered papers without a public release not yet built here (TAR): they say plainly they cannot run."""

from __future__ import annotations

from ..core.errors import BackendError, ErrorCode
from .base import ModelOutput, ModelRequest


def _refuse(name: str) -> ModelOutput:
    raise BackendError(ErrorCode.BAD_ARGUMENT,
                       f"model '{name}' is not finished: its paper has no public code or weights and this add-on "
                       "has no trained implementation of it, so it cannot produce motion; choose tcmr, mpsnet, "
                       "staf, str or blazepose (`python -m backend models`)")


def run_tar(request: ModelRequest) -> ModelOutput:
    return _refuse("tar")
