"""Loading: official layouts load strict; wrong-model, truncated and pickle-only files fail naming the file."""

from __future__ import annotations

import collections
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from backend.core.errors import BackendError, ErrorCode
from backend.models.checkpoints import convert_checkpoint, load_checkpoint, load_into
from backend.models.registry import get_card
from backend.models.seed_runner import load_models
from tests.conftest import run_backend


class TrainerConfig:
    """A custom class, like the yacs configs some trainers pickle next to the weights."""

    def __init__(self) -> None:
        self.lr = 1e-4


@pytest.mark.parametrize("model", ["tcmr", "mpsnet", "staf"])
def test_official_layout_loads_strict(model: str, weights_dir: Path) -> None:
    backbone, temporal, digests = load_models(get_card(model), weights_dir, "cpu")
    assert set(digests) == {get_card(model).checkpoints[0].file, get_card(model).checkpoints[1].file}
    ckpt = load_checkpoint(weights_dir / get_card(model).checkpoints[1].file)
    assert isinstance(ckpt["performance"], np.floating)  # the numpy scalar of the training checkpoints
    state = ckpt["gen_state_dict"]
    for key, value in temporal.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_legacy_format_and_numpy_scalar(tmp_path: Path, layouts: dict[str, Any]) -> None:
    from backend.testing.weights_synth import write_checkpoint

    path = write_checkpoint(tmp_path / "tcmr_demo_model.pth.tar", layouts["tcmr"], legacy=True)
    assert float(load_checkpoint(path)["performance"]) == pytest.approx(52.1)


def test_wrong_model_names_the_file(weights_dir: Path) -> None:
    from backend.models.temporal.mpsnet import MPSNet

    path = weights_dir / "tcmr_demo_model.pth.tar"
    with pytest.raises(BackendError) as info:
        load_into(MPSNet(), path, "gen_state_dict", "an MPS-Net checkpoint (mpsnet_model_best.pth.tar)")
    assert info.value.code == ErrorCode.WEIGHTS_INVALID
    assert str(path) in info.value.message and "looks like a TCMR checkpoint" in info.value.message


def test_backbone_file_in_place_of_the_model(tmp_path: Path, weights_dir: Path) -> None:
    fake = tmp_path / "mpsnet_model_best.pth.tar"
    shutil.copy(weights_dir / "spin_model_checkpoint.pth.tar", fake)
    from backend.models.temporal.mpsnet import MPSNet

    with pytest.raises(BackendError) as info:
        load_into(MPSNet(), fake, "gen_state_dict", "an MPS-Net checkpoint")
    assert str(fake) in info.value.message and "'gen_state_dict'" in info.value.message


@pytest.mark.parametrize("name", ["3dpw_model_best.pth.tar", "spin_model_checkpoint.pth.tar"])  # zip and legacy
@pytest.mark.parametrize("keep", [100, 5000, 1 << 20, -10])
def test_truncated_file_names_the_file(tmp_path: Path, weights_dir: Path, name: str, keep: int) -> None:
    cut = tmp_path / name
    with open(weights_dir / name, "rb") as handle:
        data = handle.read(keep if keep > 0 else -1)
    cut.write_bytes(data if keep > 0 else data[:keep])
    with pytest.raises(BackendError) as info:
        load_checkpoint(cut)
    assert info.value.code == ErrorCode.WEIGHTS_INVALID
    assert str(cut) in info.value.message and "truncated" in info.value.message


def test_pickle_only_file_is_refused_then_converted(tmp_path: Path) -> None:
    path = tmp_path / "mpsnet_model_best.pth.tar"
    torch.save({"gen_state_dict": collections.OrderedDict(w=torch.ones(2)), "cfg": TrainerConfig(),
                "performance": np.float64(50.0)}, path)
    with pytest.raises(BackendError) as info:
        load_checkpoint(path)
    message = info.value.message
    assert str(path) in message and "convert-checkpoint" in message and "trust" in message
    out = convert_checkpoint(path, tmp_path / "converted.pth.tar")
    plain = load_checkpoint(out)
    assert torch.equal(plain["gen_state_dict"]["w"], torch.ones(2))
    assert plain["performance"] == 50.0 and plain["cfg"] is None


def test_only_numpy_scalars_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "x.pth.tar"
    torch.save({"gen_state_dict": {}, "table": np.arange(3)}, path)
    with pytest.raises(BackendError) as info:
        load_checkpoint(path)
    assert "convert-checkpoint" in info.value.message


def test_convert_checkpoint_command(tmp_path: Path) -> None:
    src = tmp_path / "trusted.pt"
    torch.save({"model": {"a": torch.zeros(1)}, "cfg": TrainerConfig()}, src)
    result = run_backend("convert-checkpoint", str(src), str(tmp_path / "plain.pt"))
    assert result.returncode == 0, result.stderr
    assert result.events[-1] == {"event": "done", "out": str(tmp_path / "plain.pt")}
    assert torch.equal(load_checkpoint(tmp_path / "plain.pt")["model"]["a"], torch.zeros(1))
