"""STR training end to end: convert-dataset, train, resume after SIGTERM, then `run --model str` on the sample clip.

The databases are synthetic in the published TCMR/VIBE layout (`backend.testing.sequence_synth`,
written with joblib as the originals): SMPL bodies from the synthetic body model, features that
encode the pose. The network is STR at test width (`--width 128 --fusion 256`: same modules, an
input projection in front) so a few hundred steps fit in CI; the paper's sizes are the default.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.core.errors import ErrorCode
from backend.core.motion_file import REQUIRED_KEYS, load_motion_file
from backend.testing.sequence_synth import make_database, write_database
from backend.training.datasets import SequenceArrays, convert_dataset
from tests.backend.models.training_runs import (
    check_resume_after_sigterm,
    check_run_and_loss,
    run_training,
    train_argv,
)
from tests.conftest import REPO, SINGLE, backend_env, parse_events, run_backend

TRAIN_ARGS = ("--width", "128", "--fusion", "256", "--batch", "16", "--lr", "3e-4", "--threads", "1")


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory, smpl_layer) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("str_data")
    raw = {"train": make_database(smpl_layer, 48, 32, seed=1), "val": make_database(smpl_layer, 4, 48, seed=2)}
    paths = {"train_db": write_database(folder / "train_db.pt", raw["train"]),
             "val_db": write_database(folder / "val_db.pt", raw["val"], compress=3)}
    for name in ("train", "val"):
        result = run_backend("convert-dataset", str(paths[f"{name}_db"]), str(folder / name))
        assert result.returncode == 0, result.stderr[-2000:]
        paths[name] = folder / name
    paths["folder"] = folder
    return paths


def test_convert_dataset_round_trip(databases: dict[str, Path], smpl_layer) -> None:
    expected = make_database(smpl_layer, 4, 48, seed=2)
    db = SequenceArrays(databases["val"])
    assert db.meta["frames"] == 192 and db.meta["videos"] == 4 and db.meta["joints"] == 49
    assert db.sequences == [(0, 48), (48, 96), (96, 144), (144, 192)]
    for key in ("features", "pose", "shape", "joints3D", "joints2D", "bbox", "vid_name", "frame_id"):
        np.testing.assert_array_equal(np.asarray(db.arrays[key]), expected[key].astype(db.arrays[key].dtype),
                                      err_msg=key)
    assert "img_name" not in db.arrays  # keys training does not use are left out
    assert isinstance(db.arrays["features"], np.memmap)  # streamed from disk, not loaded


def test_convert_dataset_refuses_code_in_a_pickle(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "bad_db.pt"
    bad.write_bytes(pickle.dumps({"features": Evil()}))
    with pytest.raises(Exception) as info:
        convert_dataset(bad, tmp_path / "out")
    assert "posix.system" in str(info.value) or "system" in str(info.value)
    assert not marker.exists() and not (tmp_path / "out").exists()
    result = run_backend("convert-dataset", str(bad), str(tmp_path / "out2"))
    assert result.returncode == 2 and result.events[-1]["code"] == ErrorCode.BAD_ARGUMENT.value
    assert str(bad) in result.events[-1]["message"] and not marker.exists()


def _train(databases: dict[str, Path], run_dir: Path, out: Path, smpl_dir: Path, epochs: int, iters: int,
           *extra: str) -> list[str]:
    return train_argv("str", databases["train"], databases["val"], run_dir, out, smpl_dir, epochs, iters, *TRAIN_ARGS,
                      *extra)


@pytest.fixture(scope="module")
def trained(databases: dict[str, Path], smpl_dir: Path) -> dict:
    """300 steps (3 epochs of 100), the run the loss and baseline tests read."""
    run_dir = databases["folder"] / "run"
    out = databases["folder"] / "str_model.pth.tar"
    return run_training(_train(databases, run_dir, out, smpl_dir, 3, 100), run_dir, out, timeout=1200)


def test_training_drives_the_loss_down_and_beats_the_mean_pose(trained: dict) -> None:
    first, last = check_run_and_loss(trained, 300, 3)
    val = trained["state"]["val"][-1]
    print(f"\nSTR training ({trained['seconds']:.0f} s, 300 steps): loss {first:.3f} (first 10) -> {last:.3f} "
          f"(last 20), x{first / last:.1f}; validation MPJPE {val['mpjpe_mm']:.1f} mm, PA-MPJPE "
          f"{val['pa_mpjpe_mm']:.1f} mm, accel {val['accel_mm']:.2f} mm/f^2; mean-pose baseline MPJPE "
          f"{val['baseline_mpjpe_mm']:.1f} mm, PA-MPJPE {val['baseline_pa_mpjpe_mm']:.1f} mm")
    assert first / last >= 5.0
    assert val["mpjpe_mm"] < val["baseline_mpjpe_mm"] and val["pa_mpjpe_mm"] < val["baseline_pa_mpjpe_mm"]


def test_resume_after_sigterm_continues_the_same_loss_curve(databases: dict[str, Path], smpl_dir: Path) -> None:
    """3 epochs of 20 steps uninterrupted; the same killed by SIGTERM in epoch 2 and resumed: equal curves."""
    argv = check_resume_after_sigterm(lambda run_dir, out: _train(databases, run_dir, out, smpl_dir, 3, 20),
                                      databases["folder"], 3, 20, kill_at=25, timeout=1200, stop_timeout=120,
                                      label="STR")
    again = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=backend_env(), timeout=120)
    assert again.returncode == 2 and "--resume" in parse_events(again.stdout)[-1]["message"]


def test_trained_file_runs_on_the_sample_clip(trained: dict, weights_dir: Path, smpl_dir: Path,
                                              tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "spin_model_checkpoint.pth.tar").symlink_to(weights_dir / "spin_model_checkpoint.pth.tar")
    models = run_backend("models", "--json", "--weights-dir", str(weights))
    row = next(m for m in json.loads(models.stdout)["models"] if m["name"] == "str")
    assert not row["ready"] and row["missing"] == ["str_model.pth.tar"] and "train str" in row["status"]
    (weights / "str_model.pth.tar").symlink_to(trained["out"])
    models = run_backend("models", "--json", "--weights-dir", str(weights))
    assert next(m for m in json.loads(models.stdout)["models"] if m["name"] == "str")["ready"]
    out = tmp_path / "str.npz"
    result = run_backend("run", str(SINGLE), "--model", "str", "--out", str(out), "--weights-dir", str(weights),
                         "--smpl-dir", str(smpl_dir), "--threads", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    motion = load_motion_file(out)
    assert set(REQUIRED_KEYS) <= set(motion) and str(motion["model"]) == "str" and int(motion["window"]) == 16
    assert motion["poses"].shape == (40, 24, 3) and len(motion["frame_ids"]) == 40
    assert np.isfinite(motion["poses"]).all() and np.all(motion["transl"][:, 2] > 0)
    meta = json.loads(str(motion["meta"]))
    assert "str_model.pth.tar" in meta["weights_sha256"] and meta["crop_scale"] == 1.2


def test_several_training_databases_are_sampled_together(databases: dict[str, Path], smpl_dir: Path) -> None:
    """`--data A --data B`: windows of both; a mixed batch's loss is the mean of its windows' losses."""
    from backend.models.temporal.str_net import STRConfig
    from backend.training.str_task import STRTask

    dbs = [SequenceArrays(databases["train"]), SequenceArrays(databases["val"])]
    task = STRTask(dbs, None, smpl_dir, STRConfig(width=32, fusion=64), None, "cpu")
    assert task.n_windows() == len(dbs[0].window_starts(16)) + len(dbs[1].window_starts(16))
    torch.manual_seed(0)
    model = task.build().eval()
    mixed = np.array([task.n_windows() - 1, 0, task.n_windows() - 40])  # B, A, B
    assert list(task.start_db[mixed]) == [1, 0, 1]
    with torch.no_grad():
        together = task.batch_loss(model, mixed)
        alone = [task.batch_loss(model, mixed[i:i + 1]) for i in range(3)]
    for key in ("kp_3d", "kp_2d", "pose", "shape"):
        expected = sum(float(t[key]) for t in alone) / 3
        assert abs(float(together[key]) - expected) <= 1e-5 * max(1.0, expected), key
