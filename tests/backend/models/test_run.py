"""Running: `backend run` with each seed model on the 40-frame sample, synthetic SMPL and random official weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backend.core.errors import BackendError, ErrorCode
from backend.core.events import EventStream
from backend.core.motion_file import REQUIRED_KEYS, load_motion_file
from backend.models.base import ModelRequest
from backend.models.mpsnet import run as run_mpsnet
from backend.tracking.track import Track
from backend.tracking.video import probe
from tests.conftest import SINGLE, run_backend

STAGES = ["crops", "features", "temporal", "smpl"]


def _run(model: str, out: Path, weights_dir: Path, smpl_dir: Path, *extra: str):
    return run_backend("run", str(SINGLE), "--model", model, "--out", str(out), "--weights-dir", str(weights_dir),
                       "--smpl-dir", str(smpl_dir), "--threads", "1", *extra)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tcmr", "mpsnet", "staf"])
def test_run_writes_a_valid_motion_file_twice_the_same(model: str, tmp_path: Path, weights_dir: Path,
                                                       smpl_dir: Path) -> None:
    files = []
    for attempt in range(2):
        out = tmp_path / f"{model}_{attempt}.npz"
        result = _run(model, out, weights_dir, smpl_dir)
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.events[-1] == {"event": "done", "out": str(out)}
        stages = [e["stage"] for e in result.events if e["event"] == "progress"]
        assert all(stage in stages for stage in STAGES), stages
        files.append(load_motion_file(out))
    first, second = files
    assert first["poses"].shape == (40, 24, 3) and len(first["frame_ids"]) == 40
    assert set(REQUIRED_KEYS) <= set(first)
    assert str(first["model"]) == model
    meta = json.loads(str(first["meta"]))
    assert meta["crop_scale"] == (1.2 if model == "tcmr" else 1.1) and meta["threads"] == 1
    for key in ("poses", "betas", "transl", "cam", "rest_joints", "joints3d"):
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    assert np.all(first["transl"][:, 2] > 0)


@pytest.mark.parametrize("model, window, allowed", [("mpsnet", 9, "16"), ("staf", 16, "9")])
def test_disallowed_window_is_refused(model: str, window: int, allowed: str, tmp_path: Path, weights_dir: Path,
                                      smpl_dir: Path) -> None:
    result = _run(model, tmp_path / "m.npz", weights_dir, smpl_dir, "--window", str(window))
    error = result.last_error()
    assert error is not None and error["code"] == "BAD_ARGUMENT", result.stdout
    assert f"accepts window lengths {allowed}" in error["message"]
    assert not (tmp_path / "m.npz").exists()


# ----------------------------------------------------------------- the runner alone (no detection stage)


class Recorder(EventStream):
    def __init__(self) -> None:
        super().__init__(stream=open("/dev/null", "w"))  # noqa: SIM115 - closed with the object
        self.seen: list[tuple[str, int, int]] = []

    def progress(self, stage: str, done: int, total: int) -> None:
        self.seen.append((stage, done, total))


def _request(weights_dir: Path, smpl_dir: Path, n: int = 12, cancel=None) -> ModelRequest:
    info = probe(SINGLE)
    boxes = np.tile(np.array([540.0, 1000.0, 500.0, 1200.0], np.float32), (n, 1))
    boxes[:, 0] += np.linspace(0, 100, n, dtype=np.float32)
    track = Track(0, np.arange(n, dtype=np.int32), np.ones(n, bool), boxes, np.zeros((n, 33, 3), np.float32),
                  np.zeros((n, 33, 3), np.float32), (info.width, info.height))
    return ModelRequest(video=info, track=track, window=None, device="cpu", weights_dir=weights_dir,
                        smpl_dir=smpl_dir, threads=1, focal_length=1920.0, events=Recorder(),
                        check_cancel=cancel or (lambda: None))


def test_runner_converts_the_camera_with_its_crop_scale(weights_dir: Path, smpl_dir: Path) -> None:
    request = _request(weights_dir, smpl_dir)
    out = run_mpsnet(request)
    side = 1200.0 * 1.1  # MPS-Net crops at 1.1 (its demo converts with 1.2)
    np.testing.assert_allclose(out.transl[:, 2], 2 * 1920.0 / (out.cam[:, 0] * side), rtol=1e-5)
    assert out.poses.shape == (12, 24, 3) and out.rest_joints.shape == (24, 3) and out.joints3d.shape == (12, 24, 3)
    stages = [s for s, _, _ in request.events.seen]
    assert [s for s in dict.fromkeys(stages)] == STAGES
    last_smpl = [(done, total) for s, done, total in request.events.seen if s == "smpl"][-1]
    assert last_smpl == (12, 12)


def test_runner_stops_between_batches(weights_dir: Path, smpl_dir: Path) -> None:
    calls = []

    def cancel() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise BackendError(ErrorCode.CANCELLED, "cancelled")

    with pytest.raises(BackendError) as info:
        run_mpsnet(_request(weights_dir, smpl_dir, n=20, cancel=cancel))
    assert info.value.code == ErrorCode.CANCELLED


def test_runner_refuses_missing_weights(tmp_path: Path, smpl_dir: Path) -> None:
    with pytest.raises(BackendError) as info:
        run_mpsnet(_request(tmp_path, smpl_dir))
    message = info.value.message
    assert info.value.code == ErrorCode.WEIGHTS_MISSING
    assert "spin_model_checkpoint.pth.tar (from MPS-Net_release README" in message
    assert "mpsnet_model_best.pth.tar (from" in message


@pytest.mark.parametrize("model, window, n", [("tcmr", 8, 12), ("tcmr", 32, 12), ("staf", 9, 3), ("mpsnet", 16, 1)])
def test_runner_windows_and_short_clips(model: str, window: int, n: int, weights_dir: Path, smpl_dir: Path) -> None:
    from backend.models.registry import get_card
    from backend.models.seed_runner import run_seed

    request = _request(weights_dir, smpl_dir, n=n)
    request.window = window
    out = run_seed(request, get_card(model))
    assert out.poses.shape == (n, 24, 3) and np.isfinite(out.poses).all() and np.isfinite(out.transl).all()
