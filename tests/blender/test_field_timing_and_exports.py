"""Issue 10 in Blender: keys at each row's presentation time, stride once, format 1 files, exports
that carry every pose (24/30/60/120 fps and VFR), a Y-up BVH that Blender's own importer puts back
where the .blend has it, image sequences from the panel, and interrupting the batch script.

Runs in Blender 4.5 (.venv) and 5.0 (.venv-bpy50): CI runs tests/blender in both.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import bpy
import numpy as np
import pytest
from blender_helpers import BATCH, FIELD, SINGLE_PERSON, backend_python, batch_env, run_batch, submodule
from synthetic_motion import motion_arrays

TRUE_TIMES = np.array(json.loads((FIELD / "vfr_pts.json").read_text())["pts_seconds"])
FEET = ("left_ankle", "right_ankle", "left_foot", "right_foot")


def backend_motion(tmp_path: Path, video: Path, *args: str) -> Path:
    out = tmp_path / f"{video.stem}.npz"
    result = subprocess.run([str(backend_python()), "-m", "backend", "run", str(video), "--out", str(out), *args],
                            cwd=str(BATCH.parents[1]), capture_output=True, text=True, timeout=600, check=False,
                            env=dict(batch_env(tmp_path), PYTHONPATH=str(BATCH.parents[1])))
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    return out


def import_file(ext: ModuleType, path: Path, scene_fps: int = 24) -> object:
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = scene_fps, 1.0, 1
    motion = submodule(ext, "core.motion_data").load_motion(path)
    scene_import = submodule(ext, "blender.scene_import")
    return scene_import.import_motion(bpy.context, motion, scene_import.ImportOptions(name="clip"))


def key_times(ext: ModuleType, action: bpy.types.Action) -> np.ndarray:
    """Scene frames of the keys on the pelvis rotation (every channel is keyed on the same frames)."""
    for fcurve in submodule(ext, "blender.keyframe_writer").action_fcurves(action):
        if fcurve.data_path.endswith('["pelvis"].rotation_quaternion') and fcurve.array_index == 0:
            co = np.empty(2 * len(fcurve.keyframe_points))
            fcurve.keyframe_points.foreach_get("co", co)
            return co[0::2]
    raise AssertionError("no pelvis curve")


# ---- 1 and 3: keys at 1 + times[i] x scene fps; stride applied once --------------------------------

def test_vfr_rows_are_keyed_at_their_presentation_times(clean_scene: ModuleType, tmp_path: Path) -> None:
    result = import_file(clean_scene, backend_motion(tmp_path, FIELD / "vfr.mp4"))
    frames = key_times(clean_scene, result.action)
    assert len(frames) == 40
    assert frames[19] == pytest.approx(39.00, abs=0.05)  # was 30.5 (index / 16.107 fps)
    assert frames[20] == pytest.approx(41.00, abs=0.05)  # was 30.8
    assert frames[39] == pytest.approx(56.20, abs=0.05)  # was 59.2
    np.testing.assert_allclose(frames, 1 + TRUE_TIMES * 24, atol=0.01)


def test_stride_2_keys_at_1_5_9_to_77(clean_scene: ModuleType, tmp_path: Path) -> None:
    result = import_file(clean_scene, backend_motion(tmp_path, SINGLE_PERSON, "--stride", "2"))
    np.testing.assert_allclose(key_times(clean_scene, result.action), np.arange(1, 78, 4), atol=1e-4)
    assert result.frame_range == (1, 77)  # 3.17 s of video, not 6.33 s


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_format_1_files_import_as_before(clean_scene: ModuleType, tmp_path: Path, stride: int) -> None:
    """Format 1 (no `times`): keyed at frame_ids / source fps, from meta's source_fps when present."""
    arrays = motion_arrays(frames=10, fps=12.0 / stride, format_version=1)
    arrays["frame_ids"] = (np.arange(10) * stride).astype(np.int32)
    arrays["meta"] = np.str_(json.dumps({"source_fps": 12.0, "stride": stride}))
    np.savez(tmp_path / "old.npz", **arrays)
    result = import_file(clean_scene, tmp_path / "old.npz")
    np.testing.assert_allclose(key_times(clean_scene, result.action), 1 + np.arange(10) * stride * 2.0, atol=1e-4)
    without_meta = motion_arrays(frames=10, fps=30.0, format_version=1)
    np.savez(tmp_path / "plain.npz", **without_meta)
    result = import_file(clean_scene, tmp_path / "plain.npz")
    np.testing.assert_allclose(key_times(clean_scene, result.action), 1 + np.arange(10) * 0.8, atol=1e-4)


# ---- 4 and 5: exports carry every pose; the BVH is Y-up --------------------------------------------

