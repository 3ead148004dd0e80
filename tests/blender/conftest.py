"""Add-on tests in real Blender (the bpy wheel), in-process.

Blender's user folders go to a temp dir before `import bpy`, the extension zip is built and
installed through Blender's extension system once per session, and every test starts from
`read_homefile(use_empty=True)` (which keeps add-ons enabled). The backend is the real one:
its Python is $VIDEO_MOCAP_BACKEND_PYTHON, else the checkout's .venv, else this interpreter.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="video_mocap_tests_"))
os.environ["BLENDER_USER_RESOURCES"] = str(_SESSION_ROOT / "blender_user")
os.environ["XDG_CACHE_HOME"] = str(_SESSION_ROOT / "xdg_cache")

import bpy
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
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


@pytest.fixture(scope="session")
def extension_zip() -> Path:
    from addon.build_extension import build

    return build(_SESSION_ROOT / "dist")


@pytest.fixture(scope="session")
def ext(extension_zip: Path) -> Iterator[ModuleType]:
    """The installed, enabled extension package, with its preferences pointing at the real backend."""
    result = bpy.ops.extensions.package_install_files(filepath=str(extension_zip), repo="user_default",
                                                      enable_on_install=True)
    assert result == {"FINISHED"}
    module = importlib.import_module(MODULE)
    bpy.context.preferences.addons[MODULE].preferences.backend_python = str(backend_python())
    yield module
    shutil.rmtree(_SESSION_ROOT, ignore_errors=True)


@pytest.fixture
def clean_scene(ext: ModuleType) -> ModuleType:
    bpy.ops.wm.read_homefile(use_empty=True)
    submodule(ext, "operators").runtime.tell("INFO", "")
    return ext


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


def reference_joints(motion_path: Path, root_motion: str = "BONE") -> np.ndarray:
    """SMPL forward kinematics by the backend's own code, converted to Blender's frame."""
    from backend.skeleton import forward_kinematics

    with np.load(motion_path, allow_pickle=False) as data:
        joints = forward_kinematics(data["poses"], data["rest_joints"], data["transl"])
    assert root_motion in ("BONE", "OBJECT")
    return joints @ CAMERA_TO_BLENDER.T


def key_frames(motion_path: Path) -> np.ndarray:
    """Scene frames of the source rows, by time, computed here independently of the add-on."""
    scene = bpy.context.scene
    with np.load(motion_path, allow_pickle=False) as data:
        ids, fps = data["frame_ids"].astype(float), float(data["fps"])
    return scene.frame_start + (ids - ids[0]) * (scene.render.fps / scene.render.fps_base) / fps


@pytest.fixture(scope="session")
def real_motion_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real backend's output on single_person_demo (run once per session)."""
    import subprocess

    out = tmp_path_factory.mktemp("real") / "single_person_demo.npz"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([str(backend_python()), "-P", "-m", "backend", "run", str(SINGLE_PERSON), "--model",
                             "blazepose", "--out", str(out)], capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    return out
