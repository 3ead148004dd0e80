"""Cancel and errors with the real backend: the scene stays exactly as it was, the user gets the backend's message."""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType

import bpy
import numpy as np
import pytest
from blender_helpers import MODULE, SINGLE_PERSON, scene_snapshot, submodule
from synthetic_motion import motion_arrays

from tests.conftest import process_gone


def set_video(path: Path | str) -> None:
    bpy.context.scene.video_mocap.video_path = str(path)


def test_cancel_at_first_progress_line_leaves_nothing(clean_scene: ModuleType) -> None:
    """Started as the panel starts it; cancelled with the Cancel button's operator at the first progress line."""
    operators = submodule(clean_scene, "ui.operators")
    locations = submodule(clean_scene, "blender.locations")
    set_video(SINGLE_PERSON)
    before = scene_snapshot()
    job = operators.new_import_job(bpy.context)
    job.start()
    operators.runtime.job = job
    tick_seconds = []
    try:
        deadline = time.monotonic() + 120
        while job.process.collected.progress.stage == "":
            started = time.perf_counter()
            operators.modal_step(job, "TIMER", "NOTHING")  # what each timer tick of the modal operator does
            tick_seconds.append(time.perf_counter() - started)
            assert not job.finished, job.message
            assert time.monotonic() < deadline, "no progress line from the backend"
            time.sleep(0.005)
        print(f"timer tick: median {np.median(tick_seconds) * 1e3:.3f} ms, max {max(tick_seconds) * 1e3:.3f} ms "
              f"over {len(tick_seconds)} ticks")
        assert max(tick_seconds) < 0.02  # the UI thread is never held for more than a few ms
        run_dir = job.run_dir
        assert run_dir is not None and run_dir.is_dir()
        assert bpy.ops.video_mocap.cancel_import() == {"FINISHED"}
        assert job.wait(timeout=60).name == "CANCELLED"
    finally:
        operators.runtime.job = None
    assert process_gone(job.process.pid)
    # nothing of this run is left; an earlier test's kept tracks (last_run.npz) may be, whatever the test order
    left = [p for p in locations.runs_dir().iterdir() if p.name != operators.LAST_RUN_FILE]
    assert not run_dir.exists() and left == []
    assert scene_snapshot() == before


def import_video_expecting_error(match: str) -> None:
    before = scene_snapshot()
    with pytest.raises(RuntimeError, match=match):
        bpy.ops.video_mocap.import_video()
    assert scene_snapshot() == before


def test_missing_video_reports_the_backends_message(clean_scene: ModuleType, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_clip.mp4"
    set_video(missing)
    import_video_expecting_error(f"video not found: {missing}; check the path")
    operators = submodule(clean_scene, "ui.operators")
    assert operators.runtime.level == "ERROR" and "video not found" in operators.runtime.message  # shown in panel


def test_backend_failure_reports_the_backends_message(clean_scene: ModuleType, tmp_path: Path) -> None:
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("this is not a video")
    set_video(not_a_video)
    import_video_expecting_error(f"cannot decode {not_a_video}: not a video")


def test_missing_backend_is_reported(clean_scene: ModuleType, tmp_path: Path) -> None:
    prefs = bpy.context.preferences.addons[MODULE].preferences
    saved = prefs.backend_python
    prefs.backend_python = str(tmp_path / "venv" / "bin" / "python")
    set_video(SINGLE_PERSON)
    try:
        import_video_expecting_error(f"backend Python not found at {tmp_path}")
    finally:
        prefs.backend_python = saved


def test_wrong_existing_rig_is_reported_before_the_backend_runs(clean_scene: ModuleType, tmp_path: Path) -> None:
    """An existing armature without the preset's bones is refused at once: the backend is never started (before,
    the user waited for a whole run, then heard the rig was wrong)."""
    marker = tmp_path / "backend_started"
    fake_python = tmp_path / "python"
    fake_python.write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 1\n")
    fake_python.chmod(0o755)
    armature = bpy.data.armatures.new("not_smpl")
    rig = bpy.data.objects.new("not_smpl", armature)
    bpy.context.scene.collection.objects.link(rig)
    settings = bpy.context.scene.video_mocap
    settings.target, settings.target_object = "EXISTING", rig
    prefs = bpy.context.preferences.addons[MODULE].preferences
    saved = prefs.backend_python
    prefs.backend_python = str(fake_python)
    set_video(SINGLE_PERSON)
    try:
        import_video_expecting_error("armature 'not_smpl' lacks the SMPL bones pelvis")
    finally:
        prefs.backend_python = saved
        settings.target, settings.target_object = "NEW", None
        bpy.data.objects.remove(rig)
        bpy.data.armatures.remove(armature)
    assert not marker.exists()


def test_malformed_motion_file_is_reported(clean_scene: ModuleType, tmp_path: Path) -> None:
    arrays = motion_arrays(frames=5)
    arrays["rest_joints"] = arrays["rest_joints"][:20]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    before = scene_snapshot()
    with pytest.raises(RuntimeError, match=r"'rest_joints' has shape \[20, 3\], expected \[24, 3\]"):
        bpy.ops.video_mocap.import_motion_file(filepath=str(bad))
    assert scene_snapshot() == before


def test_malformed_motion_file_from_a_backend_run_is_reported(clean_scene: ModuleType, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The video import checks the backend's file too: a stand-in backend that writes a broken one."""
    stand_in = Path(__file__).resolve().parents[1] / "addon" / "stand_in"
    monkeypatch.setattr(submodule(clean_scene, "blender.locations"), "backend_source", lambda: stand_in)
    monkeypatch.setenv("STAND_IN_HELPERS", str(Path(__file__).resolve().parent))
    set_video(tmp_path / "malformed.mp4")
    import_video_expecting_error(r"bad motion file: .*'poses' has shape \[3, 23, 3\], expected \[3, 24, 3\]")
