"""`python -m backend convert-smpl PKL [--out NPZ]`: the official SMPL pkl -> SMPL_NEUTRAL.npz, once.

Picked up by `cli._register_optional`. The conversion never runs code from the pickle
(see `smpl_model.convert_smpl`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..body.smpl_model import SMPL_FILE, convert_smpl
from ..core import config


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("convert-smpl", help="convert the official SMPL .pkl into SMPL_NEUTRAL.npz (once)",
                            description="Convert the neutral SMPL model pickle you downloaded into the plain npz the "
                                        "seed models read. Nothing in the pickle is executed.")
    parser.add_argument("pkl", help="e.g. basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl")
    parser.add_argument("out_positional", nargs="?", metavar="OUT", help="output npz (same as --out)")
    parser.add_argument("--out", default=None, help=f"output npz; default: the SMPL folder's {SMPL_FILE}")
    parser.add_argument("--smpl-dir", default=None, help="SMPL folder used for the default output")
    parser.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    from ..core.events import EventStream

    out = args.out or args.out_positional or str(config.smpl_dir(args.smpl_dir) / SMPL_FILE)
    written = convert_smpl(Path(args.pkl).expanduser(), Path(out).expanduser())
    EventStream().done(str(written))
    return 0
