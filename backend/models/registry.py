"""The model registry: one card per model, declared beside its runner with `@register_model(card)`.

A card holds every fact about a model that the rest of the backend needs: windows, weight files
(official names and where to get them), crop scale, backbone, checkpoint key prefixes, batch sizes,
default smoothing, whether it is finished, and the layout its synthetic test weights are written in.
`backend models`, `backend doctor`, the CLI's window check, the add-on's model list, the checkpoint
loader's messages, the seed runner and the tests all read the cards.

Adding a model = one module `backend/models/<name>.py` that declares its card and decorates its
runner, plus its name in MODEL_MODULES. Model modules are imported on the first look-up and must
not import torch at module level (listing models stays fast). A model module that fails to import
is a loud error (naming it), never a silently missing model.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..core.errors import BackendError, ErrorCode
from .base import ModelOutput, ModelRequest

WEIGHTS_HELP = "see README.md, section 'Models and weights'"

#: backend/models/<name>.py for each module that registers models, in listing order.
MODEL_MODULES: tuple[str, ...] = ("blazepose", "tcmr", "mpsnet", "staf", "str_model", "refit", "tar")

Runner = Callable[[ModelRequest], ModelOutput]


@dataclass(frozen=True)
class WeightFile:
    """A file the user downloads, under its official name, into the weights folder."""

    name: str
    source: str  # where the README says to get it
    alternative: str = ""  # a file that replaces this one when it is in the weights folder (TAR's trained file)

    def present(self, weights_dir: Path) -> bool:
        alternative = bool(self.alternative) and (weights_dir / self.alternative).is_file()
        return (weights_dir / self.name).is_file() or alternative

    def listing(self) -> str:
        """'name (from source)', and the alternative file when there is one."""
        text = f"{self.name} (from {self.source})"
        return f"{text}, or instead {self.alternative}" if self.alternative else text


@dataclass(frozen=True)
class Checkpoint:
    """One official checkpoint file and how its weights go into our network (`checkpoints.load_into`)."""

    file: str  # the official file name in the weights folder
    source: str  # where the official README says to download it
    describes: str  # for messages: "a TCMR checkpoint (tcmr_demo_model.pth.tar)"
    wrapper: str  # the top-level key the state dict sits under ("model", "gen_state_dict")
    signature: str  # a key prefix only this checkpoint has, for "it looks like ..." hints
    build: Callable[..., Any]  # (official_pairing=False) -> torch.nn.Module; imports torch when called
    only: str = ""  # keep only keys with this prefix (STAF's base_model.pt holds all of PyMAF)
    layout: str = ""  # its entry in tests/data/official_layouts.json (synthetic test weights)
    legacy_format: bool = False  # the official file is in torch's pre-1.6 format (SPIN), as is its test copy
    load: Callable[[Path], tuple[Any, str]] | None = None  # (model, sha256 prefix) when the layout is ours (STR)
    alternative: str = ""  # not needed when this file is in the weights folder (TAR: its trained file replaces ReFit's)


@dataclass(frozen=True)
class ModelCard:
    """Everything the backend knows about one model; `run` is set by `register_model`."""

    name: str
    title: str
    paper: str
    status: str  # one line: what works, or "not finished: ..." (then `run` refuses)
    windows: tuple[int, ...] = ()  # allowed window lengths; () = no temporal window
    default_window: int | None = None
    backbone: str | None = None  # None = not a torch model (runs on the CPU, no --device)
    needs_smpl: bool = False
    default_smooth: float = 0.0  # --smooth when the user gives none (temporal models already smooth)
    checkpoints: tuple[Checkpoint, ...] = ()  # seed models: (backbone, temporal model)
    crop_scale: float | None = None  # box side x this = the square crop the network sees (its demo's value)
    feature_shape: tuple[int, ...] = ()  # one frame's backbone features
    feature_batch: int = 8  # frames per backbone forward on the CPU (x8 on CUDA)
    window_batch: int = 0  # windows per temporal forward on the CPU (x4 on CUDA)
    official_batch: int = 0  # the official demo's window batch (used with --official-batching)
    smpl_in_forward: bool = False  # the temporal model calls SMPL inside its forward (STAF)
    run: Runner | None = None

    @property
    def finished(self) -> bool:
        return not self.status.startswith("not finished")

    @property
    def weight_files(self) -> tuple[WeightFile, ...]:
        return tuple(WeightFile(c.file, c.source, c.alternative) for c in self.checkpoints)

    def missing_weights(self, weights_dir: Path) -> list[str]:
        return [w.name for w in self.weight_files if not w.present(weights_dir)]

    def require_weights(self, weights_dir: Path) -> None:
        """WEIGHTS_MISSING naming every missing file under its official name and where to get it."""
        missing = [w for w in self.weight_files if not w.present(weights_dir)]
        if missing:
            listing = "; ".join(w.listing() for w in missing)
            raise BackendError(ErrorCode.WEIGHTS_MISSING,
                               f"model '{self.name}' needs these files in the weights folder {weights_dir}: "
                               f"{listing}. Keep the official file names ({WEIGHTS_HELP}), or pass --weights-dir.")

    def require_finished(self) -> None:
        if not self.finished:
            ready = ", ".join(s.name for s in all_cards() if s.finished)
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


REGISTRY: dict[str, ModelCard] = {}
_ORIGIN: dict[str, str] = {}  # card name -> the module that registered it
_loaded = False


def register_model(card: ModelCard) -> Callable[[Runner], Runner]:
    """Decorator: `@register_model(CARD)` on a model's runner registers the card with that runner."""
    module = sys._getframe(1).f_globals.get("__name__", "")  # the model module calling us: its listing place

    def decorate(run: Runner) -> Runner:
        if card.name in REGISTRY:
            raise ValueError(f"model {card.name!r} is registered twice (the second time by {module})")
        REGISTRY[card.name] = replace(card, run=run)
        _ORIGIN[card.name] = module
        return run

    return decorate


