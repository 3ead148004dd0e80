"""CMU mocap takes (BVH and ASF/AMC, read straight from the local git mirrors) -> 12 limb joint positions
at 30 fps.

Prototype for issue 8 (a temporal 2D->3D lifter as the fit's 3D prior). The BVH text is parsed here
(hierarchy, channels) and the forward kinematics is numpy: a joint's world rotation is its parent's
times its local rotation (channels applied intrinsically in file order), its position is the parent's
plus the parent's world rotation applied to the joint's OFFSET. CMU's own ASF/AMC files are parsed here
too (`asf_amc_positions`, the Acclaim convention).

Sources (all CMU takes; subject 11 never read):
- `cc_`: DragonForgedTheArtist/IClone-CMU-Mocap, subjects 1-7 retargeted to an iClone CC skeleton (60 fps,
  cm; its forearm is as long as its upper arm, the CMU subjects' own is 0.70-0.77 of it);
- `dz_`: lawrennd/mocap, three DAZ-skeleton takes (frame 0 is a T-pose, cut as a glitch);
- `amc_`: cyun9601/CMU-MOCAP-Data, CMU's ASF/AMC of subjects 1-3 (120 fps), only the 13 takes whose
  BVH the IClone mirror lacks (01_02-07, 01_09-13, 03_03, 03_04); the subjects' own proportions;
- `mx_`: yuki-koyama/bvh11, subject 131 (3ds Max-friendly BVH conversion, scaled to metres);
- `li_`: chaneyddtt/Convolutional-Sequence-to-Sequence-Model-for-Human-Dynamics (Li et al., CVPR 2018;
  repository MIT), CMU takes of many subjects as exponential maps on one fixed CMU skeleton, 120 fps:
  walking, running, jumping, basketball, basketball signals, directing traffic, washing a window. Its
  `soccer` takes are skipped: CMU subject 11 (the harness's kick) may be among them.
Takes are cut at capture glitches (`split_glitches`).

Data: CMU Graphics Lab Motion Capture Database. "The data used in this project was obtained from
mocap.cs.cmu.edu. The database was created with funding from NSF EIA-0196217." Nothing of it is
stored in the repository; the cache written by `main` lives under /tmp.

Output joints (LIMB_JOINTS order, the harness's SMPL ids 1, 2, 4, 5, 7, 8, 16..21): left/right hip,
knee, ankle, shoulder, elbow, wrist, in metres, in the BVH world (Y up).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.geometry.skeleton import axis_angle_to_matrix  # noqa: E402

CC_MIRROR = Path("/work/.mirror/DragonForgedTheArtist+IClone-CMU-Mocap/repo")
LAWRENCE_MIRROR = Path("/work/.mirror/lawrennd+mocap/repo")
#: Harness SMPL joint ids of the 12 limb joints, the order used throughout bench/lifter.
SMPL_IDS = (1, 2, 4, 5, 7, 8, 16, 17, 18, 19, 20, 21)
CC_NAMES = ("L_Thigh", "R_Thigh", "L_Calf", "R_Calf", "L_Foot", "R_Foot",
            "L_Upperarm", "R_Upperarm", "L_Forearm", "R_Forearm", "L_Hand", "R_Hand")
DAZ_NAMES = ("lThigh", "rThigh", "lShin", "rShin", "lFoot", "rFoot",
             "lShldr", "rShldr", "lForeArm", "rForeArm", "lHand", "rHand")
#: lawrennd files with the DAZ skeleton; 11_01 (the harness's held-out clip) and subject 11 are excluded.
LAWRENCE_FILES = ("10_01", "10_03", "14_19")
#: ASF/AMC (CMU's own format) of subjects 01-03 (cyun9601/CMU-MOCAP-Data); only the takes whose BVH
#: blobs the IClone mirror lacks are read, so no take is counted twice.
ASF_MIRROR = Path("/work/.mirror/cyun9601+CMU-MOCAP-Data/repo")
ASF_DIR = "data/CMU/asfamc/subjects"
#: ASF bones whose END is each limb joint (hip joint centre = end of the pelvis->hip bone, shoulder =
#: end of the clavicle, i.e. the glenohumeral joint, wrist = end of the radius), in LIMB_JOINTS order.
ASF_ENDS = ("lhipjoint", "rhipjoint", "lfemur", "rfemur", "ltibia", "rtibia",
            "lclavicle", "rclavicle", "lhumerus", "rhumerus", "lradius", "rradius")
#: CMU's ASF length unit: 0.45 of an inch (mocap.cs.cmu.edu FAQ) -> metres.
ASF_METRES = 2.54 / 100.0 / 0.45
#: yuki-koyama/bvh11 (MIT): CMU subject 131 in the 3ds Max-friendly BVH conversion, scaled to metres.
MAX_MIRROR = Path("/work/.mirror/yuki-koyama+bvh11/repo")
MAX_FILES = ("131_01", "131_02", "131_03")
#: Li et al.'s CMU motion-prediction set: `<split>/<action>/<action>_<n>.txt`, one frame per line: the root's
#: position (3 values, ASF units, stored z, y, x), then an exponential map per joint (38 x 3), radians.
LI_MIRROR = Path("/work/.mirror/chaneyddtt+Convolutional-Sequence-to-Sequence-Model-for-Human-Dynamics/repo")
LI_SKIP_ACTIONS = ("soccer",)
#: Its skeleton (facts from the repository's src/forward_kinematics_cmu.py): parent of each of the 38 joints
#: and each joint's offset from its parent (ASF units, parent's frame). The set drops the thorax bone (its
#: offset is 0 and the clavicles hang from the upper back), which leaves hip-to-shoulder 0.39 m against
#: 0.50 m in CMU's own skeletons; `LI_THORAX` puts it back (the upper back's length, 2.06 units).
LI_PARENTS = (-1, 0, 1, 2, 3, 4, 5, 0, 7, 8, 9, 10, 11, 0, 13, 14, 15, 16, 17, 18, 15,
              20, 21, 22, 23, 24, 25, 23, 27, 15, 29, 30, 31, 32, 33, 34, 32, 36)
LI_OFFSETS = np.array([
    0, 0, 0, 0, 0, 0, 1.65674, -1.80282, 0.62477, 2.5972, -7.13576, 0, 2.49236, -6.8477, 0,
    0.19704, -0.54136, 2.14581, 0, 0, 1.11249, 0, 0, 0, -1.6107, -1.80282, 0.62476, -2.59502, -7.12977, 0,
    -2.4678, -6.78024, 0, -0.23024, -0.63258, 2.13368, 0, 0, 1.11569, 0, 0, 0, 0.01961, 2.0545, -0.14112,
    0.01021, 2.06436, -0.05921, 0, 0, 0, 0.00713, 1.56711, 0.14968, 0.03429, 1.56041, -0.10006,
    0.01305, 1.6256, -0.05265, 0, 0, 0, 3.54205, 0.90436, -0.17364, 4.86513, 0, 0, 3.35554, 0, 0,
    0, 0, 0, 0.66117, 0, 0, 0.53306, 0, 0, 0, 0, 0, 0.5412, 0, 0.5412, 0, 0, 0,
    -3.49802, 0.75994, -0.32616, -5.02649, 0, 0, -3.36431, 0, 0, 0, 0, 0, -0.73041, 0, 0,
    -0.58887, 0, 0, 0, 0, 0, -0.59786, 0, 0.59786]).reshape(38, 3)
LI_THORAX = 2.06
#: LIMB_JOINTS in its 38 joints: hip centres (ends of the hip bones), knees, ankles, shoulders (ends of the
#: clavicles), elbows, wrists (ends of the radii).
LI_JOINTS = (2, 8, 3, 9, 4, 10, 21, 30, 22, 31, 23, 32)
MAX_NAMES = ("LeftHip", "RightHip", "LeftKnee", "RightKnee", "LeftAnkle", "RightAnkle",
             "LeftShoulder", "RightShoulder", "LeftElbow", "RightElbow", "LeftWrist", "RightWrist")


def git_show(repo: Path, path: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{path}"], check=True,
                          capture_output=True, text=True).stdout


def parse_bvh(text: str):
    """-> names, parents, offsets [J,3], channel lists, motion [F, C] (floats), frame_time."""
    head, motion = text.split("MOTION", 1)
    tokens = head.split()
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    i = 0
    pending_end = False
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            names.append(tokens[i + 1])
            parents.append(stack[-1] if stack else -1)
            offsets.append(None)
            channels.append([])
            i += 2
        elif tok == "End":
            pending_end = True
            i += 2
        elif tok == "{":
            stack.append(-2 if pending_end else len(names) - 1)
            pending_end = False
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            if stack and stack[-1] >= 0 and offsets[stack[-1]] is None:
                offsets[stack[-1]] = [float(v) for v in tokens[i + 1:i + 4]]
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            channels[stack[-1]] = tokens[i + 2:i + 2 + n]
            i += 2 + n
        else:
            i += 1
    # parents recorded via the stack hold the joint index of the enclosing '{'
    frames = int(re.search(r"Frames:\s*(\d+)", motion).group(1))
    frame_time = float(re.search(r"Frame Time:\s*([\d.eE+-]+)", motion).group(1))
    body = motion.split("Frame Time:", 1)[1].split("\n", 1)[1]
    data = np.array(body.split(), dtype=np.float64)
    width = sum(len(c) for c in channels)
    data = data[: (len(data) // width) * width].reshape(-1, width)[:frames]
    return names, np.array(parents), np.array(offsets, float), channels, data, frame_time


def axis_rotations(axis: str, deg: np.ndarray) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    r = np.zeros((len(a), 3, 3))
    k = "XYZ".index(axis)
    i, j = [(1, 2), (2, 0), (0, 1)][k]
    r[:, k, k] = 1.0
    r[:, i, i] = c
    r[:, j, j] = c
    r[:, i, j] = -s
    r[:, j, i] = s
    return r


def joint_positions(text: str, wanted: tuple[str, ...], suffix_match: bool = False) -> tuple[np.ndarray, float]:
    """World positions [F, len(wanted), 3] (file units) of the named joints, and the frame time."""
    names, parents, offsets, channels, data, frame_time = parse_bvh(text)
    index = []
    for w in wanted:
        hits = [k for k, n in enumerate(names) if (n.endswith("_Base_" + w) if suffix_match else n == w)]
        if not hits:
            raise KeyError(w)
        index.append(hits[0])
    needed: set[int] = set()
    for k in index:
        while k >= 0:
            needed.add(k)
            k = parents[k]
    starts = np.cumsum([0] + [len(c) for c in channels])
    f = len(data)
    rot = {}
    pos = {}
    for k in sorted(needed):  # parents come before children in file order
        local = np.broadcast_to(np.eye(3), (f, 3, 3)).copy()
        trans = np.zeros((f, 3))
        for c, ch in enumerate(channels[k]):
            col = data[:, starts[k] + c]
            if ch.endswith("rotation"):
                local = local @ axis_rotations(ch[0].upper(), col)
            elif ch.endswith("position"):
                trans[:, "XYZ".index(ch[0].upper())] = col
        p = parents[k]
        if p < 0:
            rot[k], pos[k] = local, trans + offsets[k]
        else:
            rot[k] = rot[p] @ local
            pos[k] = pos[p] + rot[p] @ offsets[k]
    return np.stack([pos[k] for k in index], axis=1), frame_time


def euler_xyz(deg: np.ndarray) -> np.ndarray:
    """[F, 3] angles about x, y, z (degrees) -> [F, 3, 3] = Rz @ Ry @ Rx (x applied first), the
    Acclaim ASF/AMC convention for both a bone's `axis` and its motion channels."""
    return axis_rotations("Z", deg[:, 2]) @ axis_rotations("Y", deg[:, 1]) @ axis_rotations("X", deg[:, 0])


