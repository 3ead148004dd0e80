"""Issue 15: `backend export --bvh` (no Blender involved in writing it) re-imports in Blender, with
Blender's own BVH importer and its defaults, upright and with every joint where the add-on's SMPL
armature has it (within 1 mm) at three frames; also for a strided clip, whose BVH fills the
source frames between rows.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import ModuleType

import bpy
import numpy as np
import pytest
from blender_helpers import REPO, backend_python, evaluated_joints, submodule

TOLERANCE_M = 0.001
FEET = ("left_ankle", "right_ankle", "left_foot", "right_foot")


def export_bvh(motion: Path, out: Path) -> None:
    result = subprocess.run([str(backend_python()), "-m", "backend", "export", str(motion), "--bvh", str(out)],
                            cwd=str(REPO), capture_output=True, text=True, timeout=300, check=False,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]


def strided_copy(motion: Path, out: Path) -> Path:
    """The same rows as if converted with --stride 2: source frames 0, 2, 4, ... at their times."""
    with np.load(motion, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["frame_ids"] = (arrays["frame_ids"] * 2).astype(np.int32)
    arrays["times"] = arrays["times"] * 2.0
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize("stride", [1, 2])
def test_backend_bvh_matches_the_addon_armature(clean_scene: ModuleType, real_motion_file: Path,
                                                tmp_path: Path, stride: int) -> None:
    motion_path = real_motion_file if stride == 1 else strided_copy(real_motion_file, tmp_path / "s2.npz")
    bvh = tmp_path / "clip.bvh"
    export_bvh(motion_path, bvh)
    motion = submodule(clean_scene, "core.motion_data").load_motion(motion_path)
    fps = float(motion.fps)
    header = bvh.read_text().split("MOTION", 1)[1].split()
    frames, frame_time = int(header[1]), float(header[4])
    rows = len(motion.times)
    assert frame_time == pytest.approx(1.0 / fps, abs=1e-7)  # the clip's own rate
    assert frames == (rows - 1) * stride + 1  # every row, and the source frames between strided rows

    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = round(fps), 1.0, 1
    scene_import = submodule(clean_scene, "blender.scene_import")
    options = scene_import.ImportOptions(name="clip")  # the panel's defaults: pelvis root motion, Feet on Ground Auto
    armature = scene_import.import_motion(bpy.context, motion, options).armature
    names = tuple(b.name for b in armature.pose.bones)
    picked = np.array([0, rows // 2, rows - 1])
    scene_frames = 1.0 + motion.times[picked] * fps
    reference = evaluated_joints(armature, scene_frames, names)

    before = set(bpy.data.objects.keys())
    assert bpy.ops.import_anim.bvh(filepath=str(bvh)) == {"FINISHED"}  # defaults: Y up, -Z forward
    imported = next(o for o in bpy.data.objects if o.name not in before and o.type == "ARMATURE")
    got = evaluated_joints(imported, 1.0 + np.round(motion.times[picked] * fps), names)
    error = np.linalg.norm(got - reference, axis=-1)
    assert error.max() < TOLERANCE_M, f"max {error.max() * 1000:.2f} mm at {names[int(error.argmax() % len(names))]}"
    index = {name: i for i, name in enumerate(names)}
    assert np.all(got[:, index["head"], 2] > got[:, index["pelvis"], 2] + 0.3)  # upright along +Z
    assert np.abs(got[:, [index[f] for f in FEET], 2].min(axis=1)).max() < 0.15  # standing on the floor
