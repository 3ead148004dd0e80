"""CMU mocap takes (BVH, read straight from the local git mirrors) -> 12 limb joint positions at 30 fps.

Prototype for issue 8 (a temporal 2D->3D lifter as the fit's 3D prior). The BVH text is parsed here
(hierarchy, channels) and the forward kinematics is numpy: a joint's world rotation is its parent's
times its local rotation (channels applied intrinsically in file order), its position is the parent's
plus the parent's world rotation applied to the joint's OFFSET.

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
from pathlib import Path

import numpy as np

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


def resample_30(x: np.ndarray, frame_time: float) -> np.ndarray:
    step = max(1, int(round((1.0 / 30.0) / frame_time)))
    return x[::step]


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
    for key, xyz in takes.items():  # report leg lengths to check units
        leg = np.linalg.norm(xyz[:, 0] - xyz[:, 2], axis=-1) + np.linalg.norm(xyz[:, 2] - xyz[:, 4], axis=-1)
        if key.startswith("dz_"):
            takes[key] = (xyz * (0.9 / np.median(leg))).astype(np.float32)
        print(key, "leg", float(np.median(leg)))
    np.savez(args.out, **takes)


if __name__ == "__main__":
    main()