def parse_asf(text: str) -> dict:
    """ASF skeleton -> {"bones": {name: {"direction", "length", "axis", "dofs"}}, "children": {name: [...]},
    "root_order": [...], "root_axis": [3] deg}. Only what forward kinematics needs is kept."""
    bones: dict[str, dict] = {}
    children: dict[str, list[str]] = {}
    root_order: list[str] = []
    root_axis = np.zeros(3)
    section = ""
    bone: dict | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            parts = line.split()
            section = parts[0][1:].lower()
            continue
        parts = line.split()
        key = parts[0].lower()
        if section == "root":
            if key == "order":
                root_order = [p.upper() for p in parts[1:]]
            elif key == "orientation":
                root_axis = np.array([float(v) for v in parts[1:4]])
            elif key == "axis" and parts[1].upper() != "XYZ":
                raise ValueError(f"root axis order {parts[1]} is not XYZ")
        elif section == "bonedata":
            if key == "begin":
                bone = {"direction": np.zeros(3), "length": 0.0, "axis": np.zeros(3), "dofs": []}
            elif key == "end" and bone is not None:
                bones[bone["name"]] = bone
                bone = None
            elif bone is not None and key == "name":
                bone["name"] = parts[1]
            elif bone is not None and key == "direction":
                bone["direction"] = np.array([float(v) for v in parts[1:4]])
            elif bone is not None and key == "length":
                bone["length"] = float(parts[1])
            elif bone is not None and key == "axis":
                if parts[4].upper() != "XYZ":  # every CMU file says XYZ; others would need their order
                    raise ValueError(f"bone axis order {parts[4]} is not XYZ")
                bone["axis"] = np.array([float(v) for v in parts[1:4]])
            elif bone is not None and key == "dof":
                bone["dofs"] = [p.lower() for p in parts[1:]]
        elif section == "hierarchy" and key not in ("begin", "end"):
            children.setdefault(parts[0], []).extend(parts[1:])
    return {"bones": bones, "children": children, "root_order": root_order, "root_axis": root_axis}


