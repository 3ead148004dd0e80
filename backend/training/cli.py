"""`python -m backend train MODEL ...` and `python -m backend convert-dataset DB OUT_DIR`.

Only STR is trained here today; a model joins by adding its `TrainTask` to `_TASKS`.
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
    parser = sub.add_parser("train", help="train a temporal model on converted databases (STR)",
                            description="Train a temporal model on precomputed per-frame features "
                                        "(folders written by `convert-dataset`). Progress is printed as JSON lines.")
    parser.add_argument("model", choices=["str"])
    parser.add_argument("--data", required=True, action="append",
                        help="converted training database folder (from convert-dataset); repeat for several")
    parser.add_argument("--val", default=None, help="converted validation database folder (MPJPE, PA-MPJPE, accel)")
    parser.add_argument("--run-dir", required=True, help="folder for last.pt (the resumable checkpoint)")
    parser.add_argument("--out", default=None,
                        help="the trained file; default: str_model.pth.tar in the weights folder, where `run` looks")
    parser.add_argument("--resume", action="store_true", help="continue RUN_DIR/last.pt after its last full epoch")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--iters-per-epoch", type=int, default=500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
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
    parser.set_defaults(func=_train_command)


def _train_command(args: argparse.Namespace) -> int:
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
    if args.epochs < 1 or args.iters_per_epoch < 1 or args.batch < 1:
        raise BackendError(ErrorCode.BAD_ARGUMENT, "--epochs, --iters-per-epoch and --batch must be at least 1")
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
