"""FK equality: evaluated bone heads equal SMPL forward kinematics (converted to Blender) within 1e-4 m,
at every source frame, for known rotations and for the real backend's output on a real video."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import bpy
import numpy as np
import pytest
from blender_helpers import evaluated_joints, key_frames, reference_joints, submodule
from synthetic_motion import write_motion_file

TOLERANCE_M = 1e-4


def import_file(ext: ModuleType, path: Path, **settings: object) -> bpy.types.Object:
    for key, value in settings.items():
        setattr(bpy.context.scene.video_mocap, key, value)
    assert bpy.ops.video_mocap.import_motion_file(filepath=str(path)) == {"FINISHED"}
    obj = bpy.context.view_layer.objects.active
    assert obj is not None and obj.type == "ARMATURE"
    return obj


def fk_error(ext: ModuleType, obj: bpy.types.Object, path: Path) -> float:
    names = submodule(ext, "core.smpl").JOINT_NAMES
    got = evaluated_joints(obj, key_frames(path), names)
    return float(np.abs(got - reference_joints(path)).max())


@pytest.mark.parametrize(("root_motion", "scene_fps", "source_fps"),
                         [("BONE", 24, 30.0), ("OBJECT", 24, 30.0), ("BONE", 30, 30.0), ("BONE", 25, 12.0)])
def test_known_rotations(clean_scene: ModuleType, tmp_path: Path, root_motion: str, scene_fps: int,
                         source_fps: float) -> None:
    path = write_motion_file(tmp_path / "known.npz", frames=40, fps=source_fps, first_id=5)
    bpy.context.scene.render.fps = scene_fps
    obj = import_file(clean_scene, path, root_motion=root_motion)
    assert fk_error(clean_scene, obj, path) < TOLERANCE_M
    scene = bpy.context.scene
    frames = key_frames(path)
    assert scene.frame_start == 1 and scene.frame_end == int(np.ceil(frames[-1] - 1e-6))
    assert (scene.render.fps, scene.render.fps_base) == (scene_fps, 1.0)  # the scene's rate was kept


def test_existing_armature_target(clean_scene: ModuleType, tmp_path: Path) -> None:
    path = write_motion_file(tmp_path / "first.npz", frames=10, seed=1)
    target = import_file(clean_scene, path)
    second = write_motion_file(tmp_path / "second.npz", frames=25, seed=2)
    armatures_before = len(bpy.data.armatures)
    obj = import_file(clean_scene, second, target="EXISTING", target_object=target)
    assert obj == target and len(bpy.data.armatures) == armatures_before
    assert obj.animation_data.action.name.startswith("second")
    # Retargeted onto an armature with the same skeleton: the joints equal SMPL FK up to one horizontal
    # offset (the travel starts where the armature stands, not at the camera's position of frame 0).
    names = submodule(clean_scene, "core.smpl").JOINT_NAMES
    offset = evaluated_joints(obj, key_frames(second), names) - reference_joints(second)
    assert np.abs(offset - offset[0, 0]).max() < TOLERANCE_M and abs(offset[0, 0, 2]) < TOLERANCE_M


def test_match_scene_fps_puts_keys_on_whole_frames(clean_scene: ModuleType, tmp_path: Path) -> None:
    path = write_motion_file(tmp_path / "ntsc.npz", frames=12, fps=29.97)
    obj = import_file(clean_scene, path, match_scene_fps=True)
    scene = bpy.context.scene
    assert scene.render.fps == 30 and scene.render.fps / scene.render.fps_base == pytest.approx(29.97)
    fcurves = submodule(clean_scene, "blender.keyframe_writer").action_fcurves(obj.animation_data.action)
    keys = np.array([k.co[0] for k in fcurves[0].keyframe_points])
    np.testing.assert_allclose(keys, np.arange(1, 13), atol=1e-4)
    assert fk_error(clean_scene, obj, path) < TOLERANCE_M


def test_action_layout_bulk_curves_and_slot(clean_scene: ModuleType, tmp_path: Path) -> None:
    path = write_motion_file(tmp_path / "layout.npz", frames=50)
    obj = import_file(clean_scene, path)
    action = obj.animation_data.action
    writer = submodule(clean_scene, "blender.keyframe_writer")
    fcurves = writer.action_fcurves(action)
    assert len(fcurves) == 24 * 4 + 3 and all(len(fc.keyframe_points) == 50 for fc in fcurves)
    if writer.has_slotted_actions():
        assert obj.animation_data.action_slot is not None and obj.animation_data.action_slot == action.slots[0]
    groups = {fc.group.name for fc in fcurves}
    assert groups == set(submodule(clean_scene, "core.smpl").JOINT_NAMES)
    for bone in obj.pose.bones:
        assert bone.rotation_mode == "QUATERNION"
    quats = np.array([[fc.keyframe_points[i].co[1] for i in range(50)] for fc in fcurves
                      if fc.data_path.endswith("rotation_quaternion")]).reshape(24, 4, 50)
    assert np.all(np.einsum("jcf,jcf->jf", quats[:, :, 1:], quats[:, :, :-1]) >= 0)  # one hemisphere


def test_backend_output_on_a_real_video(clean_scene: ModuleType, real_motion_file: Path) -> None:
    obj = import_file(clean_scene, real_motion_file)
    assert fk_error(clean_scene, obj, real_motion_file) < TOLERANCE_M


def test_floor_plane_stands_the_character_upright_on_the_floor(clean_scene: ModuleType,
                                                                real_motion_file: Path) -> None:
    """Feet on Ground = Auto with the floor found from the feet: Z along gravity (head above the
    pelvis in every frame), the held feet on Z = 0, and exactly the file's motion otherwise."""
    with np.load(real_motion_file, allow_pickle=False) as data:
        assert "floor_plane" in data.files and "contacts" in data.files
        contacts = data["contacts"]
    names = submodule(clean_scene, "core.smpl").JOINT_NAMES
    frames = key_frames(real_motion_file)
    obj = import_file(clean_scene, real_motion_file, ground="AUTO")
    joints = evaluated_joints(obj, frames, names)
    assert np.abs(joints - reference_joints(real_motion_file, ground="AUTO")).max() < TOLERANCE_M
    assert np.all(joints[:, 15, 2] > joints[:, 0, 2] + 0.3)  # head above pelvis along +Z, every frame
    spine = joints[:, 12] - joints[:, 0]
    lean = np.degrees(np.arccos(spine[:, 2] / np.linalg.norm(spine, axis=-1)))
    assert np.median(lean) < 30.0  # the player leans into the motion; a 14 deg camera pitch left in would add to it
    balls = joints[:, [10, 10, 11, 11], 2]  # contact columns: ankle, ball per foot; the balls rest on Z = 0
    held = contacts[:, [1, 1, 3, 3]]
    assert abs(float(np.median(balls[held]))) < 0.03


