"""With SMPL files present, the built-in model fits SMPL betas and builds its rest skeleton from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backend.core.motion_file import load_motion_file
from backend.testing.smpl_synth import write_smpl_npz
from tests.conftest import SINGLE, run_backend


def test_rest_joints_come_from_fitted_betas(tmp_path: Path) -> None:
    smpl_file = write_smpl_npz(tmp_path / "smpl")
    out = tmp_path / "m.npz"
    result = run_backend("run", str(SINGLE), "--out", str(out), "--smpl-dir", str(smpl_file.parent),
                         "--frames", "0:12")
    assert result.returncode == 0, result.stderr[-2000:]
    motion = load_motion_file(out)
    with np.load(smpl_file) as model:
        regressor, template, shapedirs = model["J_regressor"], model["v_template"], model["shapedirs"][:, :, :10]
    expected = regressor @ (template + shapedirs @ motion["betas"].astype(np.float64))
    np.testing.assert_allclose(motion["rest_joints"], expected, atol=1e-4)
    assert np.abs(motion["betas"]).max() > 0  # a real fit, not the zero shape
    assert "SMPL betas" in str(motion["meta"])
    joints = motion["joints3d"]
    assert (joints[:, 15, 1] < joints[:, 0, 1]).all()
