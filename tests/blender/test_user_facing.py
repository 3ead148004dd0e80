"""What a Blender user sees (issue 12): scene range kept on request, keys baked onto whole frames, the
backend's health from `doctor --json`, messages in the panel's words and wrapped, tooltips, clear
errors for a text file picked as motion and for `//clip.mp4` in a file never saved."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import ModuleType

import bpy
import numpy as np
import pytest
from blender_helpers import MODULE, REPO, evaluated_joints, key_frames, submodule
from synthetic_motion import write_motion_file
from test_ui_and_helpers import draw_panel, draw_preferences, finish_task

sys.path.insert(0, str(REPO))
from tests.conftest import make_empty_venv  # noqa: E402


def import_file(path: Path, **settings: object) -> bpy.types.Object:
    for key, value in settings.items():
        setattr(bpy.context.scene.video_mocap, key, value)
    assert bpy.ops.video_mocap.import_motion_file(filepath=str(path)) == {"FINISHED"}
    return bpy.context.view_layer.objects.active


def action_key_frames(ext: ModuleType, obj: bpy.types.Object) -> np.ndarray:
    fcurves = submodule(ext, "blender.keyframe_writer").action_fcurves(obj.animation_data.action)
    return np.array([key.co[0] for key in fcurves[0].keyframe_points])


# -- 7. scene changes nobody asked for --------------------------------------------------------------------------
def test_keep_scene_frame_range(clean_scene: ModuleType, tmp_path: Path) -> None:
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 5, 250
    scene.frame_set(17)
    path = write_motion_file(tmp_path / "clip.npz", frames=40)
    obj = import_file(path, keep_frame_range=True)
    assert (scene.frame_start, scene.frame_end, scene.frame_current) == (5, 250, 17)
    assert action_key_frames(clean_scene, obj)[0] == 5  # the clip still starts at the scene's start
    import_file(path, keep_frame_range=False)
    last = int(np.ceil(key_frames(path)[-1] - 1e-6))  # 40 frames at 30 fps in a 24 fps scene: 5 + 31.2
    assert (scene.frame_start, scene.frame_end) == (5, last) and last != 250  # the default: the clip's range


def test_keys_baked_onto_whole_frames_keep_the_poses_that_land_on_frames(clean_scene: ModuleType,
                                                                          tmp_path: Path) -> None:
    """A 30 fps clip in a 24 fps scene: by time, 32 of 40 keys sit on sub-frames; baked, every key is on a
    whole frame, and every 5th video frame (which lands on every 4th scene frame) keeps its exact pose."""
    scene = bpy.context.scene
    scene.render.fps = 24
    path = write_motion_file(tmp_path / "clip30.npz", frames=40, fps=30.0)
    names = submodule(clean_scene, "core.smpl").JOINT_NAMES
    by_time = import_file(path)
    keys = action_key_frames(clean_scene, by_time)
    assert len(keys) == 40 and int(np.sum(np.abs(keys - np.round(keys)) > 1e-4)) == 32
    whole = np.arange(1, 33, dtype=float)
    reference = evaluated_joints(by_time, whole, names)

    baked = import_file(path, whole_frames=True)
    keys = action_key_frames(clean_scene, baked)
    np.testing.assert_array_equal(keys, whole)  # one key on each whole frame, none in between
    got = evaluated_joints(baked, whole, names)
    on_source = np.isin(whole, key_frames(path))  # frames 1, 5, 9, ...: a video frame lands there
    assert on_source.sum() == 8
    assert np.abs(got[on_source] - reference[on_source]).max() < 1e-5
    # Between them the bake follows the by-time curves closely (slerp vs Bezier between the same keys).
    assert np.abs(got - reference).max() < 0.03


# -- 6. messages ------------------------------------------------------------------------------------------------
def test_a_text_file_picked_as_motion_says_so(clean_scene: ModuleType, tmp_path: Path) -> None:
    text = tmp_path / "notes.npz"
    text.write_text("these are my notes, not a motion file\n")
    with pytest.raises(RuntimeError, match="is not a motion file"):  # the operator's error report
        bpy.ops.video_mocap.import_motion_file(filepath=str(text))
    message = submodule(clean_scene, "blender.session").SESSION.imports.message
    assert message.startswith(f"{text} is not a motion file (a text file)") and "pickle" not in message


def test_relative_video_path_in_an_unsaved_file_says_so(clean_scene: ModuleType) -> None:
    assert bpy.data.filepath == ""
    bpy.context.scene.video_mocap.video_path = "//clip.mp4"
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="not saved yet"):
        bpy.ops.video_mocap.import_video()
    assert time.monotonic() - started < 1.0  # refused before any backend started
    message = submodule(clean_scene, "blender.session").SESSION.imports.message
    assert "relative to the .blend file, but this file is not saved yet" in message and "not found" not in message


def test_a_pasted_quoted_video_path_is_the_file(clean_scene: ModuleType) -> None:
    # Windows Explorer's "Copy as path" quotes the path; the field keeps the file's own path.
    from blender_helpers import SINGLE_PERSON

    settings = bpy.context.scene.video_mocap
    settings.video_path = f' "{SINGLE_PERSON}" '
    assert settings.video_path == str(SINGLE_PERSON)
    assert Path(bpy.path.abspath(settings.video_path)).is_file()
    settings.video_path = "//clip's take.mp4"  # a quote inside a path stays
    assert settings.video_path == "//clip's take.mp4"

def test_messages_are_in_the_panels_words_and_wrapped_to_its_width(clean_scene: ModuleType) -> None:
    messages = submodule(clean_scene, "backend_client.messages")
    panel_text = messages.for_panel("--person 3: no such person in this clip; found 0, 1 (use --person 0..1)")
    assert "--" not in panel_text and panel_text.startswith("Person ID 3: no such person")
    install = ("backend exited with status 1: install_deps: the backend venv needs Python 3.11 (bpy and mediapipe "
               "0.10.21 ship cp311 wheels only), but this is Python 3.13.0 and no python3.11 was found on PATH; "
               "install Python 3.11 (e.g. `apt install python3.11 python3.11-venv`, pyenv, or python.org) and run "
               "again, or pass --python /path/to/python3.11")
    assert "--python" not in messages.for_panel(install)

    operators = submodule(clean_scene, "ui.operators")
    operators.SESSION.imports.tell("ERROR", panel_text + " " + install)
    width = messages.chars_for(400)  # a background Blender has no region: the panel's default width
    labels = draw_panel(clean_scene)["labels"]
    assert max(len(label) for label in labels) <= width
    assert sum("no such person" in label for label in labels) == 1

    tasks = submodule(clean_scene, "blender.tasks")
    task = tasks.BackgroundTask("install", [sys.executable, "-c", f"import sys; sys.exit({install!r})"])
    submodule(clean_scene, "blender.session").SESSION.tasks.start(task)
    finish_task(task)
    labels = draw_preferences(clean_scene)["labels"]
    assert max(len(label) for label in labels) <= width
    assert not any("--python" in label for label in labels)


def test_every_control_has_a_tooltip(clean_scene: ModuleType) -> None:
    prefs = bpy.context.preferences.addons[MODULE].preferences
    for owner in (bpy.context.scene.video_mocap, prefs):
        for prop in owner.bl_rna.properties:
            if prop.identifier in ("rna_type", "name", "bl_idname") or prop.is_hidden:
                continue
            assert prop.description.strip(), f"{owner.bl_rna.identifier}.{prop.identifier} has no tooltip"
            for item in getattr(prop, "enum_items", ()):
                assert item.description.strip() and not item.description.endswith((" auto", " cpu", " cuda")), \
                    (prop.identifier, item.identifier, item.description)


# -- 2. "installed" means doctor says ready ---------------------------------------------------------------------
def test_a_half_installed_backend_is_not_installed(clean_scene: ModuleType, tmp_path: Path,
                                                   real_motion_file: Path) -> None:
    """An interpreter that exists but lacks the packages: the preferences show what is missing and Install
    Backend (not a check mark), and an import says to press Install Backend instead of 'internal error'."""
    from blender_helpers import SINGLE_PERSON, backend_python

    empty = make_empty_venv(backend_python(), tmp_path / "venv")
    prefs = bpy.context.preferences.addons[MODULE].preferences
    saved = prefs.backend_python
    health = submodule(clean_scene, "blender.session").SESSION.health
    tasks = submodule(clean_scene, "blender.session").SESSION.tasks
    try:
        for python, ready in ((saved, True), (str(empty), False)):
            prefs.backend_python = python
            health.refresh()
            finish_task(tasks.get("health"))
            assert health.current() is not None and health.current().ready is ready
        assert {"numpy", "cv2", "mediapipe"} <= set(health.current().missing)
        log = draw_preferences(clean_scene)
        assert any(label.startswith("Backend incomplete at ") for label in log["labels"])
        assert "video_mocap.install_backend" in log["operators"]
        assert not any(label.startswith("Backend ready") for label in log["labels"])

        bpy.context.scene.video_mocap.video_path = str(SINGLE_PERSON)
        with pytest.raises(RuntimeError, match="backend packages missing"):
            bpy.ops.video_mocap.import_video()
        message = submodule(clean_scene, "blender.session").SESSION.imports.message
        assert message.startswith("backend packages missing: press Install Backend"), message
        assert "internal" not in message and "report" not in message
    finally:
        prefs.backend_python = saved
        health.refresh()
        finish_task(tasks.get("health"))
    assert health.current().ready
    assert any(label.startswith("Backend ready") for label in draw_preferences(clean_scene)["labels"])


def test_people_found_are_listed_after_an_import(clean_scene: ModuleType, tmp_path: Path) -> None:
    from synthetic_motion import motion_arrays

    arrays = motion_arrays(frames=12)
    people = [{"person_id": 0, "frames": 40, "main": True}, {"person_id": 1, "frames": 28, "main": False},
              {"person_id": 2, "frames": 5, "main": False}]
    arrays["meta"] = np.str_(json.dumps({"person_id": 1, "people": people}))
    np.savez(tmp_path / "three.npz", **arrays)
    import_file(tmp_path / "three.npz")
    message = submodule(clean_scene, "blender.session").SESSION.imports.message
    assert "Person 1 of 3 people: 0 (40 frames, main), 1 (28), 2 (5)" in message
    older = write_motion_file(tmp_path / "older.npz", frames=12)  # files without the list still import
    import_file(older)
    assert "people" not in submodule(clean_scene, "blender.session").SESSION.imports.message


def test_another_person_imports_from_the_kept_tracks_without_detection(clean_scene: ModuleType) -> None:
    """Import Video Motion on the two-person clip lists both people; Import This Person then converts the
    other one from the kept tracks (the backend records that it read them, and no detection ran)."""
    from blender_helpers import SAMPLES, reference_joints

    operators = submodule(clean_scene, "ui.operators")
    settings = bpy.context.scene.video_mocap
    settings.video_path = str(SAMPLES / "multi_person_demo.mp4")
    assert bpy.ops.video_mocap.import_person.poll() is False  # nothing kept for this video yet
    started = time.monotonic()
    assert bpy.ops.video_mocap.import_video() == {"FINISHED"}
    detect_s = time.monotonic() - started
    last_people = operators.SESSION.imports.last_people
    assert last_people.startswith("2 people: 0 (") and "main" in last_people
    kept = Path(operators.SESSION.imports.last_tracks)
    first = json.loads(str(np.load(kept)["meta"]))
    other = next(p["person_id"] for p in first["people"] if not p["main"])
    assert first["tracks_from"] is None and first["person_id"] != other

    settings.person_id = other
    started = time.monotonic()
    assert bpy.ops.video_mocap.import_person() == {"FINISHED"}
    reuse_s = time.monotonic() - started
    second = json.loads(str(np.load(kept)["meta"]))
    assert second["person_id"] == other and second["tracks_from"] is not None
    obj = bpy.context.view_layer.objects.active
    names = submodule(clean_scene, "core.smpl").JOINT_NAMES
    got = evaluated_joints(obj, key_frames(kept), names)
    assert np.abs(got - reference_joints(kept)).max() < 1e-4
    print(f"import with detection {detect_s:.1f} s, another person from the kept tracks {reuse_s:.1f} s")

    settings.person_id = 7  # not in the clip: the backend's message, not a Python traceback
    objects = len(bpy.data.objects)
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.video_mocap.import_person()
    assert "Person ID 7: no such person" in str(raised.value) and "people found: 0 (" in str(raised.value)
    assert "Traceback" not in str(raised.value) and len(bpy.data.objects) == objects
