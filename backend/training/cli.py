"""`python -m backend train {str,tar} ...` and `python -m backend convert-dataset SRC OUT_DIR`.

STR trains on converted TCMR/VIBE feature databases, TAR on converted 3DPW image sequences; both
through the shared loop (`loop.py`). Defaults left as None here are each model's own (its paper's).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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


def _train_command(args: argparse.Namespace) -> int:
    if args.model == "tar":
        return _train_tar(args)
    return _train_str(args)


def _train_str(args: argparse.Namespace) -> int:
    import torch

    from ..body.smpl_model import require_smpl
    from ..core import config
    from ..core.threads import auto_threads
    from ..models.temporal.str_net import FILE_NAME, STRConfig
    from .datasets import SequenceArrays
    from .loop import TrainOptions, resolve_device, train
    from .str_task import STRTask, resolve_spin

    torch.set_num_threads(args.threads or auto_threads())
    weights_dir, smpl_dir = config.weights_dir(args.weights_dir), config.smpl_dir(args.smpl_dir)
    require_smpl(smpl_dir)
    args.batch = 32 if args.batch is None else args.batch
    args.lr = 5e-5 if args.lr is None else args.lr
    _check_counts(args)
    try:
        str_config = STRConfig(width=args.width, fusion=args.fusion)
    except ValueError as exc:
        raise BackendError(ErrorCode.BAD_ARGUMENT, str(exc)) from None
    train_dbs = [SequenceArrays(Path(folder).expanduser()) for folder in args.data]
    val_db = SequenceArrays(Path(args.val).expanduser()) if args.val else None
    device = resolve_device(args.device)
    out = Path(args.out).expanduser() if args.out else weights_dir / FILE_NAME
    task = STRTask(train_dbs, val_db, smpl_dir, str_config, resolve_spin(args.spin, weights_dir, str_config), device)
    options = TrainOptions(run_dir=Path(args.run_dir).expanduser(), out=out, epochs=args.epochs,
                           iters_per_epoch=args.iters_per_epoch, batch=args.batch, lr=args.lr, seed=args.seed,
                           device=device, resume=args.resume)
    events = EventStream()
    state = train(task, options, events)
    events.done(str(out), epochs=state["epoch"], steps=state["step"],
                metrics=json.loads(json.dumps(state["val"][-1] if state["val"] else {})))
    return 0


def _check_counts(args: argparse.Namespace) -> None:
    if args.epochs < 1 or args.iters_per_epoch < 1 or args.batch < 1:
        raise BackendError(ErrorCode.BAD_ARGUMENT, "--epochs, --iters-per-epoch and --batch must be at least 1")


def _train_tar(args: argparse.Namespace) -> int:
    import torch

    from ..body.smpl_model import require_smpl
    from ..core import config
    from ..core.threads import auto_threads
    from ..models.temporal.tar_net import FILE_NAME, TARConfig
    from .image_sequences import ImageSequences
    from .loop import TrainOptions, resolve_device, train
    from .tar_task import BATCH, CLIP_NORM, LEARNING_RATE, TARTask, resolve_refit

    torch.set_num_threads(args.threads or auto_threads())
    weights_dir, smpl_dir = config.weights_dir(args.weights_dir), config.smpl_dir(args.smpl_dir)
    require_smpl(smpl_dir)
    args.batch = BATCH if args.batch is None else args.batch
    args.lr = LEARNING_RATE if args.lr is None else args.lr
    _check_counts(args)
    try:
        tar_config = TARConfig(backbone=args.backbone, crop_size=args.crop_size)
    except ValueError as exc:
        raise BackendError(ErrorCode.BAD_ARGUMENT, str(exc)) from None
    train_dbs = [ImageSequences(Path(folder).expanduser()) for folder in args.data]
    val_db = ImageSequences(Path(args.val).expanduser()) if args.val else None
    device = resolve_device(args.device)
    out = Path(args.out).expanduser() if args.out else weights_dir / FILE_NAME
    task = TARTask(train_dbs, val_db, smpl_dir, tar_config, resolve_refit(args.refit, weights_dir, tar_config), device)
    options = TrainOptions(run_dir=Path(args.run_dir).expanduser(), out=out, epochs=args.epochs,
                           iters_per_epoch=args.iters_per_epoch, batch=args.batch, lr=args.lr, seed=args.seed,
                           device=device, resume=args.resume, clip_norm=CLIP_NORM)
    events = EventStream()
    state = train(task, options, events)
    events.done(str(out), epochs=state["epoch"], steps=state["step"], untrained_at_start=task.uninitialised,
                metrics=json.loads(json.dumps(state["val"][-1] if state["val"] else {})))
    return 0
