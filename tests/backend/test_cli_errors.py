"""Every error code of the contract, triggered through the real CLI: message, exit status, no leftovers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from backend.core.errors import EXIT_STATUS, ErrorCode
from backend.core.motion_file import load_motion_file
from tests.conftest import REPO, SINGLE, BackendResult, backend_env, run_backend, signal_after_first_event


def assert_failed(result, code: ErrorCode, *needles: str, out_dir: Path | None = None) -> None:
    error = result.last_error()
    assert error is not None, f"no error event; stdout={result.stdout!r} stderr={result.stderr[-2000:]}"
    assert error["code"] == code.value, error
    for needle in needles:
        assert needle in error["message"], (needle, error["message"])
    assert result.returncode == EXIT_STATUS[code] != 0
    assert not any(e["event"] == "done" for e in result.events)
    if out_dir is not None:
        assert list(out_dir.iterdir()) == [], f"left behind: {list(out_dir.iterdir())}"


def run_into_empty_folder(tmp_path: Path, video: Path, *args: str,
                          env: dict[str, str] | None = None) -> tuple[BackendResult, Path]:
    """`backend run VIDEO --out OUT/m.npz ARGS` with OUT a new empty folder under `tmp_path` (to check that a
    failed run leaves nothing there); returns the result and OUT."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    return run_backend("run", str(video), "--out", str(out_dir / "m.npz"), *args, env=env), out_dir


def test_video_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    result, out_dir = run_into_empty_folder(tmp_path, missing)
    assert_failed(result, ErrorCode.VIDEO_NOT_FOUND, str(missing), out_dir=out_dir)


def test_video_unreadable(tmp_path: Path) -> None:
    bogus = tmp_path / "clip.mp4"
    bogus.write_bytes(b"this is not a video" * 100)
    result, out_dir = run_into_empty_folder(tmp_path, bogus)
    assert_failed(result, ErrorCode.VIDEO_UNREADABLE, str(bogus), out_dir=out_dir)


def test_truncated_video_is_unreadable(tmp_path: Path) -> None:
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(SINGLE.read_bytes()[:4000])
    result, out_dir = run_into_empty_folder(tmp_path, truncated)
    assert_failed(result, ErrorCode.VIDEO_UNREADABLE, str(truncated), out_dir=out_dir)


def test_no_person(tmp_path: Path) -> None:
    empty = tmp_path / "empty_room.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    rng = np.random.default_rng(0)
    for _ in range(12):
        writer.write((rng.random((240, 320, 3)) * 40 + 100).astype(np.uint8))
    writer.release()
    result, out_dir = run_into_empty_folder(tmp_path, empty)
    assert_failed(result, ErrorCode.NO_PERSON, str(empty), out_dir=out_dir)


@pytest.mark.parametrize("args, needle", [
    (["--model", "no_such_model"], "no_such_model"),
    (["--window", "16"], "--window 16"),
    (["--frames", "10:5"], "--frames"),
    (["--frames", "500:600"], "only 40 frames"),
    (["--smooth", "-1"], "--smooth"),
    (["--person", "x"], "--person"),
    (["--height", "17"], "--height 17"),  # centimetres or feet by mistake: stature is in metres
    (["--fit", "maybe"], "--fit"),
])
def test_bad_argument(tmp_path: Path, args: list[str], needle: str) -> None:
    result, out_dir = run_into_empty_folder(tmp_path, SINGLE, *args)
    assert_failed(result, ErrorCode.BAD_ARGUMENT, needle, out_dir=out_dir)


def test_person_not_in_clip(tmp_path: Path) -> None:
    result, out_dir = run_into_empty_folder(tmp_path, SINGLE, "--person", "3")
    assert_failed(result, ErrorCode.NO_PERSON, "--person 3", "people found: 0", out_dir=out_dir)


def test_a_clip_too_short_to_follow_says_so(tmp_path: Path) -> None:
    result, out_dir = run_into_empty_folder(tmp_path, SINGLE, "--frames", "0:2")
    assert_failed(result, ErrorCode.NO_PERSON, "only 2 frames", "at least 3", "--frames", out_dir=out_dir)
    # With the person named, the two frames are converted (before, listing who is "main" refused them).
    taken = run_backend("run", str(SINGLE), "--frames", "0:2", "--person", "0", "--out", str(tmp_path / "two.npz"))
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert len(load_motion_file(tmp_path / "two.npz")["poses"]) == 2


def _seed_model_with_weights() -> str:
    from backend.models.registry import all_cards

    specs = [s for s in all_cards() if s.weight_files and s.finished]
    if not specs:
        pytest.skip("no seed model with weight files is registered in this checkout")
    return specs[0].name


def weights_folder(tmp_path: Path, model: str, content: bytes | None) -> Path:
    """A weights folder holding each of the model's files with `content` (None: the folder stays empty)."""
    from backend.models.registry import get_card

    weights = tmp_path / "weights"
    weights.mkdir()
    if content is not None:
        for weight in get_card(model).weight_files:
            (weights / weight.name).write_bytes(content)
    return weights


