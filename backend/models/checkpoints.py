"""Loading the official checkpoints unchanged, safely, with errors that name the file.

Every file is read with `torch.load(weights_only=True)`. The official training checkpoints
(TCMR, MPS-Net, STAF) also store `performance`, a numpy scalar from `np.mean`, so exactly the two
globals that need are allowed: numpy's scalar constructor and `numpy.dtype`. Anything else that
needs unpickling is refused with a message to run `python -m backend convert-checkpoint IN OUT`
on a file the user trusts; `convert_checkpoint` is that command: it loads with full unpickling
once and writes the tensors back in a plain file.
"""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import BackendError, ErrorCode
from ..core.outputs import atomic_output

if TYPE_CHECKING:  # torch is imported inside the functions: the CLI imports this module for every command
    import torch

#: numpy globals the official training checkpoints need for `performance` (np.float64, or
#: np.float32 from float32 errors): the scalar constructor under the module names numpy 1.x and
#: 2.x pickle it with, `numpy.dtype`, and the two dtype classes numpy >= 1.25 rebuilds it as.
_SCALAR = np.core.multiarray.scalar
ALLOWED_NUMPY_GLOBALS: list[Any] = [
    (_SCALAR, "numpy.core.multiarray.scalar"),
    (_SCALAR, "numpy._core.multiarray.scalar"),
    np.dtype,
    *[getattr(np.dtypes, name) for name in ("Float64DType", "Float32DType") if hasattr(np, "dtypes")],
]

def convert_hint(path: Path) -> str:
    return (f"if you trust this file, convert it once with `python -m backend convert-checkpoint {path} "
            f"{path.with_name(path.name + '.converted')}` and use the converted file under the official name")


