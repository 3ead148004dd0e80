"""The motion file's new keys (contacts, floor_plane) both ways, and old files still import."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.core.motion_file import Motion, load_motion_file, write_motion_file
from backend.core.motion_schema import check_arrays


def _addon_motion_data():
    """The add-on's reader (pure numpy, importable without Blender)."""
    from addon.core import motion_data

    return motion_data


def _motion(n: int = 12, **extra: object) -> Motion:
    rng = np.random.default_rng(0)
    return Motion(poses=rng.normal(scale=0.1, size=(n, 24, 3)), betas=np.zeros(10), transl=np.tile([0, 0, 4.0], (n, 1)),
                  valid=np.ones(n, bool), frame_ids=np.arange(n), fps=30.0, bboxes=np.ones((n, 4)),
                  cam=np.ones((n, 3)), rest_joints=rng.normal(size=(24, 3)), model="blazepose", window=0, **extra)


def test_new_keys_round_trip_through_backend_and_addon(tmp_path: Path) -> None:
    contacts = np.zeros((12, 4), bool)
    contacts[3:8, 1] = True
    plane = np.array([0.0, -0.96592583, -0.25881905, 1.6])
    out = write_motion_file(tmp_path / "m.npz", _motion(contacts=contacts, floor_plane=plane))
    arrays = load_motion_file(out)
    assert np.array_equal(arrays["contacts"], contacts)
    assert np.allclose(arrays["floor_plane"], plane, atol=1e-6)
    motion = _addon_motion_data().load_motion(out)
    assert np.array_equal(motion.contacts, contacts)
    assert np.allclose(motion.floor_plane, plane, atol=1e-6)


def test_old_files_without_the_keys_still_import(tmp_path: Path) -> None:
    out = write_motion_file(tmp_path / "old.npz", _motion())
    arrays = load_motion_file(out)
    assert "contacts" not in arrays and "floor_plane" not in arrays
    motion = _addon_motion_data().load_motion(out)
    assert motion.contacts is None and motion.floor_plane is None


@pytest.mark.parametrize(("key", "value", "message"), [
    ("contacts", np.zeros((12, 3), bool), "contacts"),
    ("contacts", np.zeros((12, 4), np.float32), "boolean"),
    ("floor_plane", np.array([0.0, -2.0, 0.0, 1.0], np.float32), "unit vector"),
    ("floor_plane", np.array([0.0, -1.0, 0.0, np.nan], np.float32), "NaN"),
])
def test_broken_new_keys_are_refused_by_both_readers(tmp_path: Path, key: str, value: np.ndarray,
                                                     message: str) -> None:
    arrays = _motion().to_arrays()
    arrays[key] = value
    with pytest.raises(ValueError, match=message):
        check_arrays(arrays, "bad.npz")
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    reader = _addon_motion_data()
    with pytest.raises(reader.MotionFileError, match=message):
        reader.load_motion(path)
