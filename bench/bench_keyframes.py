"""Keying 10,000 frames x 24 SMPL bones: the add-on's bulk path vs `keyframe_insert`, both with the retarget maths.

    python bench/bench_keyframes.py [--frames 10000] [--insert-frames 10000] [--python OTHER_PYTHON ...]

Runs in this interpreter's bpy, then re-runs itself in every --python given (and in
$VIDEO_MOCAP_BPY50_PYTHON if set), so one invocation prints Blender 4.5 and 5.0 side by side.
`keyframe_insert` grows quadratically (about 6 minutes at 10,000 frames here); --insert-frames
measures it on fewer frames, and the table then says so instead of extrapolating.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULT_PREFIX = "BENCH_RESULT "


def measure(frames: int, insert_frames: int) -> dict[str, object]:
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="bench_blender_"))
    os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="bench_cache_"))
    import bpy
    import numpy as np

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests" / "blender"))
    from synthetic_motion import SMPL_REST_JOINTS, known_rotations

    from addon.blender.armature_builder import build_smpl_armature
    from addon.blender.keyframe_writer import action_fcurves, curves_for_channels, write_action
    from addon.core.retarget import compute_bone_channels
    from addon.core.smpl import JOINT_NAMES
    from addon.core.timing import scene_frames_for

    bpy.ops.wm.read_homefile(use_empty=True)
    poses, transl = known_rotations(frames)
    context = bpy.context

    def rest_rotations(obj: bpy.types.Object) -> np.ndarray:
        return np.array([np.array(obj.data.bones[name].matrix_local.to_3x3()) for name in JOINT_NAMES])

    # Bulk: retarget maths + F-curves written with add/foreach_set/update.
    bulk_obj = build_smpl_armature(context, "bulk", SMPL_REST_JOINTS)
    started = time.perf_counter()
    channels = compute_bone_channels(poses, transl, SMPL_REST_JOINTS, rest_rotations(bulk_obj), "BONE")
    key_frames = scene_frames_for(np.arange(frames), 24.0, 24.0, 1)
    maths_s = time.perf_counter() - started
    action = write_action(bulk_obj, "bulk_action", key_frames, curves_for_channels(channels))
    bulk_s = time.perf_counter() - started

    # keyframe_insert: the same maths, then one insert per bone per frame (what other importers do).
    insert_obj = build_smpl_armature(context, "insert", SMPL_REST_JOINTS)
    started = time.perf_counter()
    insert_channels = compute_bone_channels(poses[:insert_frames], transl[:insert_frames], SMPL_REST_JOINTS,
                                            rest_rotations(insert_obj), "BONE")
    pose_bones = [insert_obj.pose.bones[name] for name in JOINT_NAMES]
    root = pose_bones[0]
    for frame in range(insert_frames):
        for joint, bone in enumerate(pose_bones):
            bone.rotation_quaternion = insert_channels.rotations[frame, joint]
            bone.keyframe_insert("rotation_quaternion", frame=frame + 1, group=bone.name)
        root.location = insert_channels.root_location[frame]
        root.keyframe_insert("location", frame=frame + 1, group=root.name)
    insert_s = time.perf_counter() - started

    # Same curves either way (checked on the frames both have).
    def values(act: bpy.types.Action) -> dict[tuple[str, int], np.ndarray]:
        out = {}
        for fcurve in action_fcurves(act):
            co = np.empty(2 * len(fcurve.keyframe_points), np.float32)
            fcurve.keyframe_points.foreach_get("co", co)
            out[(fcurve.data_path, fcurve.array_index)] = co.reshape(-1, 2)[:insert_frames]
        return out

    bulk_values, insert_values = values(action), values(insert_obj.animation_data.action)
    max_diff = max(float(np.abs(bulk_values[key] - insert_values[key]).max()) for key in bulk_values)
    return {"blender": bpy.app.version_string, "frames": frames, "bones": len(JOINT_NAMES),
            "curves": len(bulk_values), "maths_s": maths_s, "bulk_s": bulk_s, "insert_frames": insert_frames,
            "insert_s": insert_s, "max_curve_diff": max_diff}


def other_pythons(given: list[str]) -> list[str]:
    found = list(given)
    extra = os.environ.get("VIDEO_MOCAP_BPY50_PYTHON")
    if extra and extra not in found:
        found.append(extra)
    # Not resolve(): venv interpreters are symlinks to the same base Python.
    return [p for p in found if os.path.abspath(p) != os.path.abspath(sys.executable)]


def report(result: dict[str, object]) -> str:
    bulk, insert = float(result["bulk_s"]), float(result["insert_s"])
    n, n_insert = int(result["frames"]), int(result["insert_frames"])
    line = (f"Blender {result['blender']:<10} {n} frames x {result['bones']} bones ({result['curves']} curves): "
            f"bulk {bulk:.3f} s (maths {float(result['maths_s']):.3f} s) | keyframe_insert {insert:.2f} s "
            f"on {n_insert} frames")
    if n_insert == n:
        line += f" | ratio {insert / bulk:,.0f}x"
    else:
        line += f" (not {n}: ratio at {n_insert} frames not comparable, insert grows quadratically)"
    return line + f" | max curve diff {float(result['max_curve_diff']):.1e}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--insert-frames", type=int, default=None, help="frames for keyframe_insert (default: all)")
    parser.add_argument("--python", action="append", default=[], help="another interpreter with bpy (e.g. 5.0)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    insert_frames = min(args.insert_frames or args.frames, args.frames)
    result = measure(args.frames, insert_frames)
    if args.child:
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0
    results = [result]
    for python in other_pythons(args.python):
        child = subprocess.run([python, __file__, "--frames", str(args.frames), "--insert-frames",
                                str(insert_frames), "--child"], capture_output=True, text=True, check=False)
        lines = [line for line in child.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if child.returncode != 0 or not lines:
            print(f"{python}: failed\n{child.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append(json.loads(lines[-1][len(RESULT_PREFIX):]))
    for entry in results:
        print(report(entry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
