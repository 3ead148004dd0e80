"""Issue 15, Blender side: `addon/batch.py --input FOLDER --out-dir DIR` converts every clip with the
backend's batch, imports each onto an SMPL armature and writes .blend/.bvh/.glb per clip; a corrupt
clip fails alone; a rerun skips what is done.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import bpy
from blender_helpers import SINGLE_PERSON, run_batch, submodule


def test_folder_of_clips_gives_one_blend_each_and_resumes(clean_scene: ModuleType, tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    (clips / "sub").mkdir(parents=True)
    (clips / "one.mp4").write_bytes(SINGLE_PERSON.read_bytes())
    (clips / "sub" / "bad.mp4").write_bytes(SINGLE_PERSON.read_bytes()[:3000])
    out = tmp_path / "out"
    args = ("--input", str(clips), "--out-dir", str(out), "--frames", "0:6", "--formats", "blend,bvh,glb")
    result = run_batch(tmp_path, *args)
    assert result.returncode == 10, result.stderr[-3000:]
    records = {r["clip"]: r for r in map(json.loads, (out / "blender_batch.jsonl").read_text().splitlines())}
    assert records["one.npz"]["status"] == "ok"
    # the backend's warnings for each clip reach the terminal, not only the backend's batch.jsonl
    assert "warning: one.npz: GROUND: no floor plane" in result.stderr, result.stderr[-2000:]
    assert records["sub/bad.npz"]["status"] == "failed" and records["sub/bad.npz"]["code"] == "VIDEO_UNREADABLE"
    for suffix in (".blend", ".bvh", ".glb"):
        assert (out / f"one{suffix}").is_file(), suffix
    assert not list(out.glob("sub/bad.*"))
    assert "Frames: 6" in (out / "one.bvh").read_text()

    bpy.ops.wm.open_mainfile(filepath=str(out / "one.blend"))
    armature = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    fcurves = submodule(clean_scene, "blender.keyframe_writer").action_fcurves(armature.animation_data.action)
    assert {len(c.keyframe_points) for c in fcurves} == {6}

    before = (out / "one.blend").stat().st_mtime_ns
    again = run_batch(tmp_path, *args)
    assert again.returncode == 10 and "skipped one.npz" in again.stderr, again.stderr[-2000:]
    assert (out / "one.blend").stat().st_mtime_ns == before
