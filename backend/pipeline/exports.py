"""Exports of a motion file without Blender: BVH (Y-up), AMASS-style .npz (Z-up) and joints CSV.

All three put the motion in the same world as the add-on's SMPL armature imported with its
defaults (root motion on the pelvis bone, Feet on Ground = Auto): Blender's Z-up world, x right,
-Y towards the camera, feet on Z = 0. The frame change is the add-on's (DESIGN.md; mirrored from
`addon/core/axes.py` and `addon/core/retarget.py`, which this layer may not import):

- camera (x right, y down, z forward) -> Z-up world: x stays, z -> +y, y -> -z, after levelling
  the camera onto the floor plane (`floor_plane`, when the file has one), then a lift along Z that
  puts the floor at 0 (the plane's distance `d`, or, without a plane, the 5th percentile of the
  lowest ankle/toe over the clip).
- The BVH is the same world in the format's Y-up convention (x, y, z)_bvh = (x, z, -y)_world,
  which is exactly what Blender's BVH importer undoes with its defaults (forward -Z, up Y). Its
  skeleton offsets are the clip's rest joints in the SMPL body frame (already Y-up).

Rows: the BVH has one frame per tick of the export rate (the clip's nominal rate when its rows
fall on whole frames of it, else a common rate or multiple where they do, as the add-on's
exporter picks), every row on its own frame; ticks between rows (a stride, a variable-rate clip)
are interpolated (slerp, linear root). AMASS and CSV keep exactly the file's rows.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from ..core.motion_schema import export_rate, level_rotation
from ..core.outputs import atomic_output
from ..geometry.skeleton import JOINT_NAMES, PARENTS, forward_kinematics

CAMERA_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
#: Z-up world -> BVH's Y-up frame (the inverse of Blender's importer default axis conversion).
WORLD_TO_BVH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
FOOT_JOINTS = (7, 8, 10, 11)  # ankles and toes: what touches the floor when standing
FLOOR_PERCENTILE = 5.0


def world_frame(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
    """(camera -> Z-up world rotation [3, 3], lift along Z in metres), as the add-on's Auto import."""
    poses = np.asarray(arrays["poses"], np.float64)
    rest = np.asarray(arrays["rest_joints"], np.float64)
    transl = np.asarray(arrays["transl"], np.float64)
    if "floor_plane" in arrays:
        plane = np.asarray(arrays["floor_plane"], np.float64)
        return CAMERA_TO_WORLD @ level_rotation(plane), float(plane[3])
    joints = forward_kinematics(poses, rest, transl) @ CAMERA_TO_WORLD.T
    lowest = joints[:, list(FOOT_JOINTS), 2].min(axis=1)
    return CAMERA_TO_WORLD.copy(), float(-np.percentile(lowest, FLOOR_PERCENTILE))


