"""Shared helpers of the Blender tests (conftest sets Blender's environment before bpy is imported)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import bpy
import numpy as np

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
FIELD = REPO / "tests" / "data" / "field"  # issue 10's clips (NOTICE.md there)
BATCH = REPO / "addon" / "batch.py"
SINGLE_PERSON = SAMPLES / "single_person_demo.mp4"
EXTENSION_ID = "video_mocap"
MODULE = f"bl_ext.user_default.{EXTENSION_ID}"
CAMERA_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the build script and the backend's own FK (the reference)


def backend_python() -> Path:
    if os.environ.get("VIDEO_MOCAP_BACKEND_PYTHON"):
        return Path(os.environ["VIDEO_MOCAP_BACKEND_PYTHON"])
    checkout_venv = REPO / ".venv" / "bin" / "python"
    return checkout_venv if checkout_venv.is_file() else Path(sys.executable)


def submodule(ext: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{ext.__name__}.{name}")


def scene_snapshot() -> dict[str, object]:
    """What an import could change: datablocks and the scene's timing."""
    scene = bpy.context.scene
    return {
        "objects": sorted(o.name for o in bpy.data.objects),
        "armatures": sorted(a.name for a in bpy.data.armatures),
        "actions": sorted(a.name for a in bpy.data.actions),
        "frames": (scene.frame_start, scene.frame_end, scene.frame_current),
        "fps": (scene.render.fps, scene.render.fps_base),
    }


def evaluated_joints(obj: bpy.types.Object, frames: np.ndarray, joint_names: tuple[str, ...]) -> np.ndarray:
    """World positions of the bone heads at each (possibly fractional) scene frame."""
    scene = bpy.context.scene
    out = np.empty((len(frames), len(joint_names), 3))
    for i, frame in enumerate(frames):
        whole = int(np.floor(frame + 1e-6))
        scene.frame_set(whole, subframe=max(0.0, float(frame) - whole))
        world = obj.matrix_world
        out[i] = [tuple(world @ obj.pose.bones[name].head) for name in joint_names]
    return out


def curves_by_channel(ext: ModuleType, action: bpy.types.Action) -> dict[tuple[str, int], np.ndarray]:
    """Every F-curve of `action` (layered or not, through the add-on's reader) as its keys [K, 2] (frame, value),
    by (data path, array index)."""
    curves = {}
    for fcurve in submodule(ext, "blender.keyframe_writer").action_fcurves(action):
        co = np.empty(2 * len(fcurve.keyframe_points), np.float32)
        fcurve.keyframe_points.foreach_get("co", co)
        curves[(fcurve.data_path, fcurve.array_index)] = co.reshape(-1, 2)
    return curves


def level_rotation(up: np.ndarray) -> np.ndarray:
    """Smallest rotation taking `up` onto the camera's -y (Rodrigues), written here independently of the add-on."""
    up = up / np.linalg.norm(up)
    target = np.array([0.0, -1.0, 0.0])
    axis = np.cross(up, target)
    sin, cos = np.linalg.norm(axis), float(up @ target)
    if sin < 1e-12:
        return np.eye(3)
    k = axis / sin
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * skew + (1 - cos) * skew @ skew


def reference_joints(motion_path: Path, root_motion: str = "BONE", ground: bool | str = "AUTO") -> np.ndarray:
    """SMPL forward kinematics by the backend's own code, converted to Blender's frame.

    AUTO/PLANE with a `floor_plane` in the file: the camera frame turned so the plane's up is +Z
    and lifted by the camera height. Otherwise (CONSTANT, or AUTO without a plane), one constant
    Z lift puts the 5th percentile of each frame's lowest ankle or toe on Z = 0. OFF: no lift.
    """
    from backend.geometry.skeleton import forward_kinematics

    mode = ("AUTO" if ground else "OFF") if isinstance(ground, bool) else ground
    with np.load(motion_path, allow_pickle=False) as data:
        joints = forward_kinematics(data["poses"], data["rest_joints"], data["transl"])
        plane = data["floor_plane"].astype(np.float64) if "floor_plane" in data.files else None
    assert root_motion in ("BONE", "OBJECT")
    if plane is not None and mode in ("AUTO", "PLANE"):
        joints = joints @ (CAMERA_TO_BLENDER @ level_rotation(plane[:3])).T
        joints[..., 2] += plane[3]
        return joints
    joints = joints @ CAMERA_TO_BLENDER.T
    if mode != "OFF":
        feet = [7, 8, 10, 11]  # SMPL ankles and feet
        joints[..., 2] -= np.percentile(joints[:, feet, 2].min(axis=1), 5)
    return joints


def key_frames(motion_path: Path) -> np.ndarray:
    """Scene frames of the source rows, by time, computed here independently of the add-on."""
    scene = bpy.context.scene
    with np.load(motion_path, allow_pickle=False) as data:
        if "times" in data.files:
            times = data["times"].astype(float)
        else:  # format 1: frame_ids / fps
            times = data["frame_ids"].astype(float) / float(data["fps"])
    return scene.frame_start + (times - times[0]) * (scene.render.fps / scene.render.fps_base)




def batch_env(tmp_path: Path) -> dict[str, str]:
    """`addon/batch.py`'s environment: its own Blender user folder (run folders land there) and cache."""
    return dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "batch_user"),
                XDG_CACHE_HOME=str(tmp_path / "batch_cache"), VIDEO_MOCAP_BACKEND_PYTHON=str(backend_python()))


def run_batch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python addon/batch.py ARGS` with this interpreter's bpy (4.5 in .venv, 5.0 in .venv-bpy50)."""
    return subprocess.run([sys.executable, str(BATCH), *args], capture_output=True, text=True,
                          env=batch_env(tmp_path), timeout=600, check=False)