def parse_amc(text: str, channels: dict[str, int]) -> dict[str, np.ndarray]:
    """AMC motion -> {bone: [F, n channels]} for the bones named in `channels` (name -> count)."""
    rows: dict[str, list[list[float]]] = {name: [] for name in channels}
    started = False
    for raw in text.splitlines():
        line = raw.strip()
        if not started:
            started = line.upper() == ":DEGREES"
            continue
        if not line or line.isdigit():  # a frame number
            continue
        parts = line.split()
        if parts[0] in rows:
            rows[parts[0]].append([float(v) for v in parts[1:]])
    frames = min(len(v) for v in rows.values())
    return {name: np.array(v[:frames], float).reshape(frames, channels[name]) for name, v in rows.items()}


def asf_amc_positions(asf_text: str, amc_text: str, wanted_ends: tuple[str, ...]) -> np.ndarray:
    """World positions [F, len(wanted_ends), 3] (ASF units) of the END of each named bone.

    A bone's world rotation is its parent's times C M C^T, where C is its `axis` frame and M its motion
    (rx, ry, rz channels, Rz Ry Rx); its end is its start (the parent's end, or the root) plus that
    rotation applied to direction * length (the direction is in the skeleton's global rest frame)."""
    skel = parse_asf(asf_text)
    bones, children = skel["bones"], skel["children"]
    channels = {"root": len(skel["root_order"])}
    channels.update({name: len(b["dofs"]) for name, b in bones.items() if b["dofs"]})
    motion = parse_amc(amc_text, channels)
    f = len(motion["root"])
    root_vals = dict(zip(skel["root_order"], motion["root"].T))
    root_pos = np.stack([root_vals.get(k, np.zeros(f)) for k in ("TX", "TY", "TZ")], axis=1)
    root_rot_deg = np.stack([root_vals.get(k, np.zeros(f)) for k in ("RX", "RY", "RZ")], axis=1)
    c_root = euler_xyz(skel["root_axis"][None])[0]
    rot = {"root": c_root @ euler_xyz(root_rot_deg) @ c_root.T}
    end = {"root": root_pos}
    queue = ["root"]
    while queue:
        parent = queue.pop(0)
        for name in children.get(parent, []):
            b = bones[name]
            angles = np.zeros((f, 3))
            for k, dof in enumerate(b["dofs"]):
                angles[:, "xyz".index(dof[1])] = motion[name][:, k] if dof[0] == "r" else 0.0
            c = euler_xyz(b["axis"][None])[0]
            rot[name] = rot[parent] @ (c @ euler_xyz(angles) @ c.T)
            end[name] = end[parent] + rot[name] @ (b["direction"] * b["length"])
            queue.append(name)
    return np.stack([end[w] for w in wanted_ends], axis=1)


