"""`python -m backend run VIDEO --out OUT ...` stand-in. The video's file name picks the behaviour:

ok / malformed: progress, then a valid / broken motion file and `done`;
error: an `error` event and exit 3; crash: stderr text and exit 70 without an event;
slow: progress, a temp file in $TMPDIR, then waits; SIGTERM removes it and exits 130;
stubborn: progress, then ignores SIGTERM (must be killed).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path


def emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["doctor"]:
        print("[ok] stand-in environment", flush=True)
        print("verdict: ready", flush=True)
        return 0
    if argv[:1] == ["models"]:
        emit_models = {"models": [{"name": "blazepose", "windows": [], "default_window": None, "ready": True,
                                   "missing": [], "status": "ready"},
                                  {"name": "tcmr", "windows": [16], "default_window": 16, "ready": False,
                                   "missing": ["tcmr_demo_model.pth.tar"], "status": "missing weights"}]}
        print(json.dumps(emit_models), flush=True)
        return 0
    video, out = Path(argv[1]), Path(argv[argv.index("--out") + 1])
    kind = video.stem
    emit(event="progress", stage="detect", done=0, total=3)
    if kind in ("ok", "malformed"):
        sys.path.insert(0, os.environ["STAND_IN_HELPERS"])
        import numpy as np
        from synthetic_motion import motion_arrays

        arrays = motion_arrays(frames=3)
        if kind == "malformed":
            arrays["poses"] = arrays["poses"][:, :23]
        np.savez(out, **arrays)
        emit(event="warning", code="TRACK_GAP", message="frame 1 interpolated")
        emit(event="done", out=str(out))
        return 0
    if kind == "error":
        emit(event="error", code="NO_PERSON", message=f"no person found in {video}; try another clip")
        return 5
    if kind == "crash":
        print("Traceback: something broke", file=sys.stderr, flush=True)
        return 70
    temp = Path(tempfile.mkstemp(prefix="stand_in_", dir=os.environ.get("TMPDIR"))[1])
    if kind == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        def on_term(_signum: int, _frame: object) -> None:
            temp.unlink(missing_ok=True)
            emit(event="error", code="CANCELLED", message="cancelled")
            sys.exit(130)

        signal.signal(signal.SIGTERM, on_term)
    emit(event="progress", stage="detect", done=1, total=3)
    time.sleep(60)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
