"""SMPL motion onto any armature: rest-pose correction, chains, root motion, floor (no bpy).

Frames: everything is solved in Blender's world frame (Z up), then turned into the armature's
space with its object matrix, so the rig may have any object location, rotation and (uniform)
scale, and any bone rolls and axes.

Rest-pose correction (not assumption). Let A_j(t) be the world rotation that takes SMPL joint j
from its rest pose to frame t, and R0_b the target bone b's rest orientation in the world.
First the target's body frame (left = left hip - right hip + left shoulder - right shoulder,
up = neck - mid-hips) is turned onto SMPL's (R_body): that removes which way the rig faces.
Then each mapped bone is swung by the smallest rotation that lays its Y axis (head -> tail)
along SMPL's bone of the same joint (head -> main child), which removes T-pose / A-pose and any
bend of the rest pose. With C_b = swing_b R_body R0_b fixed per bone, the bone's world
orientation at frame t is A_j(t) C_b: it points where the SMPL bone points, and its twist
follows the source's (pelvis, chest, head, hands and feet carry it). This is the helper-bone
construction of Rokoko's retargeter (prior_art.md section 3, item 5) with the rest poses
corrected instead of assumed equal, computed in closed form instead of through constraints.
Controls that do not lie along a limb (Rigify's torso and chest point backwards) are listed as
`free_direction` and turned with the body only.

Chains of a different length share the rotation: a joint that drives k bones gives bone i
(1..k) the world rotation A_parent (A_parent^T A_j)^(i/k), so the last bone of the chain has
the joint's full rotation and the others bend evenly.

Pose evaluation: a bone's armature-space pose is P_b = P_parent inv(Rest_parent) Rest_b Basis_b
(Blender's formula). Bones the mapping does not drive keep their current basis. A bone that
copies another's world transform takes that bone's pose (`copies`), a bone that copies another's
local rotation at influence f takes that basis raised to f (`local_copies`: Rigify spreads the
chest control over MCH-spine.002/.003 this way), and a bone driven by an Armature constraint with
one full-weight target is treated as its child: the reader (`blender/rig_reader.py`) folds these
into `parents`, `copies` and `local_copies`.

Root motion: the hips bone's head follows SMPL's pelvis, with horizontal travel scaled by the
target's leg length over SMPL's (or kept in metres), starting where the rig stands. The travel
goes on the hips bone (BONE), on the rig's root bone (ROOT: horizontal on the root, the rest on
the hips), on the object (OBJECT), or nowhere (IN_PLACE). The floor: one constant height puts
the 5th percentile of each frame's lowest ankle or toe joint at Z = 0 of the scene, wherever
the rig's origin is (the same rule as the SMPL armature's Feet on Ground).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import smpl
from .rig_layout import main_child
from .rotations import make_quaternions_continuous, matrix_to_quaternion, quaternion_to_matrix

RIG_ROOT_MOTION_MODES: tuple[str, ...] = ("BONE", "ROOT", "OBJECT", "IN_PLACE")
SCALE_MODES: tuple[str, ...] = ("LEG", "METRES")
#: A bone whose rest direction is further than this from SMPL's bone is a control, not a limb bone:
#: it is turned with the body only (never swung 90 degrees onto the limb).
MAX_ALIGN_DEG = 75.0
FLOOR_PERCENTILE = 5.0
FOOT_JOINTS = ("left_ankle", "right_ankle", "left_foot", "right_foot")


class RetargetProblem(ValueError):
    """The rig cannot take the motion as mapped (no pelvis bone, a root bone that is not above the hips)."""


@dataclass(frozen=True)
class SourceMotion:
    """SMPL motion in Blender's world frame (see `retarget.smpl_world_motion`)."""

    rotations: np.ndarray   # [N, 24, 3, 3] world rotation from each joint's rest to frame t
    pelvis: np.ndarray      # [N, 3] pelvis joint, metres, world, on the floor when grounded
    rest_heads: np.ndarray  # [24, 3] rest joints, world (the SMPL armature's bone heads)
    rest_tails: np.ndarray  # [24, 3] where each SMPL bone points (main child, or its parent's direction)
    grounded: bool = True


