"""SMPL rotations -> pose-bone channels of a target armature (no bpy).

The target's armature space is taken as Blender's frame (Z up, the character facing -Y).
For joint j with SMPL local rotation L_j (camera frame for the root, body frame below it),
the world-space change of the bone is A_j = C G_j B^T (C: camera -> Blender, B: body ->
Blender, G_j: the chained SMPL rotations), so its change relative to its parent is
L'_0 = C L_0 B^T and L'_j = B L_j B^T. A pose bone whose rest orientation is O_j (from
`bone.matrix_local`) then needs the basis rotation O_j^T L'_j O_j. This conjugation is what
lets the bones keep sensible rolls (each bone along its limb) while the evaluated joints equal
SMPL forward kinematics exactly.

Root translation: the pelvis must land at C (rest_joints[0] + transl), which is a displacement
d = C (rest_0 + transl) - B rest_0 from where the rest skeleton puts it.

Floor: the camera frame's origin is the camera, so the feet would stand about a camera height
below Z = 0. With `ground` on, the whole clip is lifted by one constant so the feet touch Z = 0
where they are lowest (the 5th percentile of each frame's lowest ankle or toe, robust to a few
bad frames and to jumps). A constant shift: the motion itself is unchanged.

Floor plane: when the motion file carries `floor_plane` (the floor the backend found from the
planted feet, camera frame: unit up n and offset d, a point x is n.x + d above the floor), the
whole clip is first turned by the smallest rotation Q taking n onto the camera's -y, then lifted
by d. This is one rigid motion of the camera frame: Z points along gravity, the feet rest on
Z = 0, and the camera's pitch and roll are taken out of the character (its heading is kept).
Ground modes: AUTO (the plane when present, else the constant lift), PLANE (the same, with a
warning from `ground_warning` when the file has no plane), CONSTANT, OFF.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import smpl
from .axes import BODY_TO_BLENDER, CAMERA_TO_BLENDER, body_points_to_blender
from .motion_schema import level_rotation
from .rig_layout import smpl_bone_layout
from .rig_retarget import SourceMotion
from .rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    make_quaternions_continuous,
    matrix_to_quaternion,
    quaternion_conjugate,
    quaternion_multiply,
)

#: Where the root translation goes: the pelvis bone, the armature object, or nowhere horizontally.
ROOT_MOTION_MODES: tuple[str, ...] = ("BONE", "OBJECT", "IN_PLACE")

@dataclass(frozen=True)
class BoneChannels:
    """Per-frame values for the F-curves: one quaternion per target bone, plus root translation."""

    bone_names: tuple[str, ...]
    rotations: np.ndarray               # [N, 24, 4] (w, x, y, z), continuous in time
    root_location: np.ndarray           # [N, 3] the root bone's location channel
    object_location: np.ndarray | None  # [N, 3] when root motion goes on the object


#: Joints that touch the floor when standing: ankles and toes.
FOOT_JOINTS: tuple[int, ...] = tuple(smpl.JOINT_NAMES.index(name) for name in
                                     ("left_ankle", "right_ankle", "left_foot", "right_foot"))
FLOOR_PERCENTILE = 5.0
GROUND_MODES: tuple[str, ...] = ("AUTO", "PLANE", "CONSTANT", "OFF")


def ground_mode(ground: bool | str) -> str:
    """The ground mode; True/False (older callers) mean AUTO/OFF."""
    if isinstance(ground, bool):
        return "AUTO" if ground else "OFF"
    mode = str(ground).upper()
    if mode not in GROUND_MODES:
        raise ValueError(f"ground must be one of {GROUND_MODES}, got {ground!r}")
    return mode


def ground_warning(ground: bool | str, floor_plane: np.ndarray | None) -> str | None:
    """What to tell the user when the plane was asked for but the file has none."""
    if ground_mode(ground) == "PLANE" and floor_plane is None:
        return ("the motion file has no floor plane (neither the feet nor the body's balance gave one, or it was "
                "made with --ground constant/off); "
                "the feet were put on the floor with one constant lift and up is the camera's up")
    return None


def floor_offset(poses: np.ndarray, rest_joints: np.ndarray, displacement: np.ndarray,
                 camera_to_world: np.ndarray = CAMERA_TO_BLENDER, chained: np.ndarray | None = None) -> float:
    """The constant Z lift that puts the feet on Z = 0, for a pelvis moved by `displacement`.

    `chained` [N, 24, 3, 3]: the poses' global rotations when the caller has them already.
    """
    rest = np.asarray(rest_joints, dtype=np.float64)
    if chained is None:
        chained = smpl.global_rotations(axis_angle_to_matrix(np.asarray(poses, dtype=np.float64)))
    posed = smpl.posed_joints(chained, rest)                          # camera frame, root at rest_0
    world = (posed - rest[smpl.ROOT]) @ camera_to_world.T + BODY_TO_BLENDER @ rest[smpl.ROOT]
    lowest = (world[:, list(FOOT_JOINTS), 2] + displacement[:, None, 2]).min(axis=1)
    return float(-np.percentile(lowest, FLOOR_PERCENTILE))


def root_displacement(transl: np.ndarray, rest_joints: np.ndarray, root_motion: str,
                      camera_to_world: np.ndarray = CAMERA_TO_BLENDER) -> np.ndarray:
    """[N, 3] Blender-frame displacement of the pelvis from its rest position.

    IN_PLACE keeps the character on the spot: no horizontal travel, and only the vertical motion
    relative to the first frame (jumps and crouches stay).
    """
    if root_motion not in ROOT_MOTION_MODES:
        raise ValueError(f"root motion must be one of {ROOT_MOTION_MODES}, got {root_motion!r}")
    rest_root = np.asarray(rest_joints, dtype=np.float64)[smpl.ROOT]
    world_root = (rest_root + np.asarray(transl, dtype=np.float64)) @ camera_to_world.T
    displacement = world_root - BODY_TO_BLENDER @ rest_root
    if root_motion == "IN_PLACE":
        displacement[:, :2] = 0.0
        displacement[:, 2] -= displacement[0, 2]
    return displacement


def world_from_camera(mode: str, floor_plane: np.ndarray | None) -> np.ndarray:
    """[3, 3] camera frame -> Blender world, levelled on the floor plane when the mode uses it."""
    use_plane = floor_plane is not None and mode in ("AUTO", "PLANE")
    return CAMERA_TO_BLENDER @ level_rotation(floor_plane) if use_plane else CAMERA_TO_BLENDER


def grounded_displacement(poses: np.ndarray, transl: np.ndarray, rest_joints: np.ndarray, root_motion: str,
                          mode: str, floor_plane: np.ndarray | None, camera_to_world: np.ndarray,
                          chained: np.ndarray | None = None) -> np.ndarray:
    """[N, 3] pelvis displacement from its rest position (`root_displacement`) with the floor applied
    (`chained`: the poses' global rotations, if already computed)."""
    transl = np.asarray(transl, dtype=np.float64)
    rest_joints = np.asarray(rest_joints, dtype=np.float64)
    displacement = root_displacement(transl, rest_joints, root_motion, camera_to_world)
    if floor_plane is not None and mode in ("AUTO", "PLANE"):
        if root_motion == "IN_PLACE":  # only the vertical motion relative to frame 0 was kept
            world_root = (rest_joints[smpl.ROOT] + transl[0]) @ camera_to_world.T
            displacement[:, 2] += world_root[2] - (BODY_TO_BLENDER @ rest_joints[smpl.ROOT])[2]
        displacement[:, 2] += float(floor_plane[3])
    elif mode != "OFF":
        displacement[:, 2] += floor_offset(poses, rest_joints, displacement, camera_to_world, chained)
    return displacement


def smpl_world_motion(poses: np.ndarray, transl: np.ndarray, rest_joints: np.ndarray, ground: bool | str = "AUTO",
                      floor_plane: np.ndarray | None = None) -> SourceMotion:
    """The SMPL motion in Blender's world, as `rig_retarget` takes it: each joint's world rotation
    from rest (A_j = W G_j B^T, W camera -> world, B body -> world), the pelvis on the floor, and
    the rest bones (the SMPL armature's heads and tails)."""
    mode = ground_mode(ground)
    camera_to_world = world_from_camera(mode, floor_plane)
    poses = np.asarray(poses, dtype=np.float64)
    rest = np.asarray(rest_joints, dtype=np.float64)
    chained = smpl.global_rotations(axis_angle_to_matrix(poses))
    rotations = camera_to_world @ chained @ BODY_TO_BLENDER.T
    displacement = grounded_displacement(poses, transl, rest, "BONE", mode, floor_plane, camera_to_world, chained)
    layout = smpl_bone_layout(rest)
    heads = np.array([bone.head for bone in layout])
    tails = np.array([bone.tail for bone in layout])
    return SourceMotion(rotations=rotations, pelvis=heads[smpl.ROOT] + displacement, rest_heads=heads,
                        rest_tails=tails, grounded=mode != "OFF")


def rest_lift(rest_joints: np.ndarray) -> np.ndarray:
    """[3] the lift that stands SMPL's rest skeleton on Z = 0: its lowest ankle or toe joint on the floor."""
    heads = body_points_to_blender(np.asarray(rest_joints, dtype=np.float64))
    return np.array([0.0, 0.0, -float(heads[list(FOOT_JOINTS), 2].min())])


def compute_bone_channels(poses: np.ndarray, transl: np.ndarray, rest_joints: np.ndarray,
                          bone_rest_rotations: np.ndarray, root_motion: str = "BONE",
                          bone_names: tuple[str, ...] = smpl.JOINT_NAMES,
                          object_basis: np.ndarray | None = None,
                          object_origin: np.ndarray | None = None, ground: bool | str = False,
                          floor_plane: np.ndarray | None = None,
                          rest_offset: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0)) -> BoneChannels:
    """Quaternion and location channel values for N frames.

    `bone_rest_rotations` [24, 3, 3] are the target bones' rest orientations in armature space
    (`bone.matrix_local.to_3x3()`), in SMPL joint order. `object_basis` / `object_origin` are the
    armature object's rotation and location, used only when root motion goes on the object.
    `ground` (GROUND_MODES, or True = AUTO / False = OFF) stands the clip on the floor: on
    `floor_plane` when given and the mode is AUTO or PLANE, else by one constant lift (`floor_offset`).
    `rest_offset` is where the armature's rest skeleton stands relative to SMPL's rest joints in
    Blender's frame (the add-on's own armature is lifted so its feet rest on Z = 0).
    """
    mode = ground_mode(ground)
    camera_to_world = world_from_camera(mode, floor_plane)
    poses = np.asarray(poses, dtype=np.float64)
    frames = poses.shape[0]
    rest_quats = matrix_to_quaternion(np.asarray(bone_rest_rotations, dtype=np.float64))   # [24, 4]
    body_quat = matrix_to_quaternion(BODY_TO_BLENDER)
    camera_quat = matrix_to_quaternion(camera_to_world)
    # basis_j = left_j * q(L_j) * right_j, with the constant factors computed once per bone.
    frame_of_joint = np.tile(body_quat, (smpl.NUM_JOINTS, 1))
    frame_of_joint[smpl.ROOT] = camera_quat
    left = quaternion_multiply(quaternion_conjugate(rest_quats), frame_of_joint)
    right = quaternion_multiply(quaternion_conjugate(body_quat), rest_quats)
    local = axis_angle_to_quaternion(poses)                                                  # [N, 24, 4]
    basis = quaternion_multiply(quaternion_multiply(left[None], local), right[None])
    rotations = make_quaternions_continuous(basis)

    displacement = grounded_displacement(poses, transl, rest_joints, root_motion, mode, floor_plane,
                                         camera_to_world) - np.asarray(rest_offset, dtype=np.float64)
    object_location = None
    if root_motion == "OBJECT":
        basis3 = np.eye(3) if object_basis is None else np.asarray(object_basis, dtype=np.float64)
        origin = np.zeros(3) if object_origin is None else np.asarray(object_origin, dtype=np.float64)
        object_location = origin + displacement @ basis3.T
        root_location = np.zeros((frames, 3))
    else:
        # The location channel is in the root bone's rest frame: head = rest_head + O_0 @ loc.
        root_location = displacement @ np.asarray(bone_rest_rotations, dtype=np.float64)[smpl.ROOT]
    return BoneChannels(bone_names=tuple(bone_names), rotations=rotations,
                        root_location=root_location, object_location=object_location)
