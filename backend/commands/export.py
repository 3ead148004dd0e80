"""`python -m backend export MOTION.npz [--bvh OUT.bvh] [--amass OUT.npz] [--csv OUT.csv]`: no Blender needed.

The world and conventions of each format are documented in `pipeline/exports.py`. Each output
is written atomically; a bad motion file is a VIDEO_UNREADABLE-style error naming it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..core.errors import BackendError, ErrorCode
from ..core.outputs import check_output_path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("export", help="write BVH / AMASS / CSV from a motion file, without Blender",
                            description="Export a motion file: BVH (Y-up, SMPL skeleton, every row at the clip's "
                                        "rate), AMASS-style .npz (Z-up) or joint positions per frame as CSV.")
    parser.add_argument("motion", help="motion file (.npz) written by `backend run`")
    parser.add_argument("--bvh", default=None, help="output .bvh")
    parser.add_argument("--amass", default=None, help="output .npz in the AMASS convention")
    parser.add_argument("--csv", default=None, help="output .csv with the 24 joints per frame")
    parser.set_defaults(func=export_command)


def export_command(args: argparse.Namespace) -> int:
    from ..core.motion_file import load_motion_file
    from ..pipeline import exports

    targets = [(kind, Path(path).expanduser()) for kind, path in (("bvh", args.bvh), ("amass", args.amass),
                                                                   ("csv", args.csv)) if path]
    if not targets:
        raise BackendError(ErrorCode.BAD_ARGUMENT, "export: give at least one of --bvh, --amass, --csv")
    for kind, path in targets:
        check_output_path(path, {"bvh": (".bvh",), "amass": (".npz",), "csv": (".csv",)}[kind], f"{kind} export",
                          flag=f"--{kind}")
    source = Path(args.motion).expanduser()
    if not source.is_file():
        # BAD_ARGUMENT, not VIDEO_NOT_FOUND: the argument names a motion file, and no video is involved.
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"motion file {source} does not exist; give the .npz that "
                                                   "`backend run --out` wrote")
    try:
        arrays = load_motion_file(source)
    except ValueError as exc:
        raise BackendError(ErrorCode.BAD_ARGUMENT, str(exc)) from None
    writers = {"bvh": exports.write_bvh, "amass": exports.write_amass, "csv": exports.write_csv}
    for kind, path in targets:
        writers[kind](arrays, path)
        print(json.dumps({"event": "done", "out": str(path), "kind": kind}), flush=True)
    return 0
