"""TAR training end to end: 3DPW's layout -> convert-dataset -> train tar -> resume -> run --model tar.

The dataset is synthetic in 3DPW's published layout (`backend.testing.pw3d_synth`: protocol-2 sequence
pickles with the readme's keys, JPEG image folders showing each body's projected skeleton), bodies from the
synthetic SMPL model. The network is TAR at test size (`--backbone small --crop-size 64`: a small
stand-in backbone and correlation layer with the same output roles, 16 x 16 local maps); GTE, LTE, the
26 GRUs, the marker lookup, the regressor and the loss are the real ones. The paper's sizes are the default.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.body.smpl_model import smpl_forward
from backend.core.errors import BackendError, ErrorCode
from backend.core.motion_file import REQUIRED_KEYS, load_motion_file
from backend.testing.pw3d_synth import write_3dpw
from backend.training.image_sequences import ImageSequences
from backend.training.losses import axis_angle_to_matrix
from backend.training.pw3d import convert_3dpw, read_sequence_file
from tests.backend.models.training_runs import (
    check_resume_after_sigterm,
    check_run_and_loss,
    run_training,
    train_argv,
)
from tests.conftest import SINGLE, run_backend

TRAIN_ARGS = ("--backbone", "small", "--crop-size", "64", "--refit", "none", "--batch", "4", "--lr", "3e-4",
              "--threads", "1")


@pytest.fixture(scope="module")
def pw3d(tmp_path_factory: pytest.TempPathFactory, smpl_layer) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tar_data")
    root = folder / "3dpw"
    write_3dpw(root, smpl_layer, "train", 6, 24, seed=1)
    write_3dpw(root, smpl_layer, "validation", 2, 24, seed=2, two_actors_in_first=False)
    for name, split in (("train", "train"), ("val", "validation")):
        result = run_backend("convert-dataset", str(root), str(folder / name), "--split", split)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.events[-1]["source"] == "3dpw"
    return {"root": root, "train": folder / "train", "val": folder / "val", "folder": folder}


def test_convert_3dpw_gives_camera_frame_ground_truth(pw3d: dict[str, Path], smpl_layer) -> None:
    """Every row against the sequence files, and the converted pose against the converted joints through SMPL."""
    db = ImageSequences(pw3d["train"])
    assert db.meta["tracks"] == 7 and db.meta["frames"] == 7 * 24 and db.meta["split"] == "train"
    assert len(db.sequences) == 7 and all(b - a == 24 for a, b in db.sequences)
    raw = read_sequence_file(next((pw3d["root"] / "sequenceFiles" / "train").glob("*_00.pkl")))
    cam = raw["cam_poses"]
    world = raw["jointPositions"][1].reshape(24, 24, 3)
    rows = np.arange(24, 48)  # the first sequence's second actor
    expected = np.einsum("nij,nkj->nki", cam[:, :3, :3], world) + cam[:, None, :3, 3]
    np.testing.assert_allclose(db.rows(rows, "joints3D"), expected, atol=1e-5)
    np.testing.assert_array_equal(db.rows(rows, "valid"), raw["campose_valid"][1].astype(bool))
    np.testing.assert_allclose(db.rows(rows, "betas")[0], raw["betas"][1][:10], atol=1e-6)
    k = raw["cam_intrinsics"]
    pix = expected[..., :2] / expected[..., 2:] * [k[0, 0], k[1, 1]] + k[:2, 2]
    np.testing.assert_allclose(db.rows(rows, "joints2D")[..., :2], pix, atol=1e-3)
    assert str(db.arrays["track"][24]).endswith("_00_1") and (db.images_root / str(db.arrays["image"][30])).is_file()
    # the camera-frame pose through SMPL reproduces the camera-frame joints (root-relative): the root turn is right
    with torch.inference_mode():
        rot = axis_angle_to_matrix(torch.from_numpy(db.rows(rows, "pose")).view(-1, 24, 3))
        _, joints = smpl_forward(smpl_layer, rot, torch.from_numpy(db.rows(rows, "betas")))
    got, truth = joints.numpy(), db.rows(rows, "joints3D")
    assert np.abs((got - got[:, :1]) - (truth - truth[:, :1])).max() < 1e-4
    crops = db.crops(np.array([[24, 25]]), 1.2, 64)
    assert crops.shape == (1, 2, 3, 64, 64) and crops.std() > 0.3  # the skeleton is in the crop


def test_restricted_unpickler_refuses_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    root = tmp_path / "3dpw"
    (root / "sequenceFiles" / "train").mkdir(parents=True)
    (root / "imageFiles" / "bad").mkdir(parents=True)
    bad = root / "sequenceFiles" / "train" / "bad.pkl"
    bad.write_bytes(pickle.dumps({"sequence": "bad", "poses": [Evil()]}, protocol=2))
    with pytest.raises(BackendError) as info:
        convert_3dpw(root, tmp_path / "out")
    assert info.value.code == ErrorCode.BAD_ARGUMENT and str(bad) in info.value.message
    assert "system" in info.value.message and "refused" in info.value.message
    assert not marker.exists() and not (tmp_path / "out").exists()
    result = run_backend("convert-dataset", str(root), str(tmp_path / "out2"))
    assert result.returncode == 2 and result.events[-1]["code"] == ErrorCode.BAD_ARGUMENT.value
    assert str(bad) in result.events[-1]["message"] and not marker.exists() and not (tmp_path / "out2").exists()


def _train(pw3d: dict[str, Path], run_dir: Path, out: Path, smpl_dir: Path, epochs: int, iters: int,
           *extra: str) -> list[str]:
    return train_argv("tar", pw3d["train"], pw3d["val"], run_dir, out, smpl_dir, epochs, iters, *TRAIN_ARGS, *extra)


@pytest.fixture(scope="module")
def trained(pw3d: dict[str, Path], smpl_dir: Path) -> dict:
    """150 steps (3 epochs of 50), the run the loss test reads."""
    run_dir = pw3d["folder"] / "run"
    out = pw3d["folder"] / "tar_model.pth.tar"
    return run_training(_train(pw3d, run_dir, out, smpl_dir, 3, 50), run_dir, out, timeout=1500)


def test_training_drives_the_loss_down(trained: dict) -> None:
    first, last = check_run_and_loss(trained, 150, 3)
    val = trained["state"]["val"]
    print(f"\nTAR training ({trained['seconds']:.0f} s, 150 steps): loss {first:.3f} (first 10) -> {last:.3f} "
          f"(last 20), x{first / last:.1f}; validation MPJPE by epoch {[round(v['mpjpe_mm'], 1) for v in val]} mm, "
          f"PA-MPJPE {val[-1]['pa_mpjpe_mm']:.1f} mm, accel {val[-1]['accel_mm']:.2f} mm/f^2")
    assert first / last >= 5.0
    assert all(np.isfinite([v["mpjpe_mm"], v["pa_mpjpe_mm"], v["accel_mm"]]).all() for v in val)
    assert val[-1]["mpjpe_mm"] < val[0]["mpjpe_mm"]


def test_resume_after_sigterm_continues_the_same_loss_curve(pw3d: dict[str, Path], smpl_dir: Path) -> None:
    """3 epochs of 6 steps uninterrupted; the same killed by SIGTERM in epoch 2 and resumed: equal curves."""
    check_resume_after_sigterm(lambda run_dir, out: _train(pw3d, run_dir, out, smpl_dir, 3, 6), pw3d["folder"], 3, 6,
                               kill_at=8, timeout=900, stop_timeout=300, label="TAR")


def test_trained_file_runs_on_the_sample_clip(trained: dict, smpl_dir: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    models = run_backend("models", "--json", "--weights-dir", str(weights))
    row = next(m for m in json.loads(models.stdout)["models"] if m["name"] == "tar")
    assert "no official TAR weights" in row["status"] and "train tar" in row["status"]
    (weights / "tar_model.pth.tar").symlink_to(trained["out"])
    out = tmp_path / "tar.npz"
    result = run_backend("run", str(SINGLE), "--model", "tar", "--out", str(out), "--weights-dir", str(weights),
                         "--smpl-dir", str(smpl_dir), "--threads", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [e for e in result.events if e.get("event") == "warning" and e.get("code") == "TAR_UNTRAINED"]
    motion = load_motion_file(out)
    assert set(REQUIRED_KEYS) <= set(motion) and str(motion["model"]) == "tar" and int(motion["window"]) == 9
    assert motion["poses"].shape == (40, 24, 3) and len(motion["frame_ids"]) == 40
    assert np.isfinite(motion["poses"]).all() and np.isfinite(motion["transl"]).all()
    meta = json.loads(str(motion["meta"]))
    assert meta["tar_init"] == "trained" and "tar_model.pth.tar" in meta["weights_sha256"]
    assert meta["config"]["backbone"] == "small" and meta["crop_size"] == 64


def test_refit_start_and_checkpoint_errors_name_the_file(tmp_path: Path) -> None:
    from backend.models.tar import load_tar
    from backend.models.temporal.tar_net import TARConfig
    from backend.training.tar_task import resolve_refit

    with pytest.raises(BackendError) as info:
        resolve_refit("auto", tmp_path, TARConfig())
    assert info.value.code == ErrorCode.WEIGHTS_MISSING and "refit_all/checkpoint_best.pth.tar" in info.value.message
    assert "--refit none" in info.value.message
    assert resolve_refit("auto", tmp_path, TARConfig(backbone="small")) is None  # test sizes start from scratch
    with pytest.raises(BackendError, match="fit the hrnet_w48 backbone"):
        resolve_refit(str(tmp_path / "x.pth.tar"), tmp_path, TARConfig(backbone="small"))
    last = tmp_path / "last.pt"  # a resumable training checkpoint is not the trained file
    torch.save({"model": {"gte.position": torch.zeros(1, 9, 384)}, "optimizer": {}, "scheduler": {}}, last)
    with pytest.raises(BackendError) as info:
        load_tar(last)
    assert info.value.code == ErrorCode.WEIGHTS_INVALID and str(last) in info.value.message
    assert "last.pt" in info.value.message and "--out" in info.value.message
    other = tmp_path / "tar_model.pth.tar"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, other)
    with pytest.raises(BackendError) as info:
        load_tar(other)
    assert info.value.code == ErrorCode.WEIGHTS_INVALID and "train tar" in info.value.message
