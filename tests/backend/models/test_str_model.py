"""STR (built from its paper): size against the rebuttal, batching, SPIN initialisation, its checkpoint layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from backend.core.errors import BackendError, ErrorCode
from backend.models.backbones.hmr import SpinHMR
from backend.models.checkpoints import load_checkpoint
from backend.models.registry import get_card
from backend.models.seed_runner import load_temporal, run_windows
from backend.models.str_model import load_str as load_str_checkpoint
from backend.models.temporal.str_net import STR, STRConfig, parameter_count
from backend.models.windows import window_rows
from backend.training.str_task import init_regressor_from_spin, save_str

REBUTTAL_PARAMS = 127.19e6
SMALL = STRConfig(width=64, fusion=128)


def test_parameter_count_with_backbone_is_within_10_percent_of_the_rebuttal() -> None:
    backbone = SpinHMR()
    trunk = sum(p.numel() for n, p in backbone.named_parameters() if not n.startswith(("fc", "dec")))
    model = STR()
    total = trunk + parameter_count(model)
    parts = {name: parameter_count(child) / 1e6 for name, child in model.named_children()}
    off = 100 * (total / REBUTTAL_PARAMS - 1)
    print(f"\nSTR parameters: temporal + regressor {parameter_count(model) / 1e6:.2f} M, SPIN ResNet-50 trunk "
          f"{trunk / 1e6:.2f} M, total {total / 1e6:.2f} M (rebuttal 127.19 M, {off:+.1f} %)"
          f"; by module {', '.join(f'{k} {v:.2f} M' for k, v in parts.items())}")
    assert abs(total / REBUTTAL_PARAMS - 1) <= 0.10


def test_shapes_and_window_length() -> None:
    model = STR(SMALL).eval()
    with torch.inference_mode():
        pose, betas, cam = model(torch.rand(3, 16, 2048))
    assert pose.shape == (3, 144) and betas.shape == (3, 10) and cam.shape == (3, 3)
    with pytest.raises(ValueError, match="16 frames"):
        model(torch.rand(1, 9, 2048))


@pytest.fixture(scope="module")
def str_weights(tmp_path_factory: pytest.TempPathFactory, weights_dir: Path) -> Path:
    """A weights folder with SPIN (synthetic, official layout) and a randomly initialised STR of test size."""
    folder = tmp_path_factory.mktemp("str_weights")
    (folder / "spin_model_checkpoint.pth.tar").symlink_to(weights_dir / "spin_model_checkpoint.pth.tar")
    torch.manual_seed(0)
    save_str(STR(SMALL), folder / "str_model.pth.tar", 0, {})
    return folder


def test_batched_windows_equal_single_windows_and_the_reference_forward(str_weights: Path) -> None:
    net, _ = load_temporal(get_card("str"), str_weights, "cpu")
    feats = torch.relu(torch.randn(21, 2048, generator=torch.Generator().manual_seed(3))) * 0.5
    setup = get_card("str")

    def run(batch: int) -> list[np.ndarray]:
        return list(run_windows(net, setup, lambda lo, hi: feats[lo:hi], len(feats), 16, batch, None, "cpu"))

    together, alone, odd = run(len(feats)), run(1), run(5)
    with torch.inference_mode():
        reference = [t.numpy() for t in net(feats[torch.from_numpy(window_rows(len(feats), 16))])]
    worst = max(float(np.abs(a - b).max()) for other in (alone, odd, reference) for a, b in zip(together, other))
    print(f"\nSTR batched vs single/odd/reference windows: max |diff| {worst:.2e}")
    assert worst <= 1e-5
    assert all(np.isfinite(x).all() for x in together)


def test_regressor_starts_from_spin(weights_dir: Path) -> None:
    spin_path = weights_dir / "spin_model_checkpoint.pth.tar"
    model = STR()
    init_regressor_from_spin(model, spin_path)
    spin = load_checkpoint(spin_path)["model"]
    for key in ("fc1.weight", "fc2.bias", "decpose.weight", "deccam.bias", "init_pose", "init_cam"):
        assert torch.equal(model.regressor.state_dict()[key], spin[key]), key


def test_regressor_init_refuses_another_file(weights_dir: Path) -> None:
    with pytest.raises(BackendError) as info:
        init_regressor_from_spin(STR(), weights_dir / "tcmr_demo_model.pth.tar")
    assert info.value.code == ErrorCode.WEIGHTS_INVALID and "tcmr_demo_model.pth.tar" in info.value.message


def test_checkpoint_round_trip_keeps_sizes_and_weights(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = STR(STRConfig(width=32, fusion=64))
    save_str(model, tmp_path / "s.pth.tar", 3, {"mpjpe_mm": 80.0})
    ckpt = torch.load(tmp_path / "s.pth.tar", weights_only=True)
    assert ckpt["format"] == "video-mocap-str" and ckpt["version"] == 1 and ckpt["epoch"] == 3
    loaded, digest = load_str_checkpoint(tmp_path / "s.pth.tar")
    assert loaded.config == model.config and len(digest) == 16
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


@pytest.mark.parametrize("case", ["official_tcmr", "resume_file", "wrong_shapes", "bad_config"])
def test_checkpoint_errors_name_the_file_and_what_to_do(case: str, tmp_path: Path, weights_dir: Path) -> None:
    path = tmp_path / "str_model.pth.tar"
    payload: Any
    if case == "official_tcmr":
        path.write_bytes((weights_dir / "tcmr_demo_model.pth.tar").read_bytes())
        needle = "TCMR"
    else:
        state = STR(SMALL).state_dict()
        payload = {"format": "video-mocap-str", "version": 1, "config": SMALL.to_dict(), "model": state,
                   "epoch": 1, "metrics": {}}
        if case == "resume_file":
            payload = {"model": state, "optimizer": {}, "scheduler": {}}
            needle = "last.pt"
        elif case == "wrong_shapes":
            payload["config"] = {**SMALL.to_dict(), "width": 32}
            needle = "shapes differ"
        else:
            payload["config"] = {**SMALL.to_dict(), "colour": 3}
            needle = "config"
        torch.save(payload, path)
    with pytest.raises(BackendError) as info:
        load_str_checkpoint(path)
    assert info.value.code == ErrorCode.WEIGHTS_INVALID
    assert str(path) in info.value.message and needle in info.value.message, info.value.message
