"""Registry: names, windows, official file names and sources; no torch on import; doctor names missing files."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backend.core.errors import BackendError, ErrorCode
from backend.models.registry import get_card
from tests.conftest import REPO, backend_env

EXPECTED = {
    "tcmr": ((8, 16, 32), 16, ("spin_model_checkpoint.pth.tar", "tcmr_demo_model.pth.tar")),
    "mpsnet": ((16,), 16, ("spin_model_checkpoint.pth.tar", "mpsnet_model_best.pth.tar")),
    "staf": ((9,), 9, ("base_model.pt", "3dpw_model_best.pth.tar")),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_seed_entries(name: str, layouts: dict[str, Any]) -> None:
    spec = get_card(name)
    windows, default, files = EXPECTED[name]
    assert (spec.windows, spec.default_window) == (windows, default)
    assert tuple(w.name for w in spec.weight_files) == files
    assert spec.needs_smpl and "not finished" not in spec.status
    official_names = {entry["file"] for key, entry in layouts.items() if key != "_about"}
    assert set(files) <= official_names
    assert all("README" in w.source and "Google Drive" in w.source for w in spec.weight_files)
    assert spec.run is importlib.import_module(f"backend.models.{name}").run


def test_registry_import_does_not_load_torch() -> None:
    code = ("import sys; from backend.models.registry import all_cards; names = [s.name for s in all_cards()]; "
            "assert 'torch' not in sys.modules, 'torch imported'; print(','.join(names))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip().split(",")[1:] == ["tcmr", "mpsnet", "staf", "str", "refit", "tar"]


@pytest.mark.parametrize("name, window, allowed", [("mpsnet", 9, "16"), ("staf", 16, "9"), ("tcmr", 12, "8, 16, 32")])
def test_disallowed_window_lists_the_allowed_ones(name: str, window: int, allowed: str) -> None:
    with pytest.raises(BackendError) as info:
        get_card(name).resolve_window(window)
    assert info.value.code == ErrorCode.BAD_ARGUMENT and f"accepts window lengths {allowed}" in info.value.message


def test_str_entry_says_how_to_get_its_file() -> None:
    """No official STR weights exist: the entry names our file and the exact commands that make it."""
    spec = get_card("str")
    assert (spec.windows, spec.default_window) == ((16,), 16) and spec.finished and spec.needs_smpl
    assert [w.name for w in spec.weight_files] == ["spin_model_checkpoint.pth.tar", "str_model.pth.tar"]
    source = spec.weight_files[1].source
    assert "no official weights" in source and "train str --data" in source and "convert-dataset" in source
    assert "weights folder" in source and "train str" in spec.status
    assert spec.run is importlib.import_module("backend.models.str_model").run


def test_an_unfinished_model_says_so_and_run_refuses_it(tmp_path: Path) -> None:
    """Every registered model runs today, so a test card stands for a paper that is listed but not built."""
    import io
    from contextlib import redirect_stdout

    from backend.commands.cli import main
    from backend.models.registry import ModelCard, register_model, unregister_model

    register_model(ModelCard(name="unbuilt", title="Unbuilt (test only)", paper="p",
                             status="not finished: no code or weights"))(lambda request: None)
    try:
        spec = get_card("unbuilt")
        with pytest.raises(BackendError) as info:
            spec.require_finished()
        assert "model 'unbuilt' cannot run" in info.value.message and "blazepose" in info.value.message
        printed = io.StringIO()
        with redirect_stdout(printed):
            status = main(["run", str(REPO / "samples" / "single_person_demo.mp4"), "--model", "unbuilt", "--out",
                           str(tmp_path / "m.npz")])
        error = json.loads(printed.getvalue().splitlines()[-1])
        assert status == 2 and error["code"] == "BAD_ARGUMENT" and "not finished" in error["message"]
        assert not (tmp_path / "m.npz").exists()
    finally:
        unregister_model("unbuilt")


def test_tar_card_says_there_are_no_official_weights_and_how_to_train() -> None:
    spec = get_card("tar")
    assert spec.finished and (spec.windows, spec.default_window) == ((9,), 9) and spec.needs_smpl
    assert "no official TAR weights" in spec.status and "train tar" in spec.status and "convert-dataset" in spec.status
    [weights] = spec.weight_files
    assert weights.name == "refit_all/checkpoint_best.pth.tar" and weights.alternative == "tar_model.pth.tar"


def test_doctor_names_each_missing_file(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "backend", "doctor", "--json", "--weights-dir", str(tmp_path),
                           "--smpl-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, env=backend_env())
    report = json.loads(proc.stdout.splitlines()[-1])
    messages = {c["name"]: c["message"] for c in report["checks"]}
    for name in (*EXPECTED, "str"):
        message = messages[f"model {name}"]
        for weight in get_card(name).weight_files:
            assert weight.name in message and weight.source in message
        assert "README" in message
    tar = messages["model tar"]
    assert "refit_all/checkpoint_best.pth.tar" in tar and "or instead tar_model.pth.tar" in tar
    assert "no official TAR weights" in tar and "python -m backend train tar" in tar
    (tmp_path / "tar_model.pth.tar").write_bytes(b"")  # TAR's own file replaces ReFit's for `models` and `doctor`
    listing = subprocess.run([sys.executable, "-m", "backend", "models", "--json", "--weights-dir", str(tmp_path)],
                             cwd=REPO, capture_output=True, text=True, env=backend_env())
    row = next(m for m in json.loads(listing.stdout)["models"] if m["name"] == "tar")
    assert row["ready"] and row["missing"] == [] and "train tar" in row["status"]