def test_camera_frame_without_ground_and_feet_on_the_floor_with_it(clean_scene: ModuleType,
                                                                   real_motion_file: Path) -> None:
    """`ground` off: exactly the contract's camera frame (Z = 0 at the camera). On: the same motion
    lifted by one constant so the feet stand on Z = 0."""
    names = submodule(clean_scene, "core.smpl").JOINT_NAMES
    frames = key_frames(real_motion_file)
    raw = import_file(clean_scene, real_motion_file, ground="OFF")
    raw_joints = evaluated_joints(raw, frames, names)
    assert np.abs(raw_joints - reference_joints(real_motion_file, ground="OFF")).max() < TOLERANCE_M
    grounded = import_file(clean_scene, real_motion_file, ground="CONSTANT")
    lifted = evaluated_joints(grounded, frames, names)
    shift = lifted - raw_joints
    assert np.abs(shift[..., :2]).max() < TOLERANCE_M and np.ptp(shift[..., 2]) < TOLERANCE_M
    assert shift[0, 0, 2] > 0.5  # the camera stood well above the player's feet
    lowest_foot = lifted[:, [7, 8, 10, 11], 2].min(axis=1)
    assert abs(np.percentile(lowest_foot, 5)) < 1e-3
    assert np.median(lowest_foot) < 0.15  # standing on the floor most of the time, not floating


def horizontal_front(joints: np.ndarray) -> np.ndarray:
    """The body's front per frame, on the ground plane: perpendicular to up and to the right->left line."""
    pelvis, head, l_hip, r_hip, l_sh, r_sh = (joints[:, i] for i in range(6))
    left = (l_hip - r_hip) + (l_sh - r_sh)
    front = np.cross(left, head - pelvis)  # rest pose: left=+X, up=+Z -> +X x +Z = -Y, the front
    front[:, 2] = 0.0
    return front / np.linalg.norm(front, axis=1, keepdims=True)


def test_upright_and_facing_minus_y_on_single_person_demo(clean_scene: ModuleType, real_motion_file: Path) -> None:
    """Head above pelvis along +Z in every frame. In this clip the player starts turned to his right
    (towards the image's left, Blender -X) and faces the camera from frame 24 on: there he must face -Y."""
    obj = import_file(clean_scene, real_motion_file)
    names = ("pelvis", "head", "left_hip", "right_hip", "left_shoulder", "right_shoulder")
    joints = evaluated_joints(obj, key_frames(real_motion_file), names)
    assert np.all(joints[:, 1, 2] - joints[:, 0, 2] > 0.3)
    front = horizontal_front(joints)
    facing_camera = front[24:]
    assert np.all(facing_camera[:, 1] < -0.6), facing_camera  # within ~50 deg of -Y
    assert np.mean(front[:4, 0]) < -0.5, front[:4]  # turned towards the image's left at the start


def test_multi_person_sample_is_upright_with_the_default_ground(clean_scene: ModuleType, tmp_path: Path) -> None:
    """The second sample (its floor plane is refused: constant lift, camera up) stands upright too."""
    import os
    import subprocess

    from blender_helpers import REPO, SAMPLES, backend_python

    out = tmp_path / "multi.npz"
    command = [str(backend_python()), "-P", "-m", "backend", "run", str(SAMPLES / "multi_person_demo.mp4"),
               "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
                            timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    names = submodule(clean_scene, "core.smpl").JOINT_NAMES
    obj = import_file(clean_scene, out, ground="AUTO")
    joints = evaluated_joints(obj, key_frames(out), names)
    assert np.abs(joints - reference_joints(out, ground="AUTO")).max() < TOLERANCE_M
    assert np.all(joints[:, 15, 2] > joints[:, 0, 2] + 0.3)  # head above pelvis along +Z, every frame
