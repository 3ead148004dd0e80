"""Command line: `python -m backend {run,models,doctor,preview,convert-checkpoint,convert-smpl,convert-dataset,train}`.

For `run`, stdout carries only JSON lines (progress, warning, error, done); logs go to stderr.
Exit status is 0 only after `done`; each error code has its own status (errors.EXIT_STATUS).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..core import cancel, run_options
from ..core.errors import BackendError, ErrorCode
from ..core.events import EventStream

log = logging.getLogger("backend")


class _Parser(argparse.ArgumentParser):
    """Argument mistakes become BAD_ARGUMENT errors (JSON on stdout), not argparse's usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m backend", description="Video Mocap backend: video -> SMPL motion file.")
    parser.add_argument("--version", action="version", version=f"video-mocap backend {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="stderr log verbosity")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)

    run = sub.add_parser("run", help="convert a video into a motion file (.npz)",
                         description="Convert a video into an SMPL motion file. Progress is printed as JSON lines.")
    run.add_argument("video", help="video file (anything FFmpeg decodes), or an image sequence: a folder of "
                                   "images, a pattern such as frames/%%04d.png, or its first image")
    run_options.add_arguments(run)
    run.add_argument("--out", default=None, help="output motion file (.npz); default: VIDEO with .npz")

    models = sub.add_parser("models", help="list models, their windows and whether their weights are present")
    models.add_argument("--json", action="store_true", help="one JSON object on stdout")
    models.add_argument("--weights-dir", default=None)

    doctor = sub.add_parser("doctor", help="check the environment and say exactly what is missing")
    doctor.add_argument("--json", action="store_true", help="one JSON object on stdout")
    doctor.add_argument("--weights-dir", default=None)
    doctor.add_argument("--smpl-dir", default=None)

    _register_subcommands(sub)
    return parser


def _register_subcommands(sub: argparse._SubParsersAction) -> None:
    """Subcommands living in their own modules register their arguments themselves (`register(sub)`)."""
    for module_name, command in ((".commands.preview", "preview"), (".models.checkpoints", "convert-checkpoint"),
                                 (".commands.smpl_convert", "convert-smpl"), (".commands.batch", "batch"),
                                 (".commands.export", "export"), (".training.cli", "train")):
        try:
            module = importlib.import_module(module_name, package="backend")
        except ImportError as exc:  # a third-party package: the command says so when run; our own bug: raised
            _register_unavailable(sub, command, exc)
            continue
        module.register(sub)


def _register_unavailable(sub: argparse._SubParsersAction, command: str, exc: ImportError) -> None:
    """A subcommand whose packages do not import: `doctor` and `models` must still work in a half-installed
    venv, and running this one says what is missing (PACKAGES_MISSING) rather than 'invalid choice'."""
    missing = _third_party_import(exc)
    if missing is None:
        raise exc
    stub = sub.add_parser(command, help=f"(unavailable: cannot import {missing})", add_help=False)
    stub.add_argument("rest", nargs=argparse.REMAINDER)

    def refuse(_args: argparse.Namespace) -> int:
        raise packages_missing(missing, exc)

    stub.set_defaults(func=refuse)


def _run(args: argparse.Namespace, events: EventStream) -> int:
    from ..core.run_options import RunOptions
    from ..pipeline.run import run

    out = args.out or str(Path(args.video).with_suffix(".npz"))
    options = RunOptions(video=Path(args.video), out=Path(out), **run_options.values_from(args))
    if options.max_people < 1:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--max-people {options.max_people}: must be at least 1")
    written = run(options, events)
    events.done(str(written))
    return 0


def _models(args: argparse.Namespace) -> int:
    from ..core import config
    from ..models.registry import all_cards

    weights_dir = config.weights_dir(args.weights_dir)
    rows = []
    for card in all_cards():
        missing = card.missing_weights(weights_dir)
        rows.append({"name": card.name, "title": card.title, "paper": card.paper, "windows": list(card.windows),
                     "default_window": card.default_window, "backbone": card.backbone, "needs_smpl": card.needs_smpl,
                     "ready": not missing and card.finished, "default_smooth": card.default_smooth, "missing": missing,
                     "status": card.status})
    if args.json:
        print(json.dumps({"models": rows, "weights_dir": str(weights_dir)}))
        return 0
    print(f"weights folder: {weights_dir}")
    for row in rows:
        windows = ", ".join(map(str, row["windows"])) or "-"
        state = "ready" if row["ready"] else ("missing: " + ", ".join(row["missing"]) if row["missing"] else "")
        print(f"  {row['name']:<10} windows [{windows}] default {row['default_window'] or '-'}  {state}")
        print(f"  {'':<10} {row['status']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    events = EventStream()
    cancel.install_handlers()
    try:
        args = build_parser().parse_args(argv)
        logging.getLogger().setLevel(args.log_level)
        if args.command == "run":
            return _run(args, events)
        if args.command == "models":
            return _models(args)
        if args.command == "doctor":
            from .doctor import doctor

            return doctor(args)
        return int(args.func(args) or 0)  # subcommands registered by their modules set `func`
    except BackendError as exc:
        events.error(exc.code.value, exc.message)
        log.error("%s: %s", exc.code.value, exc.message)
        return exc.exit_status
    except ImportError as exc:
        missing = _third_party_import(exc)
        if missing is None:
            return _internal(exc, events)
        error = packages_missing(missing, exc)
        events.error(error.code.value, error.message)
        log.error("%s: %s", error.code.value, error.message)
        return error.exit_status
    except KeyboardInterrupt:
        exc = BackendError(ErrorCode.CANCELLED, "cancelled by the user (SIGINT); no output was written")
        events.error(exc.code.value, exc.message)
        return exc.exit_status
    except Exception as exc:  # noqa: BLE001 - the contract promises a JSON error even for bugs
        return _internal(exc, events)


def _internal(exc: BaseException, events: EventStream) -> int:
    traceback.print_exception(exc, file=sys.stderr)
    events.error(ErrorCode.INTERNAL.value,
                 f"internal error: {type(exc).__name__}: {exc}; please report it with the log printed on stderr")
    return BackendError(ErrorCode.INTERNAL, "").exit_status


def _third_party_import(exc: ImportError) -> str | None:
    """The top-level package that failed to import, unless it is the backend itself (then it is a bug).
    A broken native library (`libGL.so.1: cannot open shared object file`) has no module name: it is
    reported under the module whose import raised it, read from the traceback."""
    name = exc.name
    if name is None:
        frames = traceback.extract_tb(exc.__traceback__)
        outside = [f.filename for f in frames if "site-packages" in f.filename or "dist-packages" in f.filename]
        if not outside:
            return None
        path = Path(outside[-1]).parts
        anchor = max(i for i, part in enumerate(path) if part in ("site-packages", "dist-packages"))
        name = path[anchor + 1] if anchor + 1 < len(path) else "?"
    top = name.split(".")[0]
    return None if top == "backend" else top


def packages_missing(module: str, exc: ImportError) -> BackendError:
    """PACKAGES_MISSING: the venv is incomplete or broken, not a bug; says how to repair it."""
    return BackendError(ErrorCode.PACKAGES_MISSING,
                        f"backend packages missing: cannot import {module} in {sys.executable} ({exc}); "
                        "reinstall them with `python3 install_deps.py` (in Blender: Install Backend in the "
                        "add-on's preferences)")