def test_weights_missing(tmp_path: Path) -> None:
    model = _seed_model_with_weights()
    weights = weights_folder(tmp_path, model, None)
    result, out_dir = run_into_empty_folder(tmp_path, SINGLE, "--model", model, "--weights-dir", str(weights))
    assert_failed(result, ErrorCode.WEIGHTS_MISSING, str(weights), "README", out_dir=out_dir)


def test_smpl_missing(tmp_path: Path) -> None:
    model = _seed_model_with_weights()
    weights = weights_folder(tmp_path, model, b"placeholder: the run must stop before reading it")
    smpl = tmp_path / "smpl"
    smpl.mkdir()
    result, out_dir = run_into_empty_folder(tmp_path, SINGLE, "--model", model, "--weights-dir",
                                            str(weights), "--smpl-dir", str(smpl))
    assert_failed(result, ErrorCode.SMPL_MISSING, str(smpl / "SMPL_NEUTRAL.npz"), out_dir=out_dir)


def test_out_not_writable(tmp_path: Path) -> None:
    missing_folder = tmp_path / "does" / "not" / "exist"
    result = run_backend("run", str(SINGLE), "--out", str(missing_folder / "m.npz"))
    assert_failed(result, ErrorCode.OUT_NOT_WRITABLE, str(missing_folder))
    assert not (tmp_path / "does").exists()
    a_file = tmp_path / "plain_file"
    a_file.write_text("x")
    result = run_backend("run", str(SINGLE), "--out", str(a_file / "m.npz"))
    assert_failed(result, ErrorCode.OUT_NOT_WRITABLE, str(a_file))


def test_internal_error_when_cache_is_unusable(tmp_path: Path) -> None:
    blocker = tmp_path / "cache_is_a_file"
    blocker.write_text("not a folder")
    result, out_dir = run_into_empty_folder(tmp_path, SINGLE, env=backend_env(blocker))
    assert_failed(result, ErrorCode.INTERNAL, "internal error", "stderr", out_dir=out_dir)
    assert "Traceback" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cancelled_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    first, events, status = signal_after_first_event(["run", str(SINGLE), "--out", str(out_dir / "m.npz")], sig)
    assert first["event"] == "progress"
    assert events[-1]["event"] == "error" and events[-1]["code"] == "CANCELLED", events[-3:]
    assert status == EXIT_STATUS[ErrorCode.CANCELLED]
    time.sleep(0.1)
    assert list(out_dir.iterdir()) == []


def test_weights_invalid_when_a_file_is_corrupt(tmp_path: Path) -> None:
    from backend.testing.smpl_synth import write_smpl_npz

    model = _seed_model_with_weights()
    weights = weights_folder(tmp_path, model, b"PK\x03\x04 half a download")
    smpl = tmp_path / "smpl"
    write_smpl_npz(smpl)
    result, out_dir = run_into_empty_folder(tmp_path, SINGLE, "--model", model, "--weights-dir",
                                            str(weights), "--smpl-dir", str(smpl), "--frames", "0:4")
    assert_failed(result, ErrorCode.WEIGHTS_INVALID, str(weights), "truncated or corrupt", out_dir=out_dir)


def test_str_without_its_trained_file_says_what_to_run(tmp_path: Path) -> None:
    weights = weights_folder(tmp_path, "str", None)
    result, out_dir = run_into_empty_folder(tmp_path, SINGLE, "--model", "str", "--weights-dir", str(weights))
    assert_failed(result, ErrorCode.WEIGHTS_MISSING, str(weights), "str_model.pth.tar", "no official weights",
                  "python -m backend train str --data", out_dir=out_dir)


def test_a_venv_without_the_packages_is_packages_missing_not_internal(tmp_path: Path) -> None:
    """A half-installed venv: `run` says which package is missing and how to install it (PACKAGES_MISSING,
    not INTERNAL's 'please report it'), and `doctor --json` still answers, listing each missing package."""
    from tests.conftest import make_empty_venv

    python = make_empty_venv(sys.executable, tmp_path / "venv")
    out = tmp_path / "m.npz"
    proc = subprocess.run([str(python), "-m", "backend", "run", str(SINGLE), "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=backend_env(), check=False)
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["event"] for e in events] == ["error"], proc.stdout + proc.stderr[-2000:]
    assert events[0]["code"] == ErrorCode.PACKAGES_MISSING.value
    assert events[0]["message"].startswith("backend packages missing: cannot import ")
    assert "install_deps.py" in events[0]["message"] and "report" not in events[0]["message"]
    assert proc.returncode == EXIT_STATUS[ErrorCode.PACKAGES_MISSING] and not out.exists()

    doctor = subprocess.run([str(python), "-m", "backend", "doctor", "--json"], cwd=REPO, capture_output=True,
                            text=True, timeout=120, env=backend_env(), check=False)
    report = json.loads(doctor.stdout)
    assert doctor.returncode == 1 and report["ok"] is False
    missing = {check["name"] for check in report["checks"] if check["required"] and not check["ok"]}
    assert {"numpy", "cv2", "mediapipe", "torch"} <= missing
