"""`python -m backend batch INPUT --out DIR [--workers N | --ray [auto|ADDRESS]] [run options...]`.

INPUT is a folder (videos and image-sequence folders, sub-folders kept in the output names), a
CSV/JSONL manifest (`path` plus per-clip run options) or one video. Every `run` option is accepted
and applies to every clip; a manifest's columns override it per clip. stdout carries JSON lines
only (`clip`, `clip_progress`, `batch_progress`, `batch_done`, then `done` or `error`).

Exit status: 0 when every clip is ok (converted now or skipped as already done), 10 when some
failed (counts in the `batch_done` line and DIR/batch.jsonl), 130 when stopped by SIGINT/SIGTERM,
the usual error status when the batch itself could not start (bad INPUT, unwritable DIR).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from ..core.errors import BackendError, ErrorCode
from ..core.events import EventStream
from ..core.run_options import OPTION
from ..core.threads import usable_cores

#: `run` flags that a batch sets itself (per clip), so they are not copied onto `batch`.
_NOT_COPIED = ("-h", "--out")


def register(sub: argparse._SubParsersAction) -> None:
    run_parser = sub.choices.get("run")
    batch = sub.add_parser("batch", help="convert a folder or manifest of clips (local pool or Ray)",
                           description=__doc__.split("\n\n")[1] if __doc__ else None)
    batch.add_argument("input", help="folder of videos / image-sequence folders, a .csv/.jsonl manifest, or a video")
    batch.add_argument("--out", required=True, help="output folder: one .npz per clip, plus batch.jsonl")
    batch.add_argument("--workers", type=int, default=None,
                       help="clips converted at once on this machine; default: usable cores / threads per clip")
    batch.add_argument("--ray", nargs="?", const="auto", default=None, metavar="auto|ADDRESS",
                       help="run one Ray task per clip: 'auto' joins RAY_ADDRESS or a cluster started with "
                            "`ray start` (else starts a local one); ADDRESS is host:port of a head node")
    batch.add_argument("--retry-failed", action="store_true",
                       help="rerun clips that failed before with the same options and input")
    batch.add_argument("--export", default="", metavar="bvh,amass,csv",
                       help="also write these exports next to each motion file (no Blender needed)")
    if run_parser is not None:
        for action in run_parser._actions:
            if action.option_strings and not set(action.option_strings) & set(_NOT_COPIED):
                batch._add_action(action)
    batch.set_defaults(func=batch_command, _run_actions=_run_actions(run_parser))


def _run_actions(run_parser: argparse.ArgumentParser | None) -> list[argparse.Action]:
    if run_parser is None:
        return []
    return [a for a in run_parser._actions if a.option_strings and not set(a.option_strings) & set(_NOT_COPIED)]


def _flag_text(value: Any) -> str:
    return "auto" if value is None else str(value)


def run_flags(args: argparse.Namespace) -> list[str]:
    """The `run` flags the user gave on the batch command line (non-default values), as argv."""
    argv: list[str] = []
    for action in args._run_actions:
        value = getattr(args, action.dest, action.default)
        if value == action.default:
            continue
        flag = action.option_strings[-1]
        option = OPTION.get(action.dest)  # the run-options table spells its values (on/off, 0.5, ...)
        if isinstance(action, argparse._StoreTrueAction):
            argv.append(flag)
        else:
            argv += [flag, option.to_text(value) if option is not None and value is not None else _flag_text(value)]
    return argv


def parse_run(argv: list[str]) -> dict[str, Any]:
    """Validate one clip's `run` argv with the `run` parser itself; BAD_ARGUMENT names the flag."""
    from .cli import build_parser

    namespace = build_parser().parse_args(["run", *argv])
    return {k: v for k, v in vars(namespace).items() if not k.startswith("_")}


def export_kinds(text: str) -> list[str]:
    kinds = [k.strip().lower() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in ("bvh", "amass", "csv")]
    if unknown:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--export {text}: unknown {', '.join(unknown)}; "
                           "use any of bvh, amass, csv")
    return kinds


def json_only_stdout() -> TextIO:
    """A stream on the real stdout for our JSON lines; fd 1 itself then goes to stderr.

    Ray's driver (its C++ core worker and some Python paths) prints notices on fd 1, e.g. when a
    worker dies; the stdout contract is JSON lines only.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(saved, "w", buffering=1, encoding="utf-8")


def batch_command(args: argparse.Namespace) -> int:
    from ..pipeline import batch as engine

    if args.ray is None:
        return _batch(args, EventStream(), engine)
    events = EventStream(json_only_stdout())
    try:
        return _batch(args, events, engine)
    except BackendError as exc:  # the CLI's own handler would print on fd 1, which is stderr now
        events.error(exc.code.value, exc.message)
        return exc.exit_status


def _batch(args: argparse.Namespace, events: EventStream, engine: Any) -> int:
    out_dir = Path(args.out).expanduser().absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise BackendError(ErrorCode.OUT_NOT_WRITABLE, f"--out {out_dir} is a file; give a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackendError(ErrorCode.OUT_NOT_WRITABLE,
                           f"cannot create --out {out_dir}: {exc.strerror or exc}") from None
    if args.workers is not None and args.workers < 1:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--workers {args.workers}: must be at least 1")
    exports = export_kinds(args.export)
    if args.ray is not None:
        from ..pipeline.batch_ray import require_ray

        require_ray()  # before planning: a missing extra is one clear error, not a batch of failures
    plan, early = engine.plan_batch(Path(args.input).expanduser(), out_dir, run_flags(args), args.retry_failed,
                                    parse_run)
    threads, _ = engine.clip_resources(args.model)
    workers = args.workers or max(1, usable_cores() // max(1, threads))
    if args.ray is not None:
        from ..pipeline import batch_ray

        executor = batch_ray.RayExecutor(args.ray, events)
        name = f"ray:{args.ray}"
    else:
        def executor(jobs: list[engine.Job], finish: Any) -> None:
            engine.run_local(jobs, workers, events, finish)

        name = f"local:{workers}"
    return engine.run_batch(plan, early, events, executor, name, exports)