@dataclass(frozen=True)
class RigRest:
    """What the maths needs of the target armature (read by `blender/rig_reader.py`)."""

    names: tuple[str, ...]
    parents: tuple[int, ...]      # effective parent index per bone, -1 for none
    rest: np.ndarray              # [B, 4, 4] `bone.matrix_local` (armature space)
    basis: np.ndarray             # [B, 4, 4] current `pose_bone.matrix_basis` (kept on unmapped bones)
    object_matrix: np.ndarray     # [4, 4] the armature object's `matrix_world`
    copies: dict[int, int] = field(default_factory=dict)  # bone -> bone whose pose it copies
    #: bone -> (bone, influence) whose local rotation (basis) it copies, scaled by the influence
    #: (Rigify spreads the hips and chest controls over the spine this way)
    local_copies: dict[int, tuple[int, float]] = field(default_factory=dict)

    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}


@dataclass(frozen=True)
class RigChannels:
    """F-curve values for the rig: one quaternion per driven bone, location on hips/root, maybe object."""

    bone_names: tuple[str, ...]
    rotations: np.ndarray                      # [N, K, 4] (w, x, y, z), continuous in time
    locations: dict[str, np.ndarray]           # bone -> [N, 3] location channel
    object_location: np.ndarray | None         # [N, 3] world, when root motion is on the object
    scale: float                               # target leg length / SMPL leg length (1 for METRES)
    hips_bone: str = ""
    foot_bones: tuple[str, ...] = ()


def _unit(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norm > 1e-12, norm, 1.0)