def load_checkpoint(path: Path) -> Any:
    """`torch.load(weights_only=True)` plus the numpy scalar allow-list; clear errors naming the file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise BackendError(ErrorCode.WEIGHTS_MISSING, f"weights file not found: {path}")
    try:
        with torch.serialization.safe_globals(ALLOWED_NUMPY_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Unsupported global" in text or "Can only build" in text or "not an allowed global" in text:
            detail = next((line.strip() for line in text.splitlines()
                           if "Unsupported global" in line or "Can only build" in line), "")
            raise BackendError(ErrorCode.WEIGHTS_INVALID,
                               f"{path} needs unpickling of Python objects that are not weights "
                               f"({detail.split(':', 1)[-1].strip() or 'arbitrary objects'}); it was not loaded. "
                               + convert_hint(path)) from exc
        raise BackendError(ErrorCode.WEIGHTS_INVALID,
                           f"{path} is truncated or corrupt ({_short(exc)}); download it again") from exc
    except Exception as exc:  # noqa: BLE001 - zip, legacy-format and struct errors all mean an unreadable file
        raise BackendError(ErrorCode.WEIGHTS_INVALID,
                           f"{path} is truncated or corrupt, not a readable PyTorch checkpoint "
                           f"({_short(exc)}); download it again") from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def guess_kind(keys: Iterable[str]) -> str | None:
    """Which official checkpoint these keys look like (the cards' key signatures), for error messages."""
    from .registry import all_cards

    keys = list(keys)
    # temporal models first: a training checkpoint may also hold its backbone's keys
    for spec in [c for card in all_cards() for c in reversed(card.checkpoints)]:
        if spec.signature and any(k.startswith(spec.signature) for k in keys):
            return spec.describes
    return None


def unwrap(ckpt: Any, wrapper: str, path: Path, expected: str) -> dict[str, torch.Tensor]:
    """The state dict under the official top-level key (`gen_state_dict` or `model`)."""
    if isinstance(ckpt, dict) and isinstance(ckpt.get(wrapper), dict):
        return ckpt[wrapper]
    found = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
    looks = guess_kind(ckpt) if isinstance(ckpt, dict) else None
    hint = f"; it looks like a bare state dict of {looks}" if looks else ""
    raise BackendError(ErrorCode.WEIGHTS_INVALID,
                       f"{path} is not {expected}: expected the official top-level key '{wrapper}', "
                       f"found {found}{hint}")


def load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, expected: str,
               only: str = "", drop_smpl: bool = True) -> None:
    """Load `state` (only keys starting with `only`, SMPL-layer keys dropped) into `module`, strict=True."""
    selected = {k: v for k, v in state.items() if k.startswith(only)}
    if drop_smpl:
        selected = {k: v for k, v in selected.items() if ".smpl." not in f".{k}"}
    own = module.state_dict()
    missing = [k for k in own if k not in selected]
    unexpected = [k for k in selected if k not in own]
    if missing or unexpected:
        looks = guess_kind(state)
        hint = f" It looks like {looks}." if looks and looks != expected else ""
        raise BackendError(ErrorCode.WEIGHTS_INVALID,
                           f"{path} is not {expected}: {len(missing)} expected keys are missing "
                           f"(e.g. {missing[:3]}) and {len(unexpected)} keys are not ours "
                           f"(e.g. {unexpected[:3]}).{hint} "
                           "Check that each file sits under its official name.")
    wrong = [f"{k} {tuple(v.shape)} (expected {tuple(own[k].shape)})"
             for k, v in selected.items() if tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        raise BackendError(ErrorCode.WEIGHTS_INVALID,
                           f"{path} is not {expected}: tensor shapes differ, e.g. {wrong[:3]}")
    module.load_state_dict(selected, strict=True)


def load_into(module: torch.nn.Module, path: Path, wrapper: str, expected: str, only: str = "") -> str:
    """Read an official file and load it into `module`; returns the file's sha256 prefix for provenance."""
    ckpt = load_checkpoint(path)
    load_state(module, unwrap(ckpt, wrapper, path, expected), path, expected, only)
    return file_digest(path)


def load_trained(path: Path, fmt: str, version: int, kind: str, retrain: str,
                 build: Callable[[dict[str, Any]], torch.nn.Module], looks_under: str) -> torch.nn.Module:
    """Our own trained-model file (`training/loop.save_trained`) -> the network with its stored sizes and weights.

    `kind`: "an STR", "a TAR" (messages; `backend train <name in lower case>` wrote the file); `build(config)`
    makes the network from the file's stored config dict (KeyError, TypeError or ValueError: an unusable config;
    a BackendError it raises passes through); `looks_under`: the top-level key whose state dict `guess_kind`
    reads when the file is not ours. Read with the safe loader; WEIGHTS_MISSING / WEIGHTS_INVALID name the
    file and say what to do (`retrain`, or which file it is instead).
    """
    name = kind.split()[-1]
    path = Path(path)
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != fmt:
        looks = guess_kind(ckpt.get(looks_under, ckpt) if isinstance(ckpt, dict) else {})
        what = f"it looks like {looks}" if looks else f"it has no 'format': '{fmt}' entry"
        if isinstance(ckpt, dict) and {"optimizer", "scheduler", "model"} <= set(ckpt):
            what = "it is a resumable training checkpoint (last.pt); use the file `train` wrote to --out"
        raise BackendError(ErrorCode.WEIGHTS_INVALID, f"{path} is not {kind} checkpoint written by `backend train "
                                                      f"{name.lower()}`: {what}. No official {name} weights exist; "
                                                      f"{retrain}")
    if ckpt.get("version") != version:
        raise BackendError(ErrorCode.WEIGHTS_INVALID, f"{path} is {name} layout version {ckpt.get('version')}; this "
                                                      f"backend reads version {version}; {retrain}")
    try:
        model = build(dict(ckpt["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BackendError(ErrorCode.WEIGHTS_INVALID, f"{path} has an unusable {name} config ({exc}); "
                                                      f"{retrain}") from exc
    load_state(model, ckpt.get("model") or {}, path, f"{kind} checkpoint", drop_smpl=False)
    return model


def file_digest(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _plain(value: Any) -> Any:
    """Tensors, containers and numbers only; numpy scalars become Python numbers, arrays tensors."""
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if isinstance(value, (int, float, bool, str, type(None))):
        return value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if isinstance(k, (str, int))}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return None  # anything else (custom classes) is dropped


def convert_checkpoint(src: Path, dst: Path) -> Path:
    """Rewrite a trusted checkpoint that needs unpickling as a plain one `torch.load(weights_only=True)` reads.

    Only run on a file you trust: this one load uses full unpickling. Tensors, numbers and
    strings are kept under their keys; other Python objects are dropped.
    """
    import torch

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise BackendError(ErrorCode.WEIGHTS_MISSING, f"checkpoint not found: {src}")
    try:
        ckpt = torch.load(src, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any failure here means the file is unreadable
        raise BackendError(ErrorCode.WEIGHTS_INVALID, f"{src} cannot be read ({_short(exc)})") from exc
    plain = _plain(ckpt)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dst) as handle:
        torch.save(plain, handle)
    return dst


def register(sub: argparse._SubParsersAction) -> None:
    """`python -m backend convert-checkpoint IN OUT` (picked up by cli._register_optional)."""
    parser = sub.add_parser("convert-checkpoint",
                            help="rewrite a trusted checkpoint that needs unpickling as plain weights",
                            description="Load IN once with full unpickling (only for a file you trust) and write "
                                        "its tensors to OUT, which then loads with torch.load(weights_only=True).")
    parser.add_argument("src", metavar="IN")
    parser.add_argument("dst", metavar="OUT")
    parser.set_defaults(func=_convert_command)


def _convert_command(args: argparse.Namespace) -> int:
    from ..core.events import EventStream

    out = convert_checkpoint(Path(args.src).expanduser(), Path(args.dst).expanduser())
    EventStream().done(str(out))
    return 0