def world_joints(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """[N, 24, 3] posed SMPL joints in the Z-up world, metres (what the add-on's armature shows)."""
    rotation, lift = world_frame(arrays)
    joints = forward_kinematics(np.asarray(arrays["poses"], np.float64), np.asarray(arrays["rest_joints"], np.float64),
                                np.asarray(arrays["transl"], np.float64))
    return joints @ rotation.T + np.array([0.0, 0.0, lift])


def _source_fps(arrays: dict[str, np.ndarray]) -> float:
    try:
        meta = json.loads(str(arrays["meta"]))
        return float(meta.get("source_fps") or arrays["fps"])
    except (ValueError, TypeError, AttributeError):
        return float(arrays["fps"])


def bvh_text(arrays: dict[str, np.ndarray]) -> tuple[str, float, np.ndarray]:
    """The BVH file's text, its frame rate and each row's BVH frame index (from 0)."""
    poses = np.asarray(arrays["poses"], np.float64)
    rest = np.asarray(arrays["rest_joints"], np.float64)
    transl = np.asarray(arrays["transl"], np.float64)
    times = np.asarray(arrays["times"], np.float64)
    rate = export_rate(times, _source_fps(arrays))
    row_frames = np.round((times - times[0]) * rate).astype(np.int64)
    ticks = np.arange(int(row_frames[-1]) + 1)
    rotation, lift = world_frame(arrays)
    to_bvh = WORLD_TO_BVH @ rotation  # camera frame -> BVH frame
    # Root: BVH global orientation = to_bvh @ R0; the others keep their SMPL local rotations,
    # because the BVH offsets are the rest skeleton in the body frame, which is already Y-up.
    local = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(len(poses), 24, 3, 3)
    local[:, 0] = to_bvh[None] @ local[:, 0]
    root = (rest[0] + transl) @ to_bvh.T + WORLD_TO_BVH @ np.array([0.0, 0.0, lift])
    if len(ticks) != len(poses):  # rows with gaps between them: fill the ticks in between
        local = np.stack([Slerp(row_frames, Rotation.from_matrix(local[:, j]))(ticks).as_matrix()
                          for j in range(24)], axis=1)
        root = np.stack([np.interp(ticks, row_frames, root[:, k]) for k in range(3)], axis=1)
    # Channels Zrotation Xrotation Yrotation: R = Rz(a) Rx(b) Ry(c) (intrinsic ZXY).
    eulers = np.degrees(Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler("ZXY")).reshape(len(ticks), 24, 3)
    children: dict[int, list[int]] = {j: [] for j in range(24)}
    for j, parent in enumerate(PARENTS):
        if parent >= 0:
            children[parent].append(j)
    out = io.StringIO()
    out.write("HIERARCHY\n")
    order: list[int] = []  # the hierarchy's depth-first order: the order of each frame's values

    def joint(j: int, depth: int) -> None:
        order.append(j)
        pad = "  " * depth
        offset = np.zeros(3) if j == 0 else rest[j] - rest[PARENTS[j]]
        out.write(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {JOINT_NAMES[j]}\n{pad}{{\n")
        out.write(f"{pad}  OFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}\n")
        channels = "6 Xposition Yposition Zposition" if j == 0 else "3"
        out.write(f"{pad}  CHANNELS {channels} Zrotation Xrotation Yrotation\n")
        for child in children[j]:
            joint(child, depth + 1)
        if not children[j]:
            end = (rest[j] - rest[PARENTS[j]]) * 0.5  # a short tip along the parent bone's direction
            out.write(f"{pad}  End Site\n{pad}  {{\n")
            out.write(f"{pad}    OFFSET {end[0]:.6f} {end[1]:.6f} {end[2]:.6f}\n{pad}  }}\n")
        out.write(f"{pad}}}\n")

    joint(0, 0)
    out.write(f"MOTION\nFrames: {len(ticks)}\nFrame Time: {1.0 / rate:.8f}\n")
    for tick in range(len(ticks)):
        values = [*root[tick], *eulers[tick, order].reshape(-1)]
        out.write(" ".join(f"{v:.6f}" for v in values) + "\n")
    return out.getvalue(), rate, row_frames


def amass_arrays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """AMASS convention, Z-up world: poses [N, 72] axis-angle, trans [N, 3] m, betas, gender, rate.

    SMPL FK of (poses, betas, trans) puts the pelvis at J0(betas) + trans; `trans` is chosen so
    that it lands where the add-on's armature has it (the rest joints must be the SMPL model's
    joints for these betas for the other joints to match, as with a fitted or seed-model clip).
    """
    rotation, lift = world_frame(arrays)
    poses = np.asarray(arrays["poses"], np.float64).copy()
    rest = np.asarray(arrays["rest_joints"], np.float64)
    transl = np.asarray(arrays["transl"], np.float64)
    root = Rotation.from_rotvec(poses[:, 0]).as_matrix()
    poses[:, 0] = Rotation.from_matrix(rotation[None] @ root).as_rotvec()
    trans = (rest[0] + transl) @ rotation.T + np.array([0.0, 0.0, lift]) - rest[0]
    return {
        "poses": poses.reshape(len(poses), 72),
        "trans": trans,
        "betas": np.asarray(arrays["betas"], np.float64),
        "gender": np.str_("neutral"),
        "mocap_framerate": np.float64(_source_fps(arrays)),
        "mocap_time": np.asarray(arrays["times"], np.float64),
        "up_axis": np.str_("Z"),
    }


def csv_text(arrays: dict[str, np.ndarray]) -> str:
    """One row per motion-file row: frame, time (s), valid, then x, y, z (m, Z-up world) per joint."""
    joints = world_joints(arrays)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["frame", "time_s", "valid", *(f"{name}_{axis}" for name in JOINT_NAMES for axis in "xyz")])
    for row in range(len(joints)):
        writer.writerow([int(arrays["frame_ids"][row]), f"{float(arrays['times'][row]):.6f}",
                         int(bool(arrays["valid"][row])), *(f"{v:.6f}" for v in joints[row].reshape(-1))])
    return out.getvalue()


def write_bvh(arrays: dict[str, np.ndarray], out: Path) -> Path:
    text, _, _ = bvh_text(arrays)
    with atomic_output(out) as handle:
        handle.write(text.encode())
    return out


def write_amass(arrays: dict[str, np.ndarray], out: Path) -> Path:
    with atomic_output(out) as handle:
        np.savez(handle, **amass_arrays(arrays))
    return out


def write_csv(arrays: dict[str, np.ndarray], out: Path) -> Path:
    with atomic_output(out) as handle:
        handle.write(csv_text(arrays).encode())
    return out


def write_exports(motion_path: Path, kinds: tuple[str, ...] | list[str]) -> list[Path]:
    """Next to MOTION.npz: .bvh, _amass.npz, .csv (batch `--export`). Raises ValueError for a bad file."""
    from ..core.motion_file import load_motion_file

    arrays = load_motion_file(motion_path)
    stem = motion_path.with_suffix("")
    written = []
    for kind in kinds:
        if kind == "bvh":
            written.append(write_bvh(arrays, stem.with_suffix(".bvh")))
        elif kind == "amass":
            written.append(write_amass(arrays, stem.with_name(stem.name + "_amass.npz")))
        elif kind == "csv":
            written.append(write_csv(arrays, stem.with_suffix(".csv")))
    return written
