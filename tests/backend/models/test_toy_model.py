"""A new model is one file plus its registration: the toy model in toy_model.py runs end to end."""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from backend.commands.cli import main
from backend.core.errors import BackendError, ErrorCode
from backend.core.events import EventStream
from backend.core.motion_file import load_motion_file
from backend.core.run_options import RunOptions
from backend.models.registry import REGISTRY, all_cards, get_card, unregister_model
from backend.pipeline.run import run
from tests.conftest import REPO, SINGLE, backend_env


@pytest.fixture
def toy() -> Iterator[str]:
    sys.modules.pop("tests.backend.models.toy_model", None)
    toy_model = importlib.import_module("tests.backend.models.toy_model")  # registration: the decorator runs
    assert get_card("toy").run is toy_model.run
    yield "toy"
    unregister_model("toy")


def test_the_toy_model_is_listed_and_runs_through_the_pipeline(toy: str, tmp_path: Path) -> None:
    listing = io.StringIO()
    with redirect_stdout(listing):
        assert main(["models", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(listing.getvalue())["models"]}
    assert rows["toy"]["ready"] and rows["toy"]["windows"] == [] and rows["toy"]["title"] == "Toy (test only)"

    out = tmp_path / "toy.npz"
    run(RunOptions(video=SINGLE, out=out, model="toy", frames="0:6"), EventStream(io.StringIO()))
    motion = load_motion_file(out)
    assert str(motion["model"]) == "toy" and motion["poses"].shape == (6, 24, 3)
    np.testing.assert_allclose(motion["poses"][:, 18], [[0.0, 0.0, np.pi / 2]] * 6, atol=1e-6)
    assert json.loads(str(motion["meta"]))["toy"] is True
    # the model solved the translation from the landmarks: the person stands a few metres away
    assert np.all((motion["transl"][:, 2] > 1.0) & (motion["transl"][:, 2] < 20.0))


def test_a_second_card_under_a_taken_name_is_refused(toy: str) -> None:
    from backend.models.registry import ModelCard, register_model

    with pytest.raises(ValueError, match="registered twice"):
        register_model(ModelCard(name="toy", title="t", paper="p", status="ready"))(lambda request: None)


def test_every_card_is_complete() -> None:
    """What the pipeline, the seed runner and `models` read from each card is there and consistent."""
    for card in all_cards():
        assert callable(card.run)
        assert (card.default_window in card.windows) if card.windows else card.default_window is None
        if card.checkpoints:
            assert card.finished and card.needs_smpl and card.backbone
            assert [w.name for w in card.weight_files] == [c.file for c in card.checkpoints]
            if card.windows and card.feature_shape:  # windowed seed models: a SPIN/PyMAF backbone and a temporal file
                assert card.crop_scale in (1.1, 1.2) and card.feature_shape[0] == 2048
                assert card.window_batch > 0 and card.official_batch > 0 and len(card.checkpoints) == 2
            elif card.windows:  # TAR: ReFit's network with a window, from its own trained file or ReFit's
                assert card.crop_scale == 1.2 and card.window_batch > 0 and len(card.checkpoints) == 1
                assert all(c.alternative for c in card.checkpoints)
            else:  # a per-frame network in one file (ReFit)
                assert card.crop_scale == 1.2 and card.feature_batch > 0 and len(card.checkpoints) == 1


def test_a_broken_model_module_is_a_loud_error_in_models_and_doctor() -> None:
    for command in ("models", "doctor"):
        code = ("from backend.models import registry; registry.MODEL_MODULES += ('no_such_model',); "
                f"from backend.commands.cli import main; raise SystemExit(main([{command!r}, '--json']))")
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                              env=backend_env(), timeout=120, check=False)
        assert proc.returncode == BackendError(ErrorCode.INTERNAL, "").exit_status, proc.stdout + proc.stderr
        error = json.loads(proc.stdout.splitlines()[-1])
        assert error["code"] == "INTERNAL" and "backend/models/no_such_model.py cannot be imported" in error["message"]


def test_an_incomplete_model_output_is_refused_naming_the_model_and_field(toy: str, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Every model returns a whole output (post only smooths): one that leaves `transl` to somebody else
    is a loud INTERNAL error, not a motion file with a translation invented downstream."""
    card = get_card("toy")
    whole = card.run

    def leaves_translation_out(request):  # noqa: ANN001, ANN202 - the runner's own signature
        output = whole(request)
        output.transl = None
        return output

    monkeypatch.setitem(REGISTRY, "toy", dataclasses.replace(card, run=leaves_translation_out))
    out = tmp_path / "toy.npz"
    with pytest.raises(BackendError) as caught:
        run(RunOptions(video=SINGLE, out=out, model="toy", frames="0:4"), EventStream(io.StringIO()))
    assert caught.value.code is ErrorCode.INTERNAL
    message = caught.value.message
    assert "'toy'" in message and "'transl'" in message and "got nothing" in message
    assert not out.exists()
