"""Runners for the registered papers without a public release (STR, TAR): they say plainly they cannot run."""

from __future__ import annotations

from ..core.errors import BackendError, ErrorCode
from .base import ModelOutput, ModelRequest


def _refuse(name: str) -> ModelOutput:
    raise BackendError(ErrorCode.BAD_ARGUMENT,
                       f"model '{name}' is not finished: its paper has no public code or weights and this add-on "
                       "has no trained implementation of it, so it cannot produce motion; choose tcmr, mpsnet, "
                       "staf or blazepose (`python -m backend models`)")


def run_str(request: ModelRequest) -> ModelOutput:
    return _refuse("str")


def run_tar(request: ModelRequest) -> ModelOutput:
    return _refuse("tar")