def unregister_model(name: str) -> None:
    """Remove a card (tests that register a toy model)."""
    REGISTRY.pop(name, None)
    _ORIGIN.pop(name, None)


def get_card(name: str) -> ModelCard:
    load_models()
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise BackendError(ErrorCode.BAD_ARGUMENT,
                           f"--model {name!r} is not a known model; choose one of: {known}") from None


def all_cards() -> list[ModelCard]:
    """Every card, in MODEL_MODULES order (then any registered from elsewhere, e.g. a test's toy model)."""
    load_models()
    place = {f"{__package__}.{name}": index for index, name in enumerate(MODEL_MODULES)}
    return sorted(REGISTRY.values(), key=lambda card: place.get(_ORIGIN.get(card.name, ""), len(place)))


def load_models() -> None:
    """Import every module of MODEL_MODULES once; each registers its cards. A module that fails to
    import is an INTERNAL error naming it, so a broken model cannot silently vanish from the list."""
    global _loaded
    if _loaded:
        return
    for name in MODEL_MODULES:
        try:
            importlib.import_module(f"{__package__}.{name}")
        except ImportError as exc:
            if exc.name and exc.name.split(".")[0] != "backend":
                raise  # a third-party package is missing: the CLI reports PACKAGES_MISSING, doctor lists it
            raise BackendError(ErrorCode.INTERNAL, f"model module backend/models/{name}.py cannot be imported "
                               f"({type(exc).__name__}: {exc}); the backend's files are broken or incomplete, "
                               "reinstall them") from exc
        except Exception as exc:
            raise BackendError(ErrorCode.INTERNAL,
                               f"model module backend/models/{name}.py cannot be imported "
                               f"({type(exc).__name__}: {exc}); the backend's files are broken or incomplete, "
                               "reinstall them") from exc
    _loaded = True
