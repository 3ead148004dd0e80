"""`python -m backend train {str,tar} ...` and `python -m backend convert-dataset SRC OUT_DIR`.

STR trains on converted TCMR/VIBE feature databases, TAR on converted 3DPW image sequences; both
through the shared loop (`loop.py`). Defaults left as None here are each model's own (its paper's).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import BackendError, ErrorCode
from ..core.events import EventStream
from .datasets import register as register_convert


def register(sub: argparse._SubParsersAction) -> None:
    register_convert(sub)
    parser = sub.add_parser("train", help="train a temporal model on converted datasets (STR, TAR)",
                            description="Train STR on precomputed per-frame features, or TAR on image sequences "
                                        "(folders written by `convert-dataset`). Progress is printed as JSON lines.")
    parser.add_argument("model", choices=["str", "tar"])
    parser.add_argument("--data", required=True, action="append",
                        help="converted training dataset folder (from convert-dataset); repeat for several")
    parser.add_argument("--val", default=None, help="converted validation database folder (MPJPE, PA-MPJPE, accel)")
    parser.add_argument("--run-dir", required=True, help="folder for last.pt (the resumable checkpoint)")
    parser.add_argument("--out", default=None,
                        help="the trained file; default: str_model.pth.tar / tar_model.pth.tar in the weights folder, "
                             "where `run` looks")
    parser.add_argument("--resume", action="store_true", help="continue RUN_DIR/last.pt after its last full epoch")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--iters-per-epoch", type=int, default=500)
    parser.add_argument("--batch", type=int, default=None, help="windows per step (STR 32, TAR 8)")
    parser.add_argument("--lr", type=float, default=None, help="Adam's learning rate (STR 5e-5; TAR 1e-4, ReFit's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 = the cores actually free")
    parser.add_argument("--spin", default="auto",
                        help="SPIN checkpoint for the regressor: auto (spin_model_checkpoint.pth.tar in the weights "
                             "folder), a path, or none")
    parser.add_argument("--weights-dir", default=None)
    parser.add_argument("--smpl-dir", default=None)
    parser.add_argument("--width", type=int, default=2048,
                        help="C inside TTR/STE (the paper: 2048 = the feature size); smaller only for quick tests")
    parser.add_argument("--fusion", type=int, default=2048, help="Integration width (the paper/rebuttal: 2048)")
    parser.add_argument("--refit", default="auto",
                        help="TAR: ReFit checkpoint to start from: auto (checkpoint_best.pth.tar in the weights "
                             "folder), a path, or none (random weights; test sizes)")
    parser.add_argument("--backbone", default="hrnet_w48", choices=["hrnet_w48", "small"],
                        help="TAR: hrnet_w48 (the paper's) or small (a test-size stand-in, for quick tests only)")
    parser.add_argument("--crop-size", type=int, default=256, help="TAR: crop side in pixels (ReFit's 256)")
    parser.set_defaults(func=_train_command)


@dataclass(frozen=True)
class _Trainee:
    """What `train MODEL` needs of one model; built inside the command (the task modules import torch)."""

    batch: int  # default windows per step (--batch)
    lr: float  # default Adam learning rate (--lr)
    clip_norm: float  # gradient-norm clip (0 = none), `TrainOptions.clip_norm`
    file_name: str  # the trained file's name in the weights folder (--out's default)
    make_config: Callable[[argparse.Namespace], Any]  # the network's sizes; ValueError = a bad flag
    open_data: Callable[[Path], Any]  # one converted dataset folder -> its reader
    resolve_init: Callable[[argparse.Namespace, Path, Any], Path | None]  # the checkpoint to start from, or None
    make_task: Callable[..., Any]  # (train dbs, val db, smpl dir, config, init, device) -> a `loop.TrainTask`
    done_fields: Callable[[Any], dict[str, Any]]  # extra fields of the final `done` event, from the task


def _str_trainee() -> _Trainee:
    """STR: precomputed-feature databases, the paper's batch 32 and lr 5e-5, SPIN's regressor as the start."""
    from ..models.temporal.str_net import FILE_NAME, STRConfig
    from .datasets import SequenceArrays
    from .str_task import STRTask, resolve_spin

    return _Trainee(batch=32, lr=5e-5, clip_norm=0.0, file_name=FILE_NAME,
                    make_config=lambda args: STRConfig(width=args.width, fusion=args.fusion),
                    open_data=SequenceArrays,
                    resolve_init=lambda args, weights, cfg: resolve_spin(args.spin, weights, cfg),
                    make_task=STRTask, done_fields=lambda task: {})


def _tar_trainee() -> _Trainee:
    """TAR: 3DPW-layout image sequences, ReFit's optimiser settings, ReFit's checkpoint as the start."""
    from ..models.temporal.tar_net import FILE_NAME, TARConfig
    from .image_sequences import ImageSequences
    from .tar_task import BATCH, CLIP_NORM, LEARNING_RATE, TARTask, resolve_refit

    return _Trainee(batch=BATCH, lr=LEARNING_RATE, clip_norm=CLIP_NORM, file_name=FILE_NAME,
                    make_config=lambda args: TARConfig(backbone=args.backbone, crop_size=args.crop_size),
                    open_data=ImageSequences,
                    resolve_init=lambda args, weights, cfg: resolve_refit(args.refit, weights, cfg),
                    make_task=TARTask, done_fields=lambda task: {"untrained_at_start": task.uninitialised})


def _train_command(args: argparse.Namespace) -> int:
    """`train str|tar`: set up the model's task from the flags, run the shared loop, print `done` with the metrics."""
    import torch

    from ..body.smpl_model import require_smpl
    from ..core import config
    from ..core.threads import auto_threads
    from .loop import TrainOptions, resolve_device, train

    trainee = _tar_trainee() if args.model == "tar" else _str_trainee()
    torch.set_num_threads(args.threads or auto_threads())
    weights_dir, smpl_dir = config.weights_dir(args.weights_dir), config.smpl_dir(args.smpl_dir)
    require_smpl(smpl_dir)
    args.batch = trainee.batch if args.batch is None else args.batch
    args.lr = trainee.lr if args.lr is None else args.lr
    _check_counts(args)
    try:
        model_config = trainee.make_config(args)
    except ValueError as exc:
        raise BackendError(ErrorCode.BAD_ARGUMENT, str(exc)) from None
    train_dbs = [trainee.open_data(Path(folder).expanduser()) for folder in args.data]
    val_db = trainee.open_data(Path(args.val).expanduser()) if args.val else None
    device = resolve_device(args.device)
    out = Path(args.out).expanduser() if args.out else weights_dir / trainee.file_name
    task = trainee.make_task(train_dbs, val_db, smpl_dir, model_config,
                             trainee.resolve_init(args, weights_dir, model_config), device)
    options = TrainOptions(run_dir=Path(args.run_dir).expanduser(), out=out, epochs=args.epochs,
                           iters_per_epoch=args.iters_per_epoch, batch=args.batch, lr=args.lr, seed=args.seed,
                           device=device, resume=args.resume, clip_norm=trainee.clip_norm)
    events = EventStream()
    state = train(task, options, events)
    events.done(str(out), epochs=state["epoch"], steps=state["step"], **trainee.done_fields(task),
                metrics=json.loads(json.dumps(state["val"][-1] if state["val"] else {})))
    return 0


def _check_counts(args: argparse.Namespace) -> None:
    """--epochs, --iters-per-epoch and --batch (after its model default) are at least 1, else BAD_ARGUMENT."""
    if args.epochs < 1 or args.iters_per_epoch < 1 or args.batch < 1:
        raise BackendError(ErrorCode.BAD_ARGUMENT, "--epochs, --iters-per-epoch and --batch must be at least 1")
