"""The model registry: name -> builder, backbone, windows, weight files and checkpoint adapter.

`backend models`, `backend doctor`, the CLI's window check and the add-on's model list all read
this one table. Runners are imported lazily so listing models never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BackendError, ErrorCode

WEIGHTS_HELP = "see README.md, section 'Models and weights'"


@dataclass(frozen=True)
class WeightFile:
    """A file the user downloads, under its official name, into the weights folder."""

    name: str
    source: str  # where the README says to get it


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    paper: str
    windows: tuple[int, ...]  # allowed window lengths; () = no temporal window
    default_window: int | None
    backbone: str | None
    weight_files: tuple[WeightFile, ...]
    needs_smpl: bool
    runner: str  # "module:function" relative to the backend package
    status: str  # one line: what works, or what is not finished yet
    default_smooth: float = 0.0  # --smooth when the user gives none (temporal models already smooth)

    @property
    def finished(self) -> bool:
        return not self.status.startswith("not finished")

    def load_runner(self) -> Callable:
        module_name, function_name = self.runner.split(":")
        module = importlib.import_module(module_name, package="backend")
        return getattr(module, function_name)

    def missing_weights(self, weights_dir: Path) -> list[str]:
        return [w.name for w in self.weight_files if not (weights_dir / w.name).is_file()]

    def require_weights(self, weights_dir: Path) -> None:
        """WEIGHTS_MISSING naming every missing file under its official name and where to get it."""
        missing = [w for w in self.weight_files if not (weights_dir / w.name).is_file()]
        if missing:
            listing = "; ".join(f"{w.name} (from {w.source})" for w in missing)
            raise BackendError(ErrorCode.WEIGHTS_MISSING,
                               f"model '{self.name}' needs these files in the weights folder {weights_dir}: "
                               f"{listing}. Keep the official file names ({WEIGHTS_HELP}), or pass --weights-dir.")

    def require_finished(self) -> None:
        if not self.finished:
            ready = ", ".join(s.name for s in all_specs() if s.finished)
            raise BackendError(ErrorCode.BAD_ARGUMENT,
                               f"model '{self.name}' cannot run: {self.status}. Models that run: {ready}")

    def resolve_window(self, window: int | None) -> int | None:
        """The window to run with; refuses a length the model does not accept, listing the allowed ones."""
        if not self.windows:
            if window not in (None, 0, 1):
                raise BackendError(ErrorCode.BAD_ARGUMENT,
                                   f"--window {window}: model '{self.name}' has no temporal window; "
                                   "use --smooth to set the smoothing strength")
            return None
        if window is None:
            return self.default_window
        if window not in self.windows:
            allowed = ", ".join(str(w) for w in self.windows)
            raise BackendError(ErrorCode.BAD_ARGUMENT,
                               f"--window {window}: model '{self.name}' accepts window lengths {allowed} "
                               f"(default {self.default_window})")
        return window


BLAZEPOSE = ModelSpec(
    name="blazepose",
    title="Built-in (MediaPipe BlazePose, offline)",
    paper="MediaPipe Pose (BlazePose GHUM) landmarks turned into SMPL rotations by inverse kinematics",
    windows=(),
    default_window=None,
    backbone=None,
    weight_files=(),
    needs_smpl=False,
    runner=".models.blazepose:run",
    status="ready: bundled with mediapipe 0.10.21, no download",
    default_smooth=1.0,  # per-frame landmarks jitter; the seed models smooth over their windows
)

REGISTRY: dict[str, ModelSpec] = {BLAZEPOSE.name: BLAZEPOSE}


def register(spec: ModelSpec) -> ModelSpec:
    REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> ModelSpec:
    _load_seed_models()
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(all_specs_names())
        raise BackendError(ErrorCode.BAD_ARGUMENT,
                           f"--model {name!r} is not a known model; choose one of: {known}") from None


def all_specs() -> list[ModelSpec]:
    _load_seed_models()
    return list(REGISTRY.values())


def all_specs_names() -> list[str]:
    return [s.name for s in all_specs()]


def _load_seed_models() -> None:
    """Seed models register themselves from `models/seed_registry.py` (no torch import there)."""
    try:
        importlib.import_module(".models.seed_registry", package="backend")
    except ModuleNotFoundError as exc:
        if exc.name != "backend.models.seed_registry":
            raise