def li_positions(frames: np.ndarray) -> np.ndarray:
    """Li et al.'s frames [F, 117] -> the 12 limb joints [F, 12, 3] in metres, Y up (ASF world).

    Forward kinematics in their row-vector form: a joint's rotation is its own exponential map's matrix
    times its parent's; its position is (offset) times the parent's rotation plus the parent's position.
    """
    offsets = LI_OFFSETS.copy()
    for joint in (16, 20, 29):  # the thorax bone, rigid on the upper back (see LI_THORAX)
        offsets[joint] = offsets[joint] + (0.0, LI_THORAX, 0.0)
    rot = axis_angle_to_matrix(frames[:, 3:].reshape(-1, 38, 3))
    world_rot = np.empty_like(rot)
    pos = np.empty((len(frames), 38, 3))
    for joint, parent in enumerate(LI_PARENTS):
        if parent < 0:
            world_rot[:, joint] = rot[:, joint]
            pos[:, joint] = offsets[joint] + frames[:, 2::-1][:, :3]
            continue
        world_rot[:, joint] = rot[:, joint] @ world_rot[:, parent]
        pos[:, joint] = np.einsum("j,fjk->fk", offsets[joint], world_rot[:, parent]) + pos[:, parent]
    return pos[:, list(LI_JOINTS)] * ASF_METRES


