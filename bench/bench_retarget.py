"""Retarget benchmark: N frames (default 10,000) onto the rig Rigify generates from its Human metarig.

    .venv/bin/python bench/bench_retarget.py [--frames 10000] [--bake-frames N]

Ours: the add-on's import onto an existing armature (read the rig, retarget maths, bulk keys into a
new action), timed as one call, and its maths and keys timed apart. Theirs: the method Rokoko's
retargeter uses (prior_art.md section 3): a helper bone per mapped bone in the source (SMPL)
armature, parented to the source bone and carrying the target's corrected rest orientation,
Copy Rotation (world) on each target bone, Copy Location on the hips, then
`bpy.ops.nla.bake(visual_keying=True)` over the same frames. Wall and process CPU times are both
printed (run it with OMP_NUM_THREADS=1 for single-threaded numpy: CPU time then reads as the time
on an idle core). Both results are then evaluated and
the mapped bones' world directions compared. `--bake-frames` bakes fewer frames (the rate is
per frame, so the figure is scaled to N and printed as such) when the full bake would take too long.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_TMP = Path(tempfile.mkdtemp(prefix="bench_retarget_"))
os.environ.setdefault("BLENDER_USER_RESOURCES", str(_TMP / "user"))
os.environ.setdefault("XDG_CACHE_HOME", str(_TMP / "cache"))
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "tests" / "blender"))  # the test helpers: Rigify generation, SMPL rest joints

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from rig_builders import generate_rigify  # noqa: E402

from addon.blender import scene_import  # noqa: E402
from addon.blender.keyframe_writer import curves_for_rig_channels, write_action  # noqa: E402
from addon.blender.rig_reader import apply_switches, read_rig  # noqa: E402
from addon.core.motion_data import load_motion  # noqa: E402
from addon.core.retarget import smpl_world_motion  # noqa: E402
from addon.core.rig_presets import preset_mapping, presets  # noqa: E402
from addon.core.rig_retarget import retarget_to_rig  # noqa: E402


def synthetic_motion(path: Path, frames: int, seed: int = 5) -> Path:
    """Smooth motion with large joint rotations, a turning, walking root (camera frame), 30 fps."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None]
    poses = rng.uniform(0.2, 0.6, (1, 24, 3)) * np.sin(rng.uniform(0.02, 0.2, (1, 24, 3)) * t
                                                        + rng.uniform(0, 6.3, (1, 24, 3)))
    yaw = 0.6 * np.sin(0.01 * np.arange(frames))
    # root: pi about x (upright, facing the camera) then yaw about the camera's vertical.
    from addon.core.rotations import axis_angle_to_matrix, matrix_to_quaternion
    flip = axis_angle_to_matrix(np.array([np.pi, 0.0, 0.0]))
    turn = axis_angle_to_matrix(np.stack([np.zeros(frames), yaw, np.zeros(frames)], -1))
    quat = matrix_to_quaternion(turn @ flip)
    angle = 2 * np.arctan2(np.linalg.norm(quat[:, 1:], axis=-1), quat[:, 0])
    poses[:, 0] = quat[:, 1:] / np.maximum(np.linalg.norm(quat[:, 1:], axis=-1, keepdims=True), 1e-12) * angle[:, None]
    transl = np.stack([0.5 * np.sin(0.003 * np.arange(frames)), 0.3 + 0.02 * np.cos(0.1 * np.arange(frames)),
                       4.0 + 0.5 * np.sin(0.002 * np.arange(frames))], -1)
    from synthetic_motion import SMPL_REST_JOINTS  # SMPL's mean-shape rest joints
    np.savez(path, format_version=np.int32(1), poses=poses.astype(np.float32), betas=np.zeros(10, np.float32),
             transl=transl.astype(np.float32), valid=np.ones(frames, bool),
             frame_ids=np.arange(frames, dtype=np.int32), fps=np.float64(30.0),
             bboxes=np.tile(np.array([540, 960, 400, 900], np.float32), (frames, 1)),
             cam=np.tile(np.array([1.0, 0.0, 0.0], np.float32), (frames, 1)),
             rest_joints=np.asarray(SMPL_REST_JOINTS, np.float32), model=np.str_("synthetic"), window=np.int32(0),
             meta=np.str_("{}"))
    return path


