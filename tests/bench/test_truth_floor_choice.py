"""Where "up" comes from on real renders with a pitched camera, measured against the true floor.

`bench/truth/dance_pitched` is filmed by a camera pitched 20 deg down; the dancer's feet stay on one
spot, so no floor plane can be tilted from them and up comes from the body's balance
(`grounding.choose_floor`); measured 6.0 deg from the true floor's up (the camera's own up: 20).
The same video cropped at the shins (a close-up) must get no floor at all: MediaPipe still places
the feet it cannot see, and a floor fitted to them was 21 deg off. About 10 s each.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from tests.bench.truth_runs import TRUTH, run_on_truth_clip
from tests.conftest import run_backend

CLIP = "dance_pitched"


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


def test_a_pitched_camera_gets_up_from_the_body_s_balance(tmp_path: Path) -> None:
    truth, _, _, meta = run_on_truth_clip(CLIP, tmp_path)
    with np.load(tmp_path / f"{CLIP}.npz", allow_pickle=False) as data:
        plane = data["floor_plane"].astype(float)
    grounding = meta["grounding"]
    assert grounding["ground_used"] == "balance" and grounding["floor"]["quality"]["balance"]["used"]
    true_up = truth["floor_cam"][:3]
    assert _angle_deg(plane[:3], true_up) <= 9.0                      # measured 6.0
    assert _angle_deg(np.array([0.0, -1.0, 0.0]), true_up) >= 19.0  # what the camera's up would give


def test_feet_cut_off_by_the_frame_give_no_floor(tmp_path: Path) -> None:
    source = cv2.VideoCapture(str(TRUTH / CLIP / "video.mp4"))
    fps = source.get(cv2.CAP_PROP_FPS)
    crop = tmp_path / "shins.mp4"
    writer = None
    while True:
        ok, frame = source.read()
        if not ok:
            break
        top = frame[:250]                 # the knees are at rows 234-246, the ankles below 285
        if writer is None:
            writer = cv2.VideoWriter(str(crop), cv2.VideoWriter_fourcc(*"mp4v"), fps, (top.shape[1], top.shape[0]))
        writer.write(top)
    source.release()
    assert writer is not None
    writer.release()
    out = tmp_path / "shins.npz"
    result = run_backend("run", str(crop), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out, allow_pickle=False) as data:
        assert "floor_plane" not in data.files
        grounding = json.loads(str(data["meta"]))["grounding"]
    assert grounding["ground_used"] == "constant" and grounding["floor"]["up"] == "camera"
    assert grounding["floor"]["quality"]["feet_in_view"] < 0.5
    assert "out of view" in result.stdout + result.stderr
