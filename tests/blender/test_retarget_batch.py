"""Batch retargeting as the README writes it: `addon/batch.py --rig FILE.blend [--preset NAME|auto]
[--mapping FILE.json]`, checked against the panel's import of the same motion onto the same rig.

The batch result must carry the same keys as the operator's (same channels, values within 1e-5),
leave the rig file untouched and keep the rig's previous action; a rig with missing bones is refused
before the backend starts, naming the bones; a bad preset or mapping file is refused with its name.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from types import ModuleType

import bpy
import numpy as np
from blender_helpers import SINGLE_PERSON, curves_by_channel, run_batch, submodule
from rig_builders import build_rig


def _rig_file(path: Path, renamed: dict[str, str] | None = None, removed: tuple[str, ...] = ()) -> Path:
    """A Mixamo-style rig in centimetres (object scale 0.01) with an action of its own, saved to `path`."""
    bpy.ops.wm.read_homefile(use_empty=True)
    rig = build_rig("mixamo", "hero", centimetres=True, yaw_deg=20.0)
    if renamed or removed:
        bpy.context.view_layer.objects.active = rig
        bpy.ops.object.mode_set(mode="EDIT")
        for old, new in (renamed or {}).items():
            rig.data.edit_bones[old].name = new
        for name in removed:
            rig.data.edit_bones.remove(rig.data.edit_bones[name])
        bpy.ops.object.mode_set(mode="OBJECT")
    rig.pose.bones["mixamorig:Hips"].keyframe_insert("location", frame=1)
    rig.animation_data.action.name = "hero_idle"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_batch_rig_file_matches_the_panel(clean_scene: ModuleType, real_motion_file: Path, tmp_path: Path) -> None:
    rig_path = _rig_file(tmp_path / "hero.blend")
    before = _digest(rig_path)
    out = tmp_path / "hero_retargeted.blend"
    result = run_batch(tmp_path, "--motion", str(real_motion_file), "--rig", str(rig_path), "--preset", "auto",
                       "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mixamo" in result.stderr and "hero_idle" in result.stderr  # the report names mapping and kept action
    assert _digest(rig_path) == before  # the rig file itself is never written

    # The panel's import of the same file onto the same rig.
    bpy.ops.wm.open_mainfile(filepath=str(rig_path))
    settings = bpy.context.scene.video_mocap
    settings.target, settings.target_object = "EXISTING", bpy.data.objects["hero"]
    assert bpy.ops.video_mocap.import_motion_file(filepath=str(real_motion_file)) == {"FINISHED"}
    expected = curves_by_channel(clean_scene, bpy.data.objects["hero"].animation_data.action)

    bpy.ops.wm.open_mainfile(filepath=str(out))
    rig = bpy.data.objects["hero"]
    got = curves_by_channel(clean_scene, rig.animation_data.action)
    assert rig.animation_data.action.name != "hero_idle" and "hero_idle" in bpy.data.actions
    assert bpy.data.actions["hero_idle"].use_fake_user
    assert sorted(got) == sorted(expected) and len(got) > 60
    for channel, keys in expected.items():
        np.testing.assert_allclose(got[channel], keys, atol=1e-5, err_msg=str(channel))


def test_batch_mapping_file_for_renamed_bones(clean_scene: ModuleType, real_motion_file: Path,
                                              tmp_path: Path) -> None:
    """A rig whose forearm is renamed: the preset is refused, a mapping file saved from the panel works."""
    renamed = {"mixamorig:LeftForeArm": "Lower_Arm_Left"}
    rig_path = _rig_file(tmp_path / "renamed.blend", renamed=renamed)
    refused = run_batch(tmp_path, "--motion", str(real_motion_file), "--rig", str(rig_path), "--preset", "mixamo",
                        "--out", str(tmp_path / "refused.blend"))
    assert refused.returncode != 0 and "mixamorig:LeftForeArm" in refused.stderr, refused.stderr[-2000:]
    assert not (tmp_path / "refused.blend").exists()

    bpy.ops.wm.open_mainfile(filepath=str(rig_path))
    settings = bpy.context.scene.video_mocap
    settings.target, settings.target_object, settings.bone_preset = "EXISTING", bpy.data.objects["hero"], "mixamo"
    assert bpy.ops.video_mocap.detect_mapping() == {"FINISHED"}
    next(row for row in settings.mapping_rows if row.joint == "left_elbow").bones = "Lower_Arm_Left"
    mapping = tmp_path / "hero_mapping.json"
    assert bpy.ops.video_mocap.save_mapping(filepath=str(mapping)) == {"FINISHED"}
    assert json.loads(mapping.read_text())["joints"]["left_elbow"] == ["Lower_Arm_Left"]

    out = tmp_path / "mapped.blend"
    result = run_batch(tmp_path, "--motion", str(real_motion_file), "--rig", str(rig_path), "--mapping", str(mapping),
                       "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    bpy.ops.wm.open_mainfile(filepath=str(out))
    paths = {path for path, _ in curves_by_channel(clean_scene, bpy.data.objects["hero"].animation_data.action)}
    assert 'pose.bones["Lower_Arm_Left"].rotation_quaternion' in paths


def test_batch_refuses_a_bad_target_before_the_backend(clean_scene: ModuleType, tmp_path: Path) -> None:
    rig_path = _rig_file(tmp_path / "broken.blend", removed=("mixamorig:LeftHand",))
    started = time.perf_counter()
    result = run_batch(tmp_path, "--video", str(SINGLE_PERSON), "--model", "blazepose", "--rig", str(rig_path),
                       "--out", str(tmp_path / "never.blend"))
    elapsed = time.perf_counter() - started
    assert result.returncode != 0 and "mixamorig:LeftHand" in result.stderr, result.stderr[-2000:]
    assert "[detect]" not in result.stderr  # no backend step ran
    print(f"batch refused the rig in {elapsed:.1f} s (process start included)")

    bad_preset = run_batch(tmp_path, "--video", str(SINGLE_PERSON), "--rig", str(rig_path), "--preset", "mixamo2",
                           "--out", str(tmp_path / "never.blend"))
    assert bad_preset.returncode != 0 and "mixamo2" in bad_preset.stderr and "[detect]" not in bad_preset.stderr
    bad_mapping = tmp_path / "bad.json"
    bad_mapping.write_text("{not json")
    refused = run_batch(tmp_path, "--video", str(SINGLE_PERSON), "--rig", str(rig_path), "--mapping",
                        str(bad_mapping), "--out", str(tmp_path / "never.blend"))
    assert refused.returncode != 0 and str(bad_mapping) in refused.stderr and "[detect]" not in refused.stderr


def test_batch_picks_the_generated_rigify_rig(ext: ModuleType, rigify_file: Path, real_motion_file: Path,
                                              tmp_path: Path) -> None:
    """A Rigify file holds the metarig and the generated rig: batch animates the rig without --armature."""
    out = tmp_path / "rigify_out.blend"
    result = run_batch(tmp_path, "--motion", str(real_motion_file), "--rig", str(rigify_file), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "target armature 'rig'" in result.stderr and "mapping: rigify" in result.stderr
    bpy.ops.wm.open_mainfile(filepath=str(out))
    assert bpy.data.objects["rig"].animation_data.action is not None
    metarig = bpy.data.objects["metarig"]
    assert metarig.animation_data is None or metarig.animation_data.action is None


def test_folder_batch_retargets_every_clip_onto_the_rig(clean_scene: ModuleType, tmp_path: Path) -> None:
    """`--input FOLDER --rig FILE.blend`: each clip's .blend is a copy of the rig file with the clip on the rig
    (the rig was ignored before: every clip got a new SMPL armature); a bad target stops before the backend."""
    rig_path = _rig_file(tmp_path / "hero.blend")
    before = _digest(rig_path)
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "one.mp4").write_bytes(SINGLE_PERSON.read_bytes())
    out = tmp_path / "out"
    result = run_batch(tmp_path, "--input", str(clips), "--out-dir", str(out), "--frames", "0:6", "--rig",
                       str(rig_path), "--formats", "blend,fbx")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _digest(rig_path) == before and (out / "one.fbx").is_file()
    bpy.ops.wm.open_mainfile(filepath=str(out / "one.blend"))
    assert [o.name for o in bpy.data.objects if o.type == "ARMATURE"] == ["hero"]
    action = bpy.data.objects["hero"].animation_data.action
    assert action.name != "hero_idle" and bpy.data.actions["hero_idle"].use_fake_user
    fcurves = submodule(clean_scene, "blender.keyframe_writer").action_fcurves(action)
    assert {len(c.keyframe_points) for c in fcurves} == {6}
    assert any("mixamorig:LeftForeArm" in c.data_path for c in fcurves)

    broken = _rig_file(tmp_path / "broken.blend", removed=("mixamorig:LeftHand",))
    refused = run_batch(tmp_path, "--input", str(clips), "--out-dir", str(tmp_path / "out2"), "--rig", str(broken))
    assert refused.returncode != 0 and "mixamorig:LeftHand" in refused.stderr, refused.stderr[-2000:]
    assert not (tmp_path / "out2" / "motions" / "batch.jsonl").exists()  # the backend batch never started
    no_rig = run_batch(tmp_path, "--input", str(clips), "--out-dir", str(tmp_path / "out3"), "--preset", "mixamo")
    assert no_rig.returncode != 0 and "--rig" in no_rig.stderr
