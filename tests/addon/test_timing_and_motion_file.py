"""fps mapping by time, and the motion-file checks (allow_pickle=False, every key and shape)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synthetic_motion import motion_arrays

from addon.core.motion_data import REQUIRED_KEYS, MotionFileError, load_motion
from addon.core.timing import frame_range_for, render_fps_for, scene_frames_for
from tests.conftest import REPO


def test_frames_map_by_time_not_by_index() -> None:
    frames = scene_frames_for(np.array([10, 11, 12, 14]) / 30.0, scene_fps=24.0, first_frame=1)
    np.testing.assert_allclose(frames, [1.0, 1.8, 2.6, 4.2])  # frame 13 was skipped: the gap stays a gap
    np.testing.assert_allclose(scene_frames_for(np.arange(5) / 12.0, 24.0, 1), [1, 3, 5, 7, 9])
    assert frame_range_for(frames) == (1, 5)
    assert frame_range_for(np.array([1.0, 9.0])) == (1, 9)
    with pytest.raises(ValueError):
        scene_frames_for(np.arange(3) / 12.0, 0.0, 1)


def test_render_fps_for_ntsc_and_integer_rates() -> None:
    assert render_fps_for(12.0) == (12, 1.0)
    fps, base = render_fps_for(29.97)
    assert fps == 30 and fps / base == pytest.approx(29.97)


def save(tmp_path: Path, arrays: dict, name: str = "m.npz") -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_contract_copy_is_the_backends_file_byte_for_byte() -> None:
    """The add-on keeps its own copy of the contract (it cannot import the backend); it is the same file."""
    addon_copy = REPO / "addon" / "core" / "motion_schema.py"
    backend_copy = REPO / "backend" / "core" / "motion_schema.py"
    assert addon_copy.read_bytes() == backend_copy.read_bytes(), (
        f"{addon_copy} differs from {backend_copy}: edit the backend's copy, then "
        "`cp backend/core/motion_schema.py addon/core/`")


def test_the_backends_writer_output_loads(tmp_path: Path) -> None:
    from backend.core.motion_file import Motion as BackendMotion
    from backend.core.motion_file import write_motion_file

    arrays = motion_arrays(frames=5)
    written = write_motion_file(tmp_path / "w.npz", BackendMotion(
        poses=arrays["poses"], betas=arrays["betas"], transl=arrays["transl"], valid=arrays["valid"],
        frame_ids=arrays["frame_ids"], times=arrays["times"], fps=30.0, bboxes=arrays["bboxes"], cam=arrays["cam"],
        rest_joints=arrays["rest_joints"], model="blazepose", window=0, meta={"k": 1}, focal_length=1920.0,
        image_size=(1080, 1920)))
    motion = load_motion(written)
    assert motion.frame_count == 5 and motion.focal_length == 1920.0 and motion.image_size == (1080, 1920)


def test_valid_file_loads(tmp_path: Path) -> None:
    motion = load_motion(save(tmp_path, motion_arrays(frames=7, fps=25.0)))
    assert motion.frame_count == 7 and motion.fps == 25.0 and motion.meta == {"source": "known rotations"}
    assert motion.poses.shape == (7, 24, 3) and motion.focal_length is None


@pytest.mark.parametrize("key", sorted(REQUIRED_KEYS))
def test_each_missing_key_is_named(tmp_path: Path, key: str) -> None:
    arrays = motion_arrays(frames=4)
    del arrays[key]
    with pytest.raises(MotionFileError, match=f"missing keys {key}"):
        load_motion(save(tmp_path, arrays))


@pytest.mark.parametrize(("key", "value", "message"), [
    ("poses", np.zeros((4, 23, 3), np.float32), r"'poses' has shape \[4, 23, 3\], expected \[4, 24, 3\]"),
    ("transl", np.zeros((3, 3), np.float32), r"'transl' has shape \[3, 3\], expected \[4, 3\]"),
    ("rest_joints", np.zeros((24, 2), np.float32), "'rest_joints' has shape"),
    ("valid", np.ones(4, np.int32), "'valid' must be boolean"),
    ("frame_ids", np.arange(4, dtype=np.float32), "'frame_ids' must be an integer"),
    ("frame_ids", np.array([0, 2, 1, 3], np.int32), "'frame_ids' must increase"),
    ("poses", np.full((4, 24, 3), np.nan, np.float32), "'poses' contains NaN"),
    ("fps", np.float64(0.0), "'fps' must be positive"),
    ("format_version", np.int32(3), "format_version 3 is not supported"),
    ("times", np.array([0.0, 0.1, 0.1, 0.2]), "'times' must increase"),
    ("times", np.arange(4, dtype=np.int32), "'times' must be floating point"),
    ("meta", np.str_("{not json"), "'meta' is not valid JSON"),
    ("image_size", np.array([1080, 1920, 3], np.int32), "'image_size' has shape"),
])
def test_bad_values_are_named(tmp_path: Path, key: str, value: np.ndarray, message: str) -> None:
    arrays = motion_arrays(frames=4)
    arrays[key] = value
    with pytest.raises(MotionFileError, match=message):
        load_motion(save(tmp_path, arrays))


def test_pickled_content_is_refused_not_executed(tmp_path: Path) -> None:
    arrays = motion_arrays(frames=4)
    arrays["meta"] = np.array([{"payload": "would need unpickling"}], dtype=object)
    with pytest.raises(MotionFileError, match="not a readable motion file .*allow_pickle=False"):
        load_motion(save(tmp_path, arrays))


def test_not_a_zip_and_missing_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_text(json.dumps({"not": "npz"}))
    with pytest.raises(MotionFileError, match="junk.npz"):
        load_motion(junk)
    with pytest.raises(MotionFileError, match="motion file not found"):
        load_motion(tmp_path / "nope.npz")
