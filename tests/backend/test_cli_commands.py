"""`models`, `doctor` and `--help` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_backend


def test_help_lists_every_command() -> None:
    result = run_backend("--help")
    assert result.returncode == 0
    for command in ("run", "models", "doctor", "preview"):
        assert command in result.stdout


def test_models_json_lists_the_builtin_model_ready(tmp_path: Path) -> None:
    result = run_backend("models", "--json", "--weights-dir", str(tmp_path))
    assert result.returncode == 0
    listing = json.loads(result.stdout)
    by_name = {m["name"]: m for m in listing["models"]}
    builtin = by_name["blazepose"]
    assert builtin["ready"] is True and builtin["missing"] == [] and builtin["windows"] == []
    assert listing["weights_dir"] == str(tmp_path)
    for model in listing["models"]:
        if model["windows"]:
            assert model["default_window"] in model["windows"]


def test_doctor_verdict_and_checks(tmp_path: Path) -> None:
    result = run_backend("doctor", "--json", "--weights-dir", str(tmp_path), "--smpl-dir", str(tmp_path))
    report = json.loads(result.stdout)
    assert report["ok"] is True and result.returncode == 0
    names = {c["name"]: c for c in report["checks"]}
    assert names["mediapipe"]["ok"] and names["pose model"]["ok"]
    assert not names["smpl"]["ok"] and str(tmp_path / "SMPL_NEUTRAL.npz") in names["smpl"]["message"]
    human = run_backend("doctor", "--weights-dir", str(tmp_path), "--smpl-dir", str(tmp_path))
    assert "verdict: ready" in human.stdout
