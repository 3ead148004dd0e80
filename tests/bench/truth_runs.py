"""The product run on a rendered truth clip, as a user runs it, for the tests that judge it against the truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import run_backend

TRUTH = Path(__file__).resolve().parents[2] / "bench" / "truth"


def run_on_truth_clip(name: str, out_dir: Path, *options: str, out_name: str | None = None
                      ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, dict[str, Any]]:
    """`backend run bench/truth/NAME/video.mp4 --focal-length F [OPTIONS]` (the true focal length, px),
    written to `out_dir/OUT_NAME` (default `NAME.npz`).

    Returns (truth arrays, joints3d [N, 24, 3] camera frame m, valid [N] bool, meta). Fails the test,
    with the backend's stderr, if the run fails.
    """
    clip = TRUTH / name
    with np.load(clip / "truth.npz", allow_pickle=False) as data:
        truth = {k: data[k] for k in data.files}
    out = out_dir / (out_name or f"{name}.npz")
    result = run_backend("run", str(clip / "video.mp4"), "--out", str(out), "--focal-length",
                         f"{float(truth['intrinsics'][0, 0]):.6f}", *options)
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out, allow_pickle=False) as data:
        return truth, data["joints3d"].astype(float), data["valid"].astype(bool), json.loads(str(data["meta"]))