def resample_30(x: np.ndarray, frame_time: float) -> np.ndarray:
    step = max(1, int(round((1.0 / 30.0) / frame_time)))
    return x[::step]


#: A limb joint that moves more than this (m) relative to the mid-hip between two 30 fps frames is a capture
#: glitch (CMU 01_06 has a knee jumping 0.61 m); a kicking foot moves about 0.25 m.
GLITCH_STEP = 0.35


def split_glitches(takes: dict[str, np.ndarray], min_frames: int = 30) -> dict[str, np.ndarray]:
    """Cut each take at its glitch frames, keeping the pieces of at least `min_frames`."""
    out: dict[str, np.ndarray] = {}
    for key, x in takes.items():
        rel = x - 0.5 * (x[:, 0:1] + x[:, 1:2])
        bad = np.flatnonzero(np.linalg.norm(np.diff(rel, axis=0), axis=-1).max(axis=1) > GLITCH_STEP) + 1
        if len(bad) == 0:
            out[key] = x
            continue
        pieces = np.split(x, bad)
        kept = [p for p in pieces if len(p) >= min_frames]
        print(f"{key}: glitches at frames {bad.tolist()}, kept {sum(len(p) for p in kept)} of {len(x)} frames")
        for n, p in enumerate(kept):
            out[f"{key}_{n}"] = p
    return out


