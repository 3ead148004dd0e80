"""Issue 15: `backend export` without Blender. AMASS round-trips through smplx's own forward
kinematics (the synthetic SMPL model from backend/testing) to the motion's joints3d within 1 mm;
the CSV holds the same joints; a bad motion file fails with a message naming it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from backend.core.motion_file import load_motion_file
from backend.pipeline.exports import world_frame
from backend.testing.smpl_synth import write_smpl_npz
from tests.conftest import SINGLE, run_backend

TOLERANCE_M = 0.001


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A real clip converted with SMPL present (rest joints = the SMPL model's joints for its betas)."""
    root = tmp_path_factory.mktemp("exports")
    smpl_file = write_smpl_npz(root / "smpl")
    out = root / "m.npz"
    result = run_backend("run", str(SINGLE), "--out", str(out), "--smpl-dir", str(smpl_file.parent), "--frames", "0:10")
    assert result.returncode == 0, result.stderr[-2000:]
    return out, smpl_file


def test_amass_round_trips_through_smplx_fk(fitted: tuple[Path, Path], tmp_path: Path) -> None:
    import torch

    from backend.body.smpl_model import load_smpl_layer

    motion_path, smpl_file = fitted
    out = tmp_path / "m_amass.npz"
    result = run_backend("export", str(motion_path), "--amass", str(out))
    assert result.returncode == 0 and result.events[-1]["out"] == str(out), result.stderr[-2000:]
    with np.load(out, allow_pickle=False) as data:
        amass = {k: data[k] for k in data.files}
    motion = load_motion_file(motion_path)
    n = len(motion["poses"])
    assert amass["poses"].shape == (n, 72) and amass["trans"].shape == (n, 3) and amass["betas"].shape == (10,)
    assert str(amass["gender"]) == "neutral" and str(amass["up_axis"]) == "Z"
    assert float(amass["mocap_framerate"]) == pytest.approx(json.loads(str(motion["meta"]))["source_fps"])

    layer = load_smpl_layer(smpl_file.parent)
    with torch.inference_mode():
        poses = torch.as_tensor(amass["poses"], dtype=torch.float32)
        fk = layer(betas=torch.as_tensor(amass["betas"], dtype=torch.float32).expand(n, 10),
                   global_orient=poses[:, :3], body_pose=poses[:, 3:],
                   transl=torch.as_tensor(amass["trans"], dtype=torch.float32), pose2rot=True)
    joints = fk.joints[:, :24].numpy().astype(np.float64)
    rotation, lift = world_frame(motion)
    expected = motion["joints3d"].astype(np.float64) @ rotation.T + np.array([0.0, 0.0, lift])
    error = np.linalg.norm(joints - expected, axis=-1)
    assert error.max() < TOLERANCE_M, f"max {error.max() * 1000:.2f} mm"
    assert np.all(joints[:, 15, 2] > joints[:, 0, 2] + 0.3)  # Z up: the head above the pelvis
    assert np.abs(joints[:, [7, 8, 10, 11], 2].min(axis=1)).max() < 0.15  # feet on Z = 0


def test_csv_holds_every_row_and_joint(fitted: tuple[Path, Path], tmp_path: Path) -> None:
    motion_path, _ = fitted
    out = tmp_path / "m.csv"
    result = run_backend("export", str(motion_path), "--csv", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    motion = load_motion_file(motion_path)
    rows = list(csv.reader(out.open()))
    assert rows[0][:4] == ["frame", "time_s", "valid", "pelvis_x"] and len(rows[0]) == 3 + 72
    assert len(rows) == 1 + len(motion["poses"])
    values = np.array([[float(v) for v in row[3:]] for row in rows[1:]]).reshape(-1, 24, 3)
    rotation, lift = world_frame(motion)
    expected = motion["joints3d"].astype(np.float64) @ rotation.T + np.array([0.0, 0.0, lift])
    np.testing.assert_allclose(values, expected, atol=2e-6)
    assert [int(r[0]) for r in rows[1:]] == list(motion["frame_ids"])


def test_export_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    result = run_backend("export", str(bad), "--bvh", str(tmp_path / "x.bvh"))
    assert result.returncode == 2 and str(bad) in result.last_error()["message"]
    assert not (tmp_path / "x.bvh").exists()
    result = run_backend("export", str(bad), "--bvh", str(tmp_path / "x.txt"))
    assert result.returncode == 2 and ".bvh" in result.last_error()["message"]
    result = run_backend("export", str(bad))
    assert result.returncode == 2 and "--bvh" in result.last_error()["message"]
    result = run_backend("export", str(tmp_path / "gone.npz"), "--bvh", str(tmp_path / "x.bvh"))
    error = result.last_error()
    assert result.returncode == 2 and error["code"] == "BAD_ARGUMENT", error  # a motion file, not a video
    assert error["message"].startswith(f"motion file {tmp_path / 'gone.npz'} does not exist")
    missing = tmp_path / "no_such_folder" / "x.csv"  # the message names the flag the path was given with
    result = run_backend("export", str(bad), "--csv", str(missing))
    assert result.returncode == 8 and result.last_error()["message"] == (
        f"cannot write {missing}: folder {missing.parent} does not exist; create it or choose another --csv")
