"""The shared training loop for the temporal models trained here (STR, TAR).

A model plugs in as a `TrainTask` (build the network, loss of one batch, validation metrics,
export of the trained file). The loop owns what every such training needs:
- Adam (gradient norm clipped at `clip_norm` when set: TAR, as ReFit), the learning rate cut
  by `lr_factor` when the validation metric (MPJPE: the papers' "3D
  pose accuracy") has not improved for `patience` epochs (torch's ReduceLROnPlateau);
- epochs of a fixed number of steps (TCMR's NUM_ITERS_PER_EPOCH, 500), batches drawn from a
  seeded permutation per epoch, torch's RNG (dropout) reseeded per epoch: a resumed run repeats
  the uninterrupted one exactly (same threads, same device);
- progress on stdout as JSON lines (`train`: epoch, step, loss, lr, eta_s; `epoch`: the metrics);
- `RUN_DIR/last.pt` after every epoch (model, optimizer, scheduler, history), written atomically
  and loaded with `torch.load(weights_only=True)`; `--resume` continues after the last full epoch;
- SIGTERM/SIGINT stop between steps (exit 130) and keep the last epoch's checkpoint;
- the trained file is exported whenever the validation metric improves (or every epoch without one).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ..core import cancel
from ..core.errors import BackendError, Cancelled, ErrorCode
from ..core.events import EventStream
from ..core.outputs import atomic_output


@dataclass(frozen=True)
class TrainOptions:
    run_dir: Path
    out: Path
    epochs: int = 30  # STR sec. 3.1
    iters_per_epoch: int = 500  # TCMR's TRAIN.NUM_ITERS_PER_EPOCH
    batch: int = 32  # STR sec. 3.1
    lr: float = 5e-5  # STR sec. 3.1
    lr_factor: float = 0.1  # "reduced by a factor of 10"
    patience: int = 5  # "if the accuracy of the 3D pose does not improve after 5 epochs"
    seed: int = 1  # TCMR's SEED_VALUE
    device: str = "cpu"
    resume: bool = False
    clip_norm: float = 0.0  # 0 = no clipping (STR); TAR clips at ReFit's 4.0


class TrainTask(Protocol):
    """What a model provides to the loop."""

    name: str

    def build(self) -> torch.nn.Module: ...

    def n_windows(self) -> int: ...

    def batch_loss(self, model: torch.nn.Module, windows: np.ndarray) -> dict[str, torch.Tensor]: ...

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]: ...

    def export(self, model: torch.nn.Module, path: Path, epoch: int, metrics: dict[str, float]) -> None: ...

    def describe(self) -> dict[str, Any]: ...


def resolve_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise BackendError(ErrorCode.BAD_ARGUMENT, "--device cuda: torch sees no CUDA GPU; use --device cpu or auto")
    return requested


def _save(path: Path, payload: dict[str, Any]) -> None:
    with atomic_output(path) as handle:
        torch.save(payload, handle)


def save_trained(model: torch.nn.Module, path: Path, fmt: str, version: int, epoch: int, metrics: dict[str, float],
                 **extra: Any) -> None:
    """Write our trained-model file (README: 'STR checkpoint', 'TAR'), read back with `weights_only=True`.

    Plain tensors and numbers only: {format: `fmt`, version, config (`model.config.to_dict()`), model (the state
    dict on the CPU), epoch, metrics (floats), **extra}. Parent folders are made; the file appears atomically.
    """
    payload = {"format": fmt, "version": version, "config": model.config.to_dict(),
               "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "epoch": int(epoch), "metrics": {k: float(v) for k, v in metrics.items()}, **extra}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(path, payload)


def index_windows(dbs: Sequence[Any], seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Every training window of several datasets (anything with `window_starts(seq_len)`), sampled together.

    Returns the windows' first rows [W] (each in its own dataset's rows) and the index of the dataset each
    window belongs to [W] int64, datasets in the given order.
    """
    per_db = [db.window_starts(seq_len) for db in dbs]
    return np.concatenate(per_db), np.concatenate([np.full(len(s), i) for i, s in enumerate(per_db)]).astype(np.int64)