def report_bones(takes: dict[str, np.ndarray]) -> None:
    """Median bone lengths (m) and frames per source: the new skeletons must put the same anatomical
    joints at the ends of each bone as the old ones (hip centres, glenohumeral shoulders, wrists)."""
    pairs = {"thigh": (0, 2), "shin": (2, 4), "upper arm": (6, 8), "forearm": (8, 10), "hips": (0, 1),
             "shoulders": (6, 7)}
    print("source  frames  " + "  ".join(pairs) + "  forearm/upper arm")
    for source in sorted({k.split("_", 1)[0] for k in takes}):
        xs = [x for k, x in takes.items() if k.startswith(source + "_")]
        both = np.concatenate(xs)
        lengths = {n: float(np.median(np.linalg.norm(both[:, i] - both[:, j], axis=-1))) for n, (i, j) in pairs.items()}
        print(f"{source:6s} {len(both):7d}  " + "  ".join(f"{v:.3f}" for v in lengths.values())
              + f"  {lengths['forearm'] / lengths['upper arm']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/lifter_mocap.npz")
    args = ap.parse_args()
    takes: dict[str, np.ndarray] = {}
    listing = subprocess.run(["git", "-C", str(CC_MIRROR), "ls-tree", "-r", "--name-only", "HEAD",
                              "All_BVH/subjects/"], check=True, capture_output=True, text=True).stdout.split()
    for path in sorted(p for p in listing if p.endswith(".bvh")):
        try:
            text = git_show(CC_MIRROR, path)
        except subprocess.CalledProcessError:  # the mirror lacks some blobs
            print(path, "missing from the mirror", flush=True)
            continue
        xyz, ft = joint_positions(text, CC_NAMES, suffix_match=True)
        xyz = resample_30(xyz[1:], ft) / 100.0  # frame 0 is an added T-pose; cm -> m
        takes["cc_" + Path(path).stem] = xyz.astype(np.float32)
        print(path, ft, xyz.shape, flush=True)
    for stem in LAWRENCE_FILES:
        xyz, ft = joint_positions(git_show(LAWRENCE_MIRROR, f"python/files/{stem}.bvh"), DAZ_NAMES)
        # DAZ-converted CMU takes are in inches... scaled below to a 1.0 m leg (hip-knee-ankle) like the rest
        takes["dz_" + stem] = resample_30(xyz, ft).astype(np.float32)
        print(stem, ft, xyz.shape, flush=True)
    for subject in ("01", "02", "03"):
        listing = subprocess.run(["git", "-C", str(ASF_MIRROR), "ls-tree", "--name-only", "HEAD",
                                  f"{ASF_DIR}/{subject}/"], check=True, capture_output=True, text=True).stdout.split()
        asf = git_show(ASF_MIRROR, f"{ASF_DIR}/{subject}/{subject}.asf")
        for path in sorted(p for p in listing if p.endswith(".amc")):
            stem = Path(path).stem  # "01_02"
            if f"cc_0{stem}" in takes:  # already read from the BVH mirror
                continue
            xyz = asf_amc_positions(asf, git_show(ASF_MIRROR, path), ASF_ENDS) * ASF_METRES
            takes["amc_0" + stem] = resample_30(xyz, 1.0 / 120.0).astype(np.float32)  # CMU captured at 120 fps
            print(path, xyz.shape, flush=True)
    for stem in MAX_FILES:
        xyz, ft = joint_positions(git_show(MAX_MIRROR, f"resources/scaled_{stem}.bvh"), MAX_NAMES)
        takes["mx_" + stem] = resample_30(xyz, ft).astype(np.float32)  # already in metres
        print(stem, ft, xyz.shape, flush=True)
    listing = subprocess.run(["git", "-C", str(LI_MIRROR), "ls-tree", "-r", "--name-only", "HEAD", "data/cmu_mocap/"],
                             check=True, capture_output=True, text=True).stdout.split()
    for path in sorted(p for p in listing if p.endswith(".txt")):
        split, action = Path(path).parts[-3:-1]
        if action in LI_SKIP_ACTIONS:
            continue
        try:
            text = git_show(LI_MIRROR, path)
        except subprocess.CalledProcessError:  # the mirror lacks some blobs
            print(path, "missing from the mirror", flush=True)
            continue
        frames = np.array([[float(v) for v in line.split(",")] for line in text.splitlines() if line.strip()])
        takes[f"li_{split}_{Path(path).stem}"] = resample_30(li_positions(frames), 1.0 / 120.0).astype(np.float32)
    for key, xyz in takes.items():  # report leg lengths to check units
        leg = np.linalg.norm(xyz[:, 0] - xyz[:, 2], axis=-1) + np.linalg.norm(xyz[:, 2] - xyz[:, 4], axis=-1)
        if key.startswith("dz_"):
            takes[key] = (xyz * (0.9 / np.median(leg))).astype(np.float32)
        print(key, "leg", float(np.median(leg)))
    takes = split_glitches(takes)
    report_bones(takes)
    np.savez(args.out, **takes)


if __name__ == "__main__":
    main()
