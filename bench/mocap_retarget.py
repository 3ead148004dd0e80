"""Motion-capture takes (BVH) onto the harness skeleton of `truth_motions` (pure numpy; never imports bpy).

Reading: the BVH text is parsed by `bvhio` (pinned in requirements/dev.txt), which turns each joint's
Euler channels into a rotation in the channel order given by the file (intrinsic, as BVH means them:
`CHANNELS 3 Zrotation Xrotation Yrotation` is R = Rz Rx Ry, acting on column vectors). This module
keeps the result as numpy arrays (`BvhTake`) and does the forward kinematics itself: a joint's world
position is its parent's plus the parent's world rotation applied to the joint's OFFSET; the root's
position comes from its position channels.

Retargeting (`retarget`): for every harness joint a source joint is named in `RETARGET_MAP`; the
harness joint's world rotation is the source joint's world rotation followed by a constant rotation
`S` (the shortest one taking the harness bone's rest direction to the source bone's rest direction).
Each harness bone then points exactly along the source bone, and the twist about the bone comes from
the capture. The harness bones keep their own (rigid) lengths, so the truth is the harness's forward
kinematics of these rotations. The root travels as the source's root, scaled by the ratio of the
harness's leg length (hip-knee-ankle) to the source's. The source's world (Y up, facing +Z in its
rest pose, left = +X) is turned into the harness's (Z up, facing -Y, left = +X) by a proper rotation
(x, y, z) -> (x, -z, y), so left stays left.

The CMU Graphics Lab take shipped in `bench/truth/mocap/` (see its NOTICE) uses the joint names of
the DAZ-friendly BVH conversion of the CMU database (`hip`, `abdomen`, `chest`, `lThigh`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

#: Source (BVH, Y up) world -> harness world (Z up): x stays, y_h = -z_b, z_h = y_b. det = +1.
BVH_TO_HARNESS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass
class BvhTake:
    """A BVH take as arrays. J joints in file order (parents before children), N frames.

    names [J]; parents [J] (-1 for the root); offsets [J, 3] (file units, parent's rest frame);
    tips [J, 3]: the rest bone vector of each joint (its first child's offset, or its End Site;
    zeros for a joint with neither); root_positions [N, 3] (file units, the root's position
    channels); local [N, J, 3, 3] rotation matrices (joint -> parent frame); frame_time (s).
    """

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    tips: np.ndarray
    root_positions: np.ndarray
    local: np.ndarray
    frame_time: float

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"the BVH take has no joint named {name!r}") from None

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time


def read_bvh(path: Path) -> BvhTake:
    """Read a BVH file with `bvhio` into a `BvhTake`.

    Errors: FileNotFoundError when the file is missing; ValueError naming the file when bvhio
    cannot parse it or it holds no frame.
    """
    import bvhio  # imported here so the harness's procedural clips never need it

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"BVH file not found: {path}")
    try:
        container = bvhio.readAsBvh(str(path))
    except (SyntaxError, ValueError, IndexError) as exc:
        raise ValueError(f"{path}: not a readable BVH file ({exc})") from exc
    layout = container.Root.layout()
    joints = [entry[0] for entry in layout]
    if container.FrameCount < 1 or any(len(j.Keyframes) != container.FrameCount for j in joints):
        raise ValueError(f"{path}: the MOTION section holds no complete frame")
    index = {id(j): i for i, j in enumerate(joints)}
    parents = np.full(len(joints), -1, dtype=np.int64)
    for j in joints:
        for child in j.Children:
            parents[index[id(child)]] = index[id(j)]
    offsets = np.array([tuple(j.Offset) for j in joints], dtype=float)
    tips = np.array([tuple(j.Children[0].Offset) if j.Children else tuple(j.EndSite) for j in joints], dtype=float)
    quats = np.array([[(k.Rotation.x, k.Rotation.y, k.Rotation.z, k.Rotation.w) for k in j.Keyframes]
                      for j in joints], dtype=float)                    # [J, N, 4]
    local = Rotation.from_quat(quats.reshape(-1, 4)).as_matrix().reshape(len(joints), -1, 3, 3).swapaxes(0, 1)
    root = np.array([tuple(k.Position) for k in container.Root.Keyframes], dtype=float)
    return BvhTake([j.Name for j in joints], parents, offsets, tips, root, local, float(container.FrameTime))


def bvh_forward_kinematics(take: BvhTake) -> tuple[np.ndarray, np.ndarray]:
    """World positions [N, J, 3] (file units) and world rotations [N, J, 3, 3] of every joint, source frame."""
    n, count = take.local.shape[:2]
    glob = np.zeros_like(take.local)
    pos = np.zeros((n, count, 3))
    for j, parent in enumerate(take.parents):
        if parent < 0:
            glob[:, j] = take.local[:, j]
            pos[:, j] = take.root_positions
        else:
            glob[:, j] = glob[:, parent] @ take.local[:, j]
            pos[:, j] = pos[:, parent] + glob[:, parent] @ take.offsets[j]
    return pos, glob


def resample(take: BvhTake, fps: float, frames: int) -> BvhTake:
    """`frames` frames at `fps` from the take's first frame: rotations by slerp, the root linearly.

    Where the source rate is a whole multiple of `fps` (CMU's 120 fps to 30 fps) every new frame
    is an original frame. ValueError when the take is too short for `frames` frames.
    """
    times = np.arange(len(take.root_positions)) * take.frame_time
    wanted = np.arange(frames) / fps
    if wanted[-1] > times[-1] + 1e-9:
        raise ValueError(f"the take lasts {times[-1]:.3f} s; {frames} frames at {fps:g} fps need {wanted[-1]:.3f} s")
    wanted = np.minimum(wanted, times[-1])
    local = np.empty((frames, *take.local.shape[1:]))
    for j in range(take.local.shape[1]):
        local[:, j] = Slerp(times, Rotation.from_matrix(take.local[:, j]))(wanted).as_matrix()
    root = np.stack([np.interp(wanted, times, take.root_positions[:, k]) for k in range(3)], axis=-1)
    return BvhTake(take.names, take.parents, take.offsets, take.tips, root, local, 1.0 / fps)


#: Harness joint -> source joint (DAZ-friendly names of the CMU BVH conversion) whose world rotation
#: drives it. The harness's three spine joints share the source's two (abdomen for spine1 and
#: spine2, chest for spine3). The feet balls and hands are leaves on their parent's source joint.
RETARGET_MAP: dict[str, str] = {
    "pelvis": "hip", "spine1": "abdomen", "spine2": "abdomen", "spine3": "chest", "neck": "neck",
    "head": "head",
    "left_hip": "lThigh", "left_knee": "lShin", "left_ankle": "lFoot", "left_foot": "lFoot",
    "right_hip": "rThigh", "right_knee": "rShin", "right_ankle": "rFoot", "right_foot": "rFoot",
    "left_collar": "lCollar", "left_shoulder": "lShldr", "left_elbow": "lForeArm", "left_wrist": "lHand",
    "left_hand": "lHand",
    "right_collar": "rCollar", "right_shoulder": "rShldr", "right_elbow": "rForeArm", "right_wrist": "rHand",
    "right_hand": "rHand",
}

#: Source bone end for a harness bone whose source joint's rest tip (first child / End Site) is not
#: the bone's end: the hand points at the middle finger's base, not the thumb's.
SOURCE_TIP: dict[str, str] = {"lHand": "lMid1", "rHand": "rMid1"}


def _shortest_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3x3 rotation taking direction a onto direction b by the smallest angle (a, b nonzero, not opposite)."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(a @ b)
    if sin < 1e-12:
        return np.eye(3)
    return Rotation.from_rotvec(axis / sin * np.arctan2(sin, cos)).as_matrix()


def source_bone_vectors(take: BvhTake) -> dict[str, np.ndarray]:
    """Rest bone vector (source joint -> its bone end) of each source joint named in RETARGET_MAP, source frame."""
    out = {}
    for source in set(RETARGET_MAP.values()):
        j = take.index(source)
        out[source] = take.offsets[take.index(SOURCE_TIP[source])] if source in SOURCE_TIP else take.tips[j]
    return out


def leg_length(take: BvhTake) -> float:
    """Hip-knee-ankle length of the source's left leg (file units)."""
    return float(np.linalg.norm(take.offsets[take.index("lShin")]) + np.linalg.norm(take.offsets[take.index("lFoot")]))


def retarget(take: BvhTake, joint_names: tuple[str, ...], parents: tuple[int, ...], rest_joints: np.ndarray,
             ) -> tuple[np.ndarray, np.ndarray]:
    """Harness local rotation vectors [N, 24, 3] (radians) and root translation [N, 3] (metres, harness world).

    The harness world rotation of joint j is G_j = C Q_j C^T S_j: Q_j the world rotation of its source
    joint, C = BVH_TO_HARNESS, and S_j the shortest rotation from the harness bone's rest direction
    (rest_joints[child] - rest_joints[j], for the joint's child along the limb) to the source bone's rest
    direction (in harness axes); S_j = I for the pelvis and the head (whose rest frames already agree:
    both face forward with the same left); a leaf driven by its parent's source joint (foot ball, hand)
    keeps its parent's rotation. Local rotations are G_parent^T G_j. The root translation
    puts the harness pelvis where the source root is, scaled by the leg-length ratio; the floor
    rule of `truth_motions.settle` then stands the feet on Z = 0. KeyError naming the joint when the
    take lacks a source joint of RETARGET_MAP (another skeleton's names need their own map).
    """
    _, glob = bvh_forward_kinematics(take)
    bones = source_bone_vectors(take)
    c = BVH_TO_HARNESS
    # the child that continues each harness limb/spine bone (spine3 -> neck, pelvis: none)
    along = {"spine1": "spine2", "spine2": "spine3", "spine3": "neck", "neck": "head",
             "left_hip": "left_knee", "left_knee": "left_ankle", "left_ankle": "left_foot",
             "right_hip": "right_knee", "right_knee": "right_ankle", "right_ankle": "right_foot",
             "left_collar": "left_shoulder", "left_shoulder": "left_elbow", "left_elbow": "left_wrist",
             "left_wrist": "left_hand", "right_collar": "right_shoulder", "right_shoulder": "right_elbow",
             "right_elbow": "right_wrist", "right_wrist": "right_hand"}
    index = {name: i for i, name in enumerate(joint_names)}
    n = len(glob)
    world = np.zeros((n, len(joint_names), 3, 3))
    for name, j in index.items():  # parents come before children in the harness's joint order
        source = RETARGET_MAP[name]
        parent = parents[j]
        if parent >= 0 and name not in along and RETARGET_MAP[joint_names[parent]] == source:
            world[:, j] = world[:, parent]  # a leaf on its parent's source joint (foot ball, hand)
            continue
        q = c @ glob[:, take.index(source)] @ c.T
        if name in along:
            rest_dir = rest_joints[index[along[name]]] - rest_joints[j]
            fix = _shortest_rotation(rest_dir, c @ bones[source])
        else:
            fix = np.eye(3)
        world[:, j] = q @ fix
    local = np.zeros_like(world)
    for j, p in enumerate(parents):
        local[:, j] = world[:, j] if p < 0 else np.swapaxes(world[:, p], -1, -2) @ world[:, j]
    rotvecs = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(n, len(joint_names), 3)
    harness_leg = (np.linalg.norm(rest_joints[index["left_knee"]] - rest_joints[index["left_hip"]])
                   + np.linalg.norm(rest_joints[index["left_ankle"]] - rest_joints[index["left_knee"]]))
    scale = harness_leg / leg_length(take)
    transl = scale * take.root_positions @ c.T - rest_joints[0]
    return rotvecs, transl