def bvh_header(path: Path) -> tuple[int, float, list[int]]:
    text = path.read_text()
    frames = int(re.search(r"^Frames:\s*(\d+)", text, re.M).group(1))
    frame_time = float(re.search(r"^Frame Time:\s*([\d.]+)", text, re.M).group(1))
    channels = [int(n) for n in re.findall(r"CHANNELS (\d+)", text)]
    return frames, frame_time, channels


def reimport(kind: str, path: Path) -> bpy.types.Object:
    before = set(bpy.data.objects.keys())
    if kind == "bvh":
        assert bpy.ops.import_anim.bvh(filepath=str(path)) == {"FINISHED"}  # Blender's defaults: Y up, -Z forward
    else:
        assert bpy.ops.import_scene.fbx(filepath=str(path)) == {"FINISHED"}
    return next(o for o in bpy.data.objects if o.name not in before and o.type == "ARMATURE")


def heads(obj: bpy.types.Object) -> dict[str, np.ndarray]:
    return {bone.name: np.array(obj.matrix_world @ bone.head) for bone in obj.pose.bones}


def fbx_key_count(ext: ModuleType, obj: bpy.types.Object) -> int:
    fcurves = submodule(ext, "blender.keyframe_writer").action_fcurves(obj.animation_data.action)
    counts = {len(c.keyframe_points) for c in fcurves}
    assert len(counts) == 1, counts
    return counts.pop()


def export_both(ext: ModuleType, armature: bpy.types.Object, times: np.ndarray, fps: float,
                tmp_path: Path) -> tuple[Path, Path, float, int]:
    exports = submodule(ext, "blender.exports")
    bvh, fbx = tmp_path / "clip.bvh", tmp_path / "clip.fbx"
    with exports.export_timeline(bpy.context.scene, armature, times, fps) as (rate, first, last):
        exports.export_fbx(bpy.context, armature, fbx)
        exports.export_bvh(bpy.context, armature, bvh, first, last)
    return bvh, fbx, rate, last - first + 1


@pytest.mark.parametrize("fps", [24, 30, 60, 120])
def test_exports_carry_every_pose_at_the_clips_rate(clean_scene: ModuleType, tmp_path: Path, fps: int) -> None:
    np.savez(tmp_path / "m.npz", **motion_arrays(frames=40, fps=float(fps)))
    result = import_file(clean_scene, tmp_path / "m.npz", scene_fps=24)
    scene = bpy.context.scene
    saved = (scene.render.fps, scene.frame_start, scene.frame_end)
    keys_before = key_times(clean_scene, result.action).copy()
    bvh, fbx, rate, count = export_both(clean_scene, result.armature, np.arange(40) / fps, fps, tmp_path)
    assert rate == fps and count == 40
    assert (scene.render.fps, scene.frame_start, scene.frame_end) == saved  # the scene is put back
    np.testing.assert_allclose(key_times(clean_scene, result.action), keys_before, atol=1e-4)
    frames, frame_time, channels = bvh_header(bvh)
    assert frames == 40 and frame_time == pytest.approx(1 / fps, abs=1e-6)
    assert channels[0] == 6 and set(channels[1:]) == {3}
    assert fbx_key_count(clean_scene, reimport("fbx", fbx)) == 40


def test_vfr_export_resamples_to_60_fps_without_dropping_a_pose(clean_scene: ModuleType, tmp_path: Path) -> None:
    arrays = motion_arrays(frames=40, fps=2400 / 149)
    arrays["times"] = TRUE_TIMES.copy()
    np.savez(tmp_path / "vfr.npz", **arrays)
    result = import_file(clean_scene, tmp_path / "vfr.npz", scene_fps=24)
    row_frames = key_times(clean_scene, result.action).copy()
    bvh, _fbx, rate, count = export_both(clean_scene, result.armature, TRUE_TIMES, 2400 / 149, tmp_path)
    assert rate == 60.0 and count == 139  # 2.3 s at 60 fps: every 1/12 s and 1/30 s step is whole frames
    assert bvh_header(bvh)[:2] == (139, pytest.approx(1 / 60, abs=1e-6))
    imported = reimport("bvh", bvh)
    scene = bpy.context.scene
    for row in range(40):  # every captured pose is in the file, on its own frame
        scene.frame_set(int(np.floor(row_frames[row])), subframe=float(row_frames[row] % 1.0))
        reference = heads(result.armature)
        scene.frame_set(1 + round(TRUE_TIMES[row] * 60))
        got = heads(imported)
        assert max(np.linalg.norm(reference[k] - got[k]) for k in reference) < 1e-3, row


@pytest.fixture(scope="module")
def fps120_batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("fps120")
    paths = {"blend": out / "c.blend", "bvh": out / "c.bvh", "fbx": out / "c.fbx"}
    result = run_batch(out, "--video", str(FIELD / "fps120.mp4"), "--empty", "--out", str(paths["blend"]),
                       "--bvh", str(paths["bvh"]), "--fbx", str(paths["fbx"]))
    assert result.returncode == 0, result.stderr[-3000:]
    return paths