def world_dirs(obj: bpy.types.Object, bones: list[str], frames: list[int]) -> np.ndarray:
    """[F, B, 3, 3] world rotations (Y = bone direction) at the given frames."""
    out = np.empty((len(frames), len(bones), 3, 3))
    for i, frame in enumerate(frames):
        bpy.context.scene.frame_set(frame)
        for j, bone in enumerate(bones):
            m = np.array((obj.matrix_world @ obj.pose.bones[bone].matrix).to_3x3())
            out[i, j] = m / np.linalg.norm(m, axis=0, keepdims=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--bake-frames", type=int, default=None, help="bake only this many frames (default: all)")
    args = parser.parse_args()
    started = time.perf_counter()
    rig = generate_rigify()  # also unregisters the rig's UI script, else the bpy 4.5 module hangs at exit
    print(f"rigify_generate: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    motion = load_motion(synthetic_motion(_TMP / "motion.npz", args.frames))
    scene = bpy.context.scene
    scene.render.fps = 30

    # The SMPL armature (source of the baked method), not timed.
    smpl = scene_import.import_motion(bpy.context, motion, scene_import.ImportOptions(name="source")).armature

    # Ours, end to end (read rig + maths + keys), then maths and keys apart.
    options = scene_import.ImportOptions(target="EXISTING", target_object=rig.name, bone_preset="rigify",
                                         name="ours")
    started, cpu_started = time.perf_counter(), time.process_time()
    result = scene_import.import_motion(bpy.context, motion, options)
    ours_total, ours_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    mapping = preset_mapping(presets()["rigify"], list(rig.data.bones.keys()))
    apply_switches(rig, mapping.properties)
    rest = read_rig(rig)
    started = time.perf_counter()
    source = smpl_world_motion(motion.poses, motion.transl, motion.rest_joints, "AUTO")
    channels = retarget_to_rig(source, rest, mapping.joints, "BONE", mapping.root_bone)
    maths = time.perf_counter() - started
    started = time.perf_counter()
    spare = write_action(rig, "ours_again", result.frames, curves_for_rig_channels(channels))
    keys = time.perf_counter() - started
    rig.animation_data.action = result.action
    if hasattr(rig.animation_data, "action_slot") and len(result.action.slots):
        rig.animation_data.action_slot = result.action.slots[0]
    bpy.data.actions.remove(spare)
    bones = list(channels.bone_names)
    bake_frames = min(args.bake_frames or args.frames, args.frames)
    frames = sorted({int(f) for f in np.linspace(1, bake_frames, 200)})   # compared where both have keys
    ours_dirs = world_dirs(rig, bones, frames)

    # Theirs: helper bones + Copy Rotation / Copy Location + nla.bake(visual_keying=True).
    source_of = {bone: joint for joint, chain in mapping.joints.items() for bone in chain}
    scene.frame_set(1)
    target_world = {bone: rig.matrix_world @ rig.pose.bones[bone].matrix for bone in bones}
    smpl_delta = {joint: (smpl.matrix_world @ smpl.pose.bones[joint].matrix)
                  @ (smpl.matrix_world @ smpl.data.bones[joint].matrix_local).inverted()
                  for joint in source_of.values()}
    bpy.context.view_layer.objects.active = smpl
    bpy.ops.object.mode_set(mode="EDIT")
    for bone in bones:
        joint = source_of[bone]
        rest_world = smpl_delta[joint].inverted() @ target_world[bone]   # the helper's rest: target rest, corrected
        helper = smpl.data.edit_bones.new(f"helper_{bone}")
        helper.head, helper.tail = (0, 0, 0), (0, 0.1, 0)
        helper.matrix = smpl.matrix_world.inverted() @ rest_world
        helper.parent = smpl.data.edit_bones[joint]
    bpy.ops.object.mode_set(mode="OBJECT")
    rig.animation_data.action = None
    for bone in bones:
        constraint = rig.pose.bones[bone].constraints.new("COPY_ROTATION")
        constraint.target, constraint.subtarget = smpl, f"helper_{bone}"
        if bone == mapping.joints["pelvis"][0]:
            location = rig.pose.bones[bone].constraints.new("COPY_LOCATION")
            location.target, location.subtarget = smpl, f"helper_{bone}"
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="POSE")
    for pose_bone in rig.pose.bones:
        pose_bone.bone.select = pose_bone.name in bones
    started, cpu_started = time.perf_counter(), time.process_time()
    bpy.ops.nla.bake(frame_start=1, frame_end=bake_frames, only_selected=True, visual_keying=True,
                     clear_constraints=True, bake_types={"POSE"})
    bake, bake_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    bpy.ops.object.mode_set(mode="OBJECT")
    theirs_dirs = world_dirs(rig, bones, frames)
    cos = np.clip(np.sum(ours_dirs[:, :, :, 1] * theirs_dirs[:, :, :, 1], axis=-1), -1, 1)
    angle = np.degrees(np.arccos(cos))
    bake_full = bake * args.frames / bake_frames
    print(json.dumps({
        "frames": args.frames, "rig_bones": len(rig.data.bones), "driven_bones": len(bones),
        "ours_total_s": round(ours_total, 3), "ours_total_cpu_s": round(ours_cpu, 3),
        "ours_maths_s": round(maths, 3), "ours_keys_s": round(keys, 3),
        "bake_frames": bake_frames, "bake_s": round(bake, 2), "bake_cpu_s": round(bake_cpu, 2),
        "bake_s_scaled_to_frames": round(bake_full, 1),
        "speedup_total": round(bake_full / ours_total, 1),
        "speedup_cpu": round(bake_cpu * args.frames / bake_frames / max(ours_cpu, 1e-9), 1),
        "compared_frames": len(frames),
        "direction_diff_deg_median": round(float(np.median(angle)), 4),
        "direction_diff_deg_max": round(float(angle.max()), 4),
        "blender": bpy.app.version_string,
        "load_average_1min": round(os.getloadavg()[0], 2),  # the wall times stretch on a shared machine
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