def group_windows(windows: np.ndarray, starts: np.ndarray, start_db: np.ndarray, dbs: Sequence[Any],
                  seq_len: int) -> tuple[np.ndarray, list[tuple[np.ndarray, Any]], np.ndarray]:
    """A batch of windows (indices [B] into `index_windows`' arrays) split by the dataset each is read from.

    Returns the rows [B, T] of every window, one (positions in the batch, dataset) pair per dataset the batch
    draws from, and the permutation [B] that puts data concatenated pair by pair back into the batch's own
    order (one dataset: the identity).
    """
    rows = starts[windows][:, None] + np.arange(seq_len)[None]
    owner = start_db[windows]
    parts = [(np.flatnonzero(owner == i), db) for i, db in enumerate(dbs) if np.any(owner == i)]
    return rows, parts, np.argsort(np.concatenate([at for at, _ in parts]))


def _load_resume(path: Path) -> dict[str, Any]:
    from ..models.checkpoints import load_checkpoint

    if not path.is_file():
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--resume: no checkpoint at {path}; start without --resume")
    return load_checkpoint(path)


def train(task: TrainTask, options: TrainOptions, events: EventStream) -> dict[str, Any]:
    """Run (or resume) a training; returns the final state summary {epoch, step, history, val, best}."""
    run_dir = Path(options.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    last = run_dir / "last.pt"
    device = options.device
    torch.manual_seed(options.seed)
    model = task.build().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=options.lr_factor,
                                                           patience=options.patience)
    state: dict[str, Any] = {"epoch": 0, "step": 0, "history": [], "val": [], "best": math.inf}
    if options.resume:
        saved = _load_resume(last)
        if saved.get("task") != task.describe():
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"--resume: {last} was made by another configuration "
                                                       f"({saved.get('task')}); use a new --run-dir")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = {k: saved[k] for k in state}
    elif last.exists():
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{last} exists: pass --resume to continue it, or choose "
                                                   "another --run-dir")
    n_windows = task.n_windows()
    if n_windows == 0:
        raise BackendError(ErrorCode.BAD_ARGUMENT, "the training data has no sequence long enough for one window")
    total = options.epochs * options.iters_per_epoch
    started, first_step = time.monotonic(), state["step"]
    for epoch in range(state["epoch"], options.epochs):
        model.train()
        torch.manual_seed(options.seed * 100_003 + epoch)
        for windows in _epoch_batches(n_windows, options, epoch):
            if cancel.requested():
                if state["epoch"] == 0:
                    raise Cancelled("cancelled during epoch 1, before the first checkpoint; run the same command "
                                    "again (without --resume) to start over")
                raise Cancelled(f"cancelled during epoch {epoch + 1}; the last checkpoint is {last} (after epoch "
                                f"{state['epoch']}): continue with --resume")
            terms = task.batch_loss(model, windows)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            if options.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), options.clip_norm)
            optimizer.step()
            state["step"] += 1
            loss = float(terms["loss"].detach())
            if not math.isfinite(loss):
                raise BackendError(ErrorCode.INTERNAL, f"training diverged at step {state['step']} (loss {loss})")
            state["history"].append(loss)
            done = state["step"] - first_step
            eta = (time.monotonic() - started) / done * (total - state["step"])
            events.progress("train", state["step"], total, epoch=epoch + 1, loss=round(loss, 6),
                            lr=optimizer.param_groups[0]["lr"], eta_s=round(eta, 1))
        model.eval()
        metrics = task.evaluate(model)
        state["epoch"] = epoch + 1
        state["val"].append(metrics)
        score = metrics.get("mpjpe_mm", math.nan)
        if math.isfinite(score):
            scheduler.step(score)
        improved = not math.isfinite(score) or score < state["best"]
        if improved:
            state["best"] = score if math.isfinite(score) else state["best"]
            task.export(model, Path(options.out), epoch + 1, metrics)
        _save(last, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "task": task.describe(),
                     "options": {k: str(v) for k, v in asdict(options).items()}, **state})
        events.progress("epoch", epoch + 1, options.epochs, **{k: round(v, 3) for k, v in metrics.items()},
                        exported=improved)
    return state


def _epoch_batches(n_windows: int, options: TrainOptions, epoch: int) -> Iterator[np.ndarray]:
    from .datasets import batch_order

    yield from batch_order(n_windows, options.batch, options.iters_per_epoch, options.seed, epoch)
