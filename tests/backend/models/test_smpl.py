"""The SMPL layer from the user's files, the synthetic model file, and the restricted pkl converter."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from backend.body.smpl_model import SMPL_FILE, convert_smpl, load_smpl_arrays, require_smpl, rest_joints
from backend.core.errors import BackendError, ErrorCode
from backend.geometry.skeleton import PARENTS
from backend.testing.smpl_synth import REST_JOINTS, make_smpl_arrays, write_smpl_pkl


def test_synthetic_model_has_the_real_layout() -> None:
    arrays = make_smpl_arrays()
    shapes = {k: v.shape for k, v in arrays.items()}
    assert shapes == {"v_template": (6890, 3), "shapedirs": (6890, 3, 10), "posedirs": (6890, 3, 207),
                      "J_regressor": (24, 6890), "weights": (6890, 24), "f": (13776, 3), "kintree_table": (2, 24)}
    assert list(arrays["kintree_table"][0, 1:]) == list(PARENTS[1:])
    np.testing.assert_allclose(arrays["J_regressor"].sum(axis=1), 1.0)
    np.testing.assert_allclose(arrays["weights"].sum(axis=1), 1.0)
    np.testing.assert_allclose(arrays["J_regressor"] @ arrays["v_template"], REST_JOINTS, atol=1e-9)
    assert arrays["f"].max() < 6890 and all(len(set(face)) == 3 for face in arrays["f"][:100])


def test_smplx_layer_from_npz(smpl_layer, smpl_dir: Path) -> None:
    np.testing.assert_allclose(rest_joints(smpl_layer, np.zeros(10)), REST_JOINTS, atol=1e-5)
    shifted = rest_joints(smpl_layer, np.eye(10)[0])
    assert 1e-4 < np.abs(shifted - REST_JOINTS).max() < 0.2  # betas change the skeleton, sanely
    assert load_smpl_arrays(smpl_dir / SMPL_FILE)["J_regressor"].shape == (24, 6890)


def test_missing_smpl_is_actionable(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as info:
        require_smpl(tmp_path)
    assert info.value.code == ErrorCode.SMPL_MISSING
    assert str(tmp_path) in info.value.message and "convert-smpl" in info.value.message
    (tmp_path / "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl").write_bytes(b"x")
    with pytest.raises(BackendError) as info:
        require_smpl(tmp_path)
    assert "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl" in info.value.message


def test_convert_official_style_pkl(tmp_path: Path) -> None:
    pkl = write_smpl_pkl(tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl")
    out = convert_smpl(pkl, tmp_path / "smpl" / SMPL_FILE)
    with np.load(out, allow_pickle=False) as data:
        for key, value in make_smpl_arrays().items():
            np.testing.assert_array_equal(data[key], value)


class _Boom:
    def __reduce__(self):
        return (Path("/tmp/never-created-by-convert-smpl").touch, ())


def test_convert_refuses_code_in_the_pickle(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"v_template": _Boom()}, protocol=2))
    with pytest.raises(BackendError) as info:
        convert_smpl(evil, tmp_path / "out.npz")
    assert str(evil) in info.value.message and "refus" in info.value.message
    assert not Path("/tmp/never-created-by-convert-smpl").exists()
    assert not (tmp_path / "out.npz").exists()


def test_convert_smpl_command(tmp_path: Path) -> None:
    from tests.conftest import run_backend

    pkl = write_smpl_pkl(tmp_path / "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl")
    out = tmp_path / "smpl" / SMPL_FILE
    result = run_backend("convert-smpl", str(pkl), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.events[-1] == {"event": "done", "out": str(out)}
    assert load_smpl_arrays(out)["v_template"].shape == (6890, 3)