def swing(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[3, 3] smallest rotation taking unit vector `source` onto unit vector `target`."""
    source, target = _unit(np.asarray(source, float)), _unit(np.asarray(target, float))
    axis = np.cross(source, target)
    sin, cos = float(np.linalg.norm(axis)), float(source @ target)
    if sin < 1e-12:
        if cos > 0:
            return np.eye(3)
        perpendicular = np.cross(source, [1.0, 0.0, 0.0] if abs(source[0]) < 0.9 else [0.0, 1.0, 0.0])
        axis, sin, cos = _unit(perpendicular), 0.0, -1.0
    else:
        axis = axis / sin
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    angle = np.arctan2(sin, cos)
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def body_frame(left: np.ndarray, up: np.ndarray) -> np.ndarray:
    """[3, 3] columns (left, back, up) of a character from its left and up vectors."""
    x = _unit(np.asarray(left, float))
    z = _unit(np.asarray(up, float) - (np.asarray(up, float) @ x) * x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def fractional_rotation(rotations: np.ndarray, fraction: float) -> np.ndarray:
    """[..., 3, 3] rotations raised to `fraction` (same axis, angle times fraction)."""
    quats = matrix_to_quaternion(rotations)
    angle = 2.0 * np.arctan2(np.linalg.norm(quats[..., 1:], axis=-1), quats[..., 0])
    axis = _unit(quats[..., 1:])
    half = 0.5 * angle * fraction
    return quaternion_to_matrix(np.concatenate([np.cos(half)[..., None], axis * np.sin(half)[..., None]], axis=-1))


def _object_parts(object_matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(linear part, its rotation, translation) of the object matrix; the rotation is the linear part
    with its columns normalised (exact for uniform and axis-aligned scale)."""
    matrix = np.asarray(object_matrix, dtype=np.float64)
    linear = matrix[:3, :3]
    rotation = linear / np.linalg.norm(linear, axis=0, keepdims=True)
    return linear, rotation, matrix[:3, 3]


def leg_length(heads: Mapping[str, np.ndarray]) -> float | None:
    """Mean over the sides present of hip->knee + knee->ankle (0 sides: None)."""
    lengths = []
    for side in ("left", "right"):
        points = [heads.get(f"{side}_{joint}") for joint in ("hip", "knee", "ankle")]
        if all(point is not None for point in points):
            lengths.append(float(np.linalg.norm(points[1] - points[0]) + np.linalg.norm(points[2] - points[1])))
    return float(np.mean(lengths)) if lengths else None


def _next_mapped(joint: int, chains: Mapping[int, Sequence[int]]) -> int | None:
    """The first mapped joint down SMPL's main-child line from `joint` (None at a leaf)."""
    child = main_child(joint)
    while child is not None:
        if chains.get(child):
            return child
        child = main_child(child)
    return None


def _mapped_parent_bone(joint: int, chains: Mapping[int, Sequence[int]], position: int,
                        chain: Sequence[int]) -> int:
    """The mapped bone just above a chain's bone: the previous one in the chain, else the parent joint's last."""
    if position > 1:
        return chain[position - 2]
    parent = smpl.PARENTS[joint]
    while parent >= 0 and not chains.get(parent):
        parent = smpl.PARENTS[parent]
    return chains[parent][-1] if parent >= 0 else -1


def _needed_order(rig: RigRest, wanted: Sequence[int]) -> list[int]:
    """`wanted` bones and everything their pose depends on, each after what it depends on."""
    order: list[int] = []
    state: dict[int, int] = {}

    def visit(bone: int) -> None:
        if state.get(bone) == 2:
            return
        if state.get(bone) == 1:
            raise RetargetProblem(f"bone '{rig.names[bone]}' depends on itself through its parents or constraints")
        state[bone] = 1
        if bone in rig.copies:
            visit(rig.copies[bone])
        if bone in rig.local_copies:
            visit(rig.local_copies[bone][0])
        if rig.parents[bone] >= 0:
            visit(rig.parents[bone])
        state[bone] = 2
        order.append(bone)

    for bone in wanted:
        visit(bone)
    return order


def retarget_to_rig(source: SourceMotion, rig: RigRest, joints: Mapping[str, Sequence[str]],
                    root_motion: str = "BONE", root_bone: str = "", scale_mode: str = "LEG",
                    free_direction: Sequence[str] = ()) -> RigChannels:
    """Channel values that make `rig` follow `source` as mapped by `joints` (SMPL joint -> bones).

    Raises RetargetProblem when the pelvis maps to no bone, a mapped bone is not in the rig, or
    ROOT motion names a root bone that is not above the hips bone.
    """
    if root_motion not in RIG_ROOT_MOTION_MODES:
        raise ValueError(f"root motion must be one of {RIG_ROOT_MOTION_MODES}, got {root_motion!r}")
    if scale_mode not in SCALE_MODES:
        raise ValueError(f"scale must be one of {SCALE_MODES}, got {scale_mode!r}")
    index = rig.index()
    chains: dict[int, list[int]] = {}
    for joint, bones in joints.items():
        if not bones:
            continue
        unknown = [bone for bone in bones if bone not in index]
        if unknown:
            raise RetargetProblem(f"the rig has no bones {', '.join(unknown)} (mapped to {joint})")
        chains[smpl.JOINT_NAMES.index(joint)] = [index[bone] for bone in bones]
    if smpl.ROOT not in chains:
        raise RetargetProblem("map SMPL's pelvis to the rig's hips bone: it carries the body's position")
    hips = chains[smpl.ROOT][0]
    root = index.get(root_bone, -1) if root_motion == "ROOT" else -1
    if root_motion == "ROOT":
        if root < 0:
            raise RetargetProblem(f"root motion on the root bone needs a root bone; '{root_bone}' is not in the rig")
        ancestor = rig.parents[hips]
        while ancestor >= 0 and ancestor != root:
            ancestor = rig.parents[ancestor]
        if ancestor != root:
            raise RetargetProblem(f"the root bone '{root_bone}' is not above the hips bone '{rig.names[hips]}'")

    frames = source.rotations.shape[0]
    linear, obj_rot, obj_origin = _object_parts(rig.object_matrix)
    linear_inv = np.linalg.inv(linear)
    rest = np.asarray(rig.rest, dtype=np.float64)
    heads_world = rest[:, :3, 3] @ linear.T + obj_origin
    rest_rot_world = obj_rot @ rest[:, :3, :3]
    rest_rot_world = rest_rot_world / np.linalg.norm(rest_rot_world, axis=1, keepdims=True)

    # Body frames: which way each character faces at rest.
    first = {joint: chain[0] for joint, chain in chains.items()}
    j = smpl.JOINT_NAMES.index

    def frame_of(points: Mapping[int, np.ndarray]) -> np.ndarray | None:
        left = np.zeros(3)
        for a, b in (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")):
            if j(a) in points and j(b) in points:
                left = left + points[j(a)] - points[j(b)]
        top = next((points[j(name)] for name in ("neck", "head", "spine3") if j(name) in points), None)
        hips_mid = (points[j("left_hip")] + points[j("right_hip")]) / 2 if j("left_hip") in points and \
            j("right_hip") in points else points.get(smpl.ROOT)
        if np.linalg.norm(left) < 1e-9 or top is None or hips_mid is None:
            return None
        return body_frame(left, top - hips_mid)

    target_frame = frame_of({joint: heads_world[bone] for joint, bone in first.items()})
    source_frame = frame_of({joint: source.rest_heads[joint] for joint in first})
    if target_frame is None or source_frame is None:
        # Too little mapped to tell: trust Blender's convention (the rig's left on its +X, up +Z).
        target_frame, source_frame = obj_rot, np.eye(3)
    to_source = source_frame @ target_frame.T

    # Constant per-bone corrections: C_b = swing_b R_body R0_b. A bone's limb direction is towards the
    # head of the next mapped bone down SMPL's tree (so rigs whose bones point along X, or whose bones
    # are not connected, work too); a leaf (hand, head, toes) uses whichever of its axes continues its
    # parent's limb, and is swung onto SMPL's bone of the same joint.
    free = {index[name] for name in free_direction if name in index}
    correction: dict[int, np.ndarray] = {}
    driver: dict[int, tuple[int, int, int]] = {}   # bone -> (joint, position in chain (1-based), chain length)
    limb_dir: dict[int, np.ndarray] = {}           # bone -> its limb direction at rest, turned into SMPL's frame
    for joint in range(smpl.NUM_JOINTS):           # parents first (SMPL order)
        chain = chains.get(joint)
        if not chain:
            continue
        below = _next_mapped(joint, chains)
        for position, bone in enumerate(chain, start=1):
            turned = to_source @ rest_rot_world[bone]
            if position < len(chain):
                bone_dir = to_source @ (heads_world[chain[position]] - heads_world[bone])
                smpl_dir = source.rest_tails[joint] - source.rest_heads[joint]
            elif below is not None and np.linalg.norm(heads_world[chains[below][0]] - heads_world[bone]) > 1e-6:
                bone_dir = to_source @ (heads_world[chains[below][0]] - heads_world[bone])
                smpl_dir = source.rest_heads[below] - source.rest_heads[joint]
            else:
                parent_dir = limb_dir.get(_mapped_parent_bone(joint, chains, position, chain), turned[:, 1])
                axes = np.concatenate([turned, -turned], axis=1).T
                bone_dir = axes[int(np.argmax(axes @ _unit(parent_dir)))]
                smpl_dir = source.rest_tails[joint] - source.rest_heads[joint]
            bone_dir, smpl_dir = _unit(bone_dir), _unit(smpl_dir)
            limb_dir[bone] = bone_dir
            angle = np.degrees(np.arccos(np.clip(bone_dir @ smpl_dir, -1.0, 1.0)))
            align = swing(bone_dir, smpl_dir) if bone not in free and angle < MAX_ALIGN_DEG else np.eye(3)
            correction[bone] = align @ turned
            driver[bone] = (joint, position, len(chain))

    # Desired world orientations, then armature space.
    desired: dict[int, np.ndarray] = {}
    source_rot = np.asarray(source.rotations, dtype=np.float64)
    for bone, (joint, position, length) in driver.items():
        parent_joint = smpl.PARENTS[joint]
        if length == 1 or parent_joint < 0:
            world = source_rot[:, joint]
        else:
            parent_rot = source_rot[:, parent_joint]
            local = np.swapaxes(parent_rot, -1, -2) @ source_rot[:, joint]
            world = parent_rot @ fractional_rotation(local, position / length)
        desired[bone] = obj_rot.T @ world @ correction[bone]

    # Scale: leg length ratio (world units of the target over SMPL's metres).
    scale = 1.0
    if scale_mode == "LEG":
        target_leg = leg_length({smpl.JOINT_NAMES[joint]: heads_world[bone] for joint, bone in first.items()})
        source_leg = leg_length({smpl.JOINT_NAMES[joint]: source.rest_heads[joint] for joint in range(24)})
        if target_leg and source_leg:
            scale = target_leg / source_leg

    pelvis = np.asarray(source.pelvis, dtype=np.float64)
    travel = scale * (pelvis - pelvis[0])
    travel[:, 2] = 0.0
    if root_motion == "IN_PLACE":
        travel[:] = 0.0
    hips_target = heads_world[hips] + travel
    if source.grounded:
        hips_target[:, 2] = scale * pelvis[:, 2]            # the floor constant is added below
    else:
        hips_target[:, 2] = heads_world[hips][2] + scale * (pelvis[:, 2] - pelvis[0, 2])
    object_location = None
    object_shift = np.zeros((frames, 3))
    if root_motion == "OBJECT":
        object_shift = travel
        object_location = obj_origin + travel

    # Forward kinematics over the bones that matter, parents first.
    feet = [first[j(name)] for name in FOOT_JOINTS if j(name) in first]
    order = _needed_order(rig, sorted(set(driver) | {hips} | ({root} if root >= 0 else set())))
    rot: dict[int, np.ndarray] = {}
    pos: dict[int, np.ndarray] = {}
    basis_rot: dict[int, np.ndarray] = {}
    pre: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    locations: dict[int, np.ndarray] = {}
    for bone in order:
        if bone in rig.copies:
            rot[bone], pos[bone] = rot[rig.copies[bone]], pos[rig.copies[bone]]
            continue
        parent = rig.parents[bone]
        if parent < 0:
            pre_rot = np.broadcast_to(rest[bone, :3, :3], (frames, 3, 3))
            pre_pos = np.broadcast_to(rest[bone, :3, 3], (frames, 3))
        else:
            relative = np.linalg.inv(rest[parent]) @ rest[bone]
            pre_rot = rot[parent] @ relative[:3, :3]
            pre_pos = np.einsum("nij,j->ni", rot[parent], relative[:3, 3]) + pos[parent]
        pre[bone] = (pre_rot, pre_pos)
        if bone in desired:
            basis_rot[bone] = np.swapaxes(pre_rot, -1, -2) @ desired[bone]
            rot[bone] = np.broadcast_to(desired[bone], (frames, 3, 3)) if desired[bone].ndim == 2 else desired[bone]
        elif bone in rig.local_copies:
            copied, influence = rig.local_copies[bone]
            copied_basis = basis_rot.get(copied, rig.basis[copied, :3, :3])
            if copied_basis.ndim == 2:
                copied_basis = np.broadcast_to(copied_basis, (frames, 3, 3))
            rot[bone] = pre_rot @ (copied_basis if influence > 0.999 else fractional_rotation(copied_basis, influence))
        else:
            rot[bone] = pre_rot @ rig.basis[bone, :3, :3]
        location = rig.basis[bone, :3, 3] if bone not in desired else np.zeros(3)
        if bone == root:
            wanted = (heads_world[root] + travel - obj_origin) @ linear_inv.T
            location = np.einsum("nji,nj->ni", pre_rot, wanted - pre_pos)
            locations[bone] = location
        elif bone == hips:
            wanted = (hips_target - obj_origin - object_shift) @ linear_inv.T
            location = np.einsum("nji,nj->ni", pre_rot, wanted - pre_pos)
            locations[bone] = location
        pos[bone] = pre_pos + (np.einsum("nij,nj->ni", pre_rot, location) if np.ndim(location) == 2
                               else pre_rot @ location)

    if source.grounded and feet:
        heights = np.stack([(pos[foot] @ linear.T)[:, 2] + obj_origin[2] for foot in feet], axis=1)
        lift = -float(np.percentile(heights.min(axis=1), FLOOR_PERCENTILE))
        shift = linear_inv @ np.array([0.0, 0.0, lift])      # armature-space shift of the hips head
        pre_rot = pre[hips][0]
        locations[hips] = locations[hips] + np.einsum("nji,j->ni", pre_rot, shift)

    driven = [bone for bone in order if bone in basis_rot]
    quats = matrix_to_quaternion(np.stack([basis_rot[bone] for bone in driven], axis=1)) if driven else \
        np.zeros((frames, 0, 4))
    return RigChannels(
        bone_names=tuple(rig.names[bone] for bone in driven),
        rotations=make_quaternions_continuous(quats),
        locations={rig.names[bone]: value for bone, value in locations.items()},
        object_location=object_location, scale=scale, hips_bone=rig.names[hips],
        foot_bones=tuple(rig.names[foot] for foot in feet))
