"""Headless: `python addon/batch.py` writes a .blend whose action matches the operator's, and FBX/BVH
files that re-import with every captured pose and the same bone names; failures exit non-zero with the message."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import bpy
import numpy as np
import pytest
from blender_helpers import SINGLE_PERSON, curves_by_channel, evaluated_joints, run_batch, submodule
from synthetic_motion import motion_arrays


def imported_armature(before: set[str]) -> bpy.types.Object:
    new = [obj for obj in bpy.data.objects if obj.name not in before and obj.type == "ARMATURE"]
    assert len(new) == 1, [obj.name for obj in bpy.data.objects]
    return new[0]


def frame_count(action: bpy.types.Action) -> int:
    start, end = action.frame_range
    return round(end - start) + 1


@pytest.fixture(scope="module")
def batch_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("batch")
    paths = {"blend": out / "clip.blend", "fbx": out / "clip.fbx", "bvh": out / "clip.bvh"}
    result = run_batch(out, "--video", str(SINGLE_PERSON), "--model", "blazepose", "--empty", "--out",
                       str(paths["blend"]), "--fbx", str(paths["fbx"]), "--bvh", str(paths["bvh"]))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[detect]" in result.stderr  # progress was shown
    for path in paths.values():
        assert path.is_file() and path.stat().st_size > 0
    return paths


def test_blend_action_matches_the_operator(clean_scene: ModuleType, batch_outputs: dict[str, Path]) -> None:
    bpy.context.scene.video_mocap.video_path = str(SINGLE_PERSON)
    assert bpy.ops.video_mocap.import_video() == {"FINISHED"}
    operator_armature = bpy.context.view_layer.objects.active
    operator_curves = curves_by_channel(clean_scene, operator_armature.animation_data.action)
    scene = bpy.context.scene
    operator_range = (scene.frame_start, scene.frame_end)

    with bpy.data.libraries.load(str(batch_outputs["blend"])) as (source, target):
        target.objects = [name for name in source.objects]
        target.scenes = list(source.scenes)
    batch_armature = next(obj for obj in target.objects if obj.type == "ARMATURE")
    batch_curves = curves_by_channel(clean_scene, batch_armature.animation_data.action)
    assert batch_curves.keys() == operator_curves.keys() and len(batch_curves) == 24 * 4 + 3
    for channel, co in operator_curves.items():
        np.testing.assert_allclose(batch_curves[channel], co, atol=1e-6, err_msg=str(channel))
    assert (target.scenes[0].frame_start, target.scenes[0].frame_end) == operator_range
    assert sorted(b.name for b in batch_armature.data.bones) == sorted(b.name for b in operator_armature.data.bones)


def test_fbx_and_bvh_reimport_with_the_same_frames_and_bones(clean_scene: ModuleType,
                                                              batch_outputs: dict[str, Path]) -> None:
    with bpy.data.libraries.load(str(batch_outputs["blend"])) as (source, target):
        target.objects = [name for name in source.objects]
    blend_armature = next(obj for obj in target.objects if obj.type == "ARMATURE")
    # Exports carry every captured pose, one per frame at the clip's rate (12 fps: 40 frames), not the
    # 24 fps scene's 79 frames of which only every other one held a pose.
    expected_frames = len(next(iter(curves_by_channel(clean_scene, blend_armature.animation_data.action).values())))
    assert expected_frames == 40
    expected_bones = set(submodule(clean_scene, "core.smpl").JOINT_NAMES)

    before = {obj.name for obj in bpy.data.objects}
    assert bpy.ops.import_scene.fbx(filepath=str(batch_outputs["fbx"])) == {"FINISHED"}
    fbx = imported_armature(before)
    assert {bone.name for bone in fbx.data.bones} == expected_bones
    assert frame_count(fbx.animation_data.action) == expected_frames

    before = {obj.name for obj in bpy.data.objects}
    assert bpy.ops.import_anim.bvh(filepath=str(batch_outputs["bvh"])) == {"FINISHED"}
    bvh = imported_armature(before)
    assert {bone.name for bone in bvh.data.bones} == expected_bones
    assert frame_count(bvh.animation_data.action) == expected_frames


def test_batch_failure_exits_non_zero_with_the_backends_message(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"
    result = run_batch(tmp_path, "--video", str(missing), "--out", str(tmp_path / "x.blend"))
    assert result.returncode != 0
    assert f"error: video not found: {missing}; check the path" in result.stderr
    assert not (tmp_path / "x.blend").exists()


@pytest.mark.parametrize("flag", ["--out", "--fbx", "--bvh", "--save-motion"])
def test_batch_output_in_a_missing_folder_fails_before_the_backend_runs(tmp_path: Path, flag: str) -> None:
    """Before: the backend ran the whole clip, then saving failed with a traceback (and with --fbx in a missing
    folder the .blend was already written). Now: one line naming the file and folder, nothing written."""
    blend, missing = tmp_path / "x.blend", tmp_path / "no_such_folder" / "x.out"
    outputs = {"--out": str(blend), flag: str(missing)}
    args = [item for pair in outputs.items() for item in pair]
    result = run_batch(tmp_path, "--video", str(SINGLE_PERSON), "--empty", *args)
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"error: cannot write {missing}: folder {missing.parent} does not exist" in result.stderr
    assert f"choose another {flag}" in result.stderr
    assert "[detect]" not in result.stderr and "Traceback" not in result.stderr  # the backend never started
    assert list(tmp_path.glob("*.blend")) == []


def test_batch_motion_file_and_malformed_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    np.savez(good, **motion_arrays(frames=6))
    arrays = motion_arrays(frames=6)
    del arrays["transl"]
    np.savez(bad, **arrays)
    # Arguments after `--`, exactly as `blender -b -P addon/batch.py -- ...` passes them.
    ok = run_batch(tmp_path, "--", "--motion", str(good), "--empty", "--out", str(tmp_path / "good.blend"))
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert (tmp_path / "good.blend").is_file()
    failed = run_batch(tmp_path, "--motion", str(bad), "--out", str(tmp_path / "bad.blend"))
    assert failed.returncode != 0 and "missing keys transl" in failed.stderr
    assert not (tmp_path / "bad.blend").exists()


def test_batch_ground_modes_on_a_file_with_and_without_a_floor_plane(tmp_path: Path) -> None:
    """--ground plane on a file without a plane warns and falls back; with a plane it stands the
    clip on it (the pelvis's height above the floor becomes its Z)."""
    plain, planed = tmp_path / "plain.npz", tmp_path / "planed.npz"
    arrays = motion_arrays(frames=6)
    np.savez(plain, **arrays)
    up = np.array([0.0, -np.cos(0.3), -np.sin(0.3)])  # a camera pitched 0.3 rad down
    arrays["floor_plane"] = np.array([*up, 1.7], np.float32)
    np.savez(planed, **arrays)
    fallback = run_batch(tmp_path, "--motion", str(plain), "--empty", "--ground", "plane", "--out",
                         str(tmp_path / "plain.blend"))
    assert fallback.returncode == 0, fallback.stderr[-2000:]
    assert "warning: the motion file has no floor plane" in fallback.stderr
    grounded = run_batch(tmp_path, "--motion", str(planed), "--empty", "--ground", "auto", "--foot-lock", "off",
                         "--out", str(tmp_path / "planed.blend"))
    assert grounded.returncode == 0, grounded.stderr[-2000:]
    assert "warning" not in grounded.stderr
    with bpy.data.libraries.load(str(tmp_path / "planed.blend")) as (source, target):
        target.objects = list(source.objects)
    armature = next(obj for obj in target.objects if obj.type == "ARMATURE")
    bpy.context.scene.collection.objects.link(armature)
    bpy.context.scene.frame_set(int(round(armature.animation_data.action.frame_range[0])))
    pelvis_z = (armature.matrix_world @ armature.pose.bones[0].head).z
    pelvis_cam = arrays["rest_joints"][0] + arrays["transl"][0]
    assert abs(pelvis_z - (float(up @ pelvis_cam) + 1.7)) < 1e-3


def bone_heads(obj: bpy.types.Object, frames: np.ndarray) -> np.ndarray:
    """World positions of every bone head of `obj`, sorted by bone name, at each (fractional) scene frame."""
    return evaluated_joints(obj, frames, tuple(sorted(bone.name for bone in obj.pose.bones)))


def keyed_frames(ext: ModuleType, obj: bpy.types.Object) -> np.ndarray:
    fcurves = submodule(ext, "blender.keyframe_writer").action_fcurves(obj.animation_data.action)
    return np.array(sorted({round(point.co.x, 4) for fcurve in fcurves for point in fcurve.keyframe_points}))


def test_fbx_reimports_on_the_blends_frames_within_a_millimetre(clean_scene: ModuleType,
                                                                 batch_outputs: dict[str, Path]) -> None:
    """Blender's FBX importer with its defaults puts every pose at the .blend's time for it, from the same
    first frame, and every bone head where the .blend has it (the batch once exported one frame late:
    keys on 2..N+1, 2.8-10 cm off)."""
    bpy.ops.wm.open_mainfile(filepath=str(batch_outputs["blend"]))
    scene = bpy.context.scene
    first, blend_fps = scene.frame_start, scene.render.fps / scene.render.fps_base
    blend = next(obj for obj in scene.objects if obj.type == "ARMATURE")
    blend_keys = keyed_frames(clean_scene, blend)
    truth = bone_heads(blend, blend_keys)

    before = {obj.name for obj in bpy.data.objects}
    assert bpy.ops.import_scene.fbx(filepath=str(batch_outputs["fbx"])) == {"FINISHED"}
    fbx = imported_armature(before)
    fbx_fps = scene.render.fps / scene.render.fps_base  # the importer may set the file's rate
    fbx_keys = keyed_frames(clean_scene, fbx)
    assert fbx_keys[0] == first, f"first FBX key on frame {fbx_keys[0]}, the .blend's on {first}"
    pose_frames = first + (blend_keys - first) * fbx_fps / blend_fps  # the .blend's poses, by time
    assert np.abs(pose_frames[:, None] - fbx_keys[None, :]).min(axis=1).max() < 1e-3  # each has an FBX key
    error = np.linalg.norm(bone_heads(fbx, pose_frames) - truth, axis=-1)
    assert error.max() <= 1e-3, f"bone heads off by up to {error.max() * 100:.2f} cm"