def test_fps120_exports_have_all_40_poses(clean_scene: ModuleType, fps120_batch: dict[str, Path]) -> None:
    frames, frame_time, _ = bvh_header(fps120_batch["bvh"])
    assert frames == 40 and f"{frame_time:.6f}" == "0.008333"  # was Frames: 9 at 1/24 s
    assert fbx_key_count(clean_scene, reimport("fbx", fps120_batch["fbx"])) == 40  # was 9


def test_pan_right_bvh_reimports_standing_where_the_blend_has_it(clean_scene: ModuleType,
                                                                 tmp_path: Path) -> None:
    blend, bvh = tmp_path / "pan.blend", tmp_path / "pan.bvh"
    result = run_batch(tmp_path, "--video", str(FIELD / "pan_right.mp4"), "--empty", "--out", str(blend),
                       "--bvh", str(bvh))
    assert result.returncode == 0, result.stderr[-3000:]
    _, _, channels = bvh_header(bvh)
    assert channels[0] == 6 and set(channels[1:]) == {3}  # non-root joints: rotations only
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    original = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    scene.frame_set(scene.frame_start)
    reference = heads(original)
    imported = reimport("bvh", bvh)
    scene.frame_set(1)
    got = heads(imported)
    for name in reference:
        assert np.linalg.norm(reference[name] - got[name]) < 0.01, name
    print({name: np.round(got[name], 3) for name in ("pelvis", "head")}, min(got[f][2] for f in FEET))
    # Standing upright on the floor (it was lying along -Y, 5.4 m up). The skeleton's size comes from
    # the whole-clip fit (a 1.70 m stature prior), so the heights are ranges, not one skeleton's values.
    assert 0.85 <= got["pelvis"][2] <= 1.10
    assert 0.45 <= got["head"][2] - got["pelvis"][2] <= 0.75
    # On the floor: the floor is where the lowest foot points rest in all but 5 % of frames, so the first
    # frame's lowest foot is within a few cm of Z = 0 (its up comes from the body's balance: no plane).
    assert -0.03 <= min(got[f][2] for f in FEET) <= 0.08
    assert got["pelvis"][0] == pytest.approx(-0.80, abs=0.2)


# ---- 8: an image sequence from the panel -------------------------------------------------------------

def test_panel_runs_an_image_sequence_from_its_first_image(clean_scene: ModuleType) -> None:
    settings = bpy.context.scene.video_mocap
    settings.video_path = str(FIELD / "png_sequence" / "0000.png")
    assert settings.is_image_sequence()
    settings.sequence_fps = 30.0
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = 24, 1.0
    operators = submodule(clean_scene, "ui.operators")
    options = operators.run_options_from(bpy.context)
    assert options.fps == 30.0 and options.video.endswith("0000.png")
    assert bpy.ops.video_mocap.import_video() == {"FINISHED"}
    armature = bpy.context.view_layer.objects.active
    np.testing.assert_allclose(key_times(clean_scene, armature.animation_data.action), 1 + np.arange(12) * 0.8,
                               atol=1e-4)


# ---- 7: interrupting the batch script ----------------------------------------------------------------

def live_processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _detect_step(line: str) -> int:
    """The step number of a `[detect] N/M` progress line, or -1 for any other line."""
    match = re.match(r"\[detect\] (\d+)/", line)
    return int(match.group(1)) if match else -1


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_batch_cancels_cleans_up_and_exits_130(tmp_path: Path, signum: int) -> None:
    process = subprocess.Popen([sys.executable, str(BATCH), "--video", str(FIELD / "long_loop.mp4"), "--empty",
                                "--out", str(tmp_path / "never.blend")], env=batch_env(tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    # Any detect step from the third on: a busy machine may print fewer progress lines.
    while not any(_detect_step(line) >= 3 for line in lines) and time.monotonic() < deadline:
        assert process.poll() is None, "".join(lines)[-2000:]
        time.sleep(0.1)
    runs = list((tmp_path / "batch_user").rglob("runs"))
    assert runs and any(runs[0].iterdir())  # the backend is running in its run folder
    process.send_signal(signum)
    assert process.wait(timeout=30) == 130
    reader.join(timeout=5)
    output = "".join(lines)
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert sum("cancelled" in line for line in lines) == 1, output[-2000:]
    assert all(not any(folder.iterdir()) for folder in runs)  # no run-<stamp>/ left behind
    assert not (tmp_path / "never.blend").exists()
    assert live_processes_mentioning(str(tmp_path / "batch_user")) == []  # the backend child is gone
