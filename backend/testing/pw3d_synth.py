"""A synthetic dataset in 3DPW's published layout, for tests: sequence pickles and JPEG image folders.

`write_3dpw(root, smpl_layer, ...)` writes `root/sequenceFiles/<split>/<sequence>.pkl` (protocol-2
pickles of the keys 3DPW's readme lists: per-actor `poses` [N, 72] and `trans` [N, 3] in a y-up world
frame, `betas`, `jointPositions` [N, 72], `poses2d` [N, 3, 18], `campose_valid`, `genders`; per
sequence `cam_poses` [N, 4, 4] world -> camera, `cam_intrinsics`, `img_frame_ids`, `sequence`) and
`root/imageFiles/<sequence>/image_{i:05d}.jpg`. Bodies come from the synthetic SMPL model; each image
shows the projected skeleton (each bone its own colour, over a noisy grey background), so a network
can learn the pose from the pixels.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..geometry.skeleton import PARENTS, axis_angle_to_matrix

IMAGE_SIZE = (240, 320)  # width, height (3DPW's videos are portrait too)
N_BASIS = 8
#: COCO-18 (OpenPose order) rows from SMPL joints, for the layout of `poses2d` only.
COCO18_FROM_SMPL = np.array([15, 12, 17, 19, 21, 16, 18, 20, 2, 5, 8, 1, 4, 7, 15, 15, 15, 15])


def _camera(n: int, rng: np.random.Generator) -> np.ndarray:
    """[n, 4, 4] world -> camera: y-up world to y-down camera, a slow pan, the body 3.5-4.5 m away."""
    yaw = rng.uniform(-0.3, 0.3) + 0.002 * np.arange(n)
    flip = np.diag([1.0, -1.0, -1.0])  # world y up, looking along -z  ->  camera y down, z forward
    out = np.zeros((n, 4, 4))
    for i, a in enumerate(yaw):
        turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        out[i, :3, :3] = flip @ turn
        out[i, :3, 3] = [rng.normal(0, 0.02), 0.1, 4.0]
    out[:, 3, 3] = 1
    return out


def make_sequence(smpl_layer: Any, name: str, n_frames: int, n_actors: int, seed: int,
                  family_seed: int = 11) -> tuple[dict[str, Any], list[np.ndarray]]:
    """(the sequence dict as 3DPW stores it, the RGB images [H, W, 3] uint8)."""
    from ..body.smpl_model import smpl_forward

    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(family_seed).normal(0, 0.3, (N_BASIS, 72))
    t = np.arange(n_frames)[:, None]
    cam = _camera(n_frames, rng)
    width, height = IMAGE_SIZE
    focal = 300.0
    k = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1.0]])
    data: dict[str, Any] = {"sequence": name, "poses": [], "trans": [], "betas": [], "jointPositions": [],
                            "poses2d": [], "campose_valid": [], "genders": [], "cam_poses": cam,
                            "cam_intrinsics": k, "img_frame_ids": np.arange(n_frames) * 2}
    pixels_all = []
    for actor in range(n_actors):
        amp = rng.uniform(0.3, 1.0, (1, N_BASIS))
        freq = rng.uniform(0.01, 0.04, (1, N_BASIS))
        phase = rng.uniform(0, 2 * np.pi, (1, N_BASIS))
        pose = (amp * np.sin(2 * np.pi * freq * t + phase)) @ basis
        pose[:, :3] = np.stack([0.1 * np.sin(0.05 * t[:, 0]), 0.8 * np.sin(0.03 * t[:, 0] + rng.uniform(0, 6)),
                                0.05 * np.cos(0.04 * t[:, 0])], axis=1)  # upright in the y-up world, turning
        betas = rng.normal(0, 0.8, 10)
        trans = np.stack([0.6 * (actor - (n_actors - 1) / 2) + 0.1 * np.sin(0.02 * t[:, 0]),
                          0.9 + 0 * t[:, 0], 0.2 * np.cos(0.02 * t[:, 0])], axis=1)
        with torch.inference_mode():
            rot = torch.from_numpy(axis_angle_to_matrix(pose.reshape(-1, 24, 3))).float()
            _, joints = smpl_forward(smpl_layer, rot, torch.from_numpy(betas).float()[None].expand(n_frames, -1))
        world = joints.double().numpy() + trans[:, None]
        in_cam = np.einsum("nij,nkj->nki", cam[:, :3, :3], world) + cam[:, None, :3, 3]
        pix = in_cam[..., :2] / in_cam[..., 2:3] * focal + k[:2, 2]
        coco = np.concatenate([pix[:, COCO18_FROM_SMPL], np.ones((n_frames, 18, 1))], axis=-1)
        valid = np.ones(n_frames, bool)
        valid[rng.integers(0, n_frames)] = False  # 3DPW marks frames whose camera pose is not aligned
        data["poses"].append(pose)
        data["trans"].append(trans)
        data["betas"].append(np.concatenate([betas, np.zeros(290)]))  # the files hold 300 betas; 10 are used
        data["jointPositions"].append(world.reshape(n_frames, 72))
        data["poses2d"].append(coco.transpose(0, 2, 1))
        data["campose_valid"].append(valid)
        data["genders"].append("m" if actor % 2 == 0 else "f")
        pixels_all.append(pix)
    images = [render(rng, [p[i] for p in pixels_all]) for i in range(n_frames)]
    return data, images


def render(rng: np.random.Generator, skeletons: list[np.ndarray]) -> np.ndarray:
    """One RGB image: every skeleton's bones as thick lines of fixed per-bone colours, joints as dots."""
    width, height = IMAGE_SIZE
    image = np.clip(rng.normal(110, 12, (height, width, 3)), 0, 255).astype(np.uint8)
    colours = (np.random.default_rng(5).uniform(40, 255, (24, 3))).astype(int)
    for pix in skeletons:
        for j in range(1, 24):
            a, b = pix[PARENTS[j]], pix[j]
            cv2.line(image, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), tuple(int(c) for c in colours[j]), 4,
                     cv2.LINE_AA)
        for j in range(24):
            cv2.circle(image, (int(pix[j, 0]), int(pix[j, 1])), 3, (255, 255, 255), -1, cv2.LINE_AA)
    return image


def write_3dpw(root: Path, smpl_layer: Any, split: str, n_sequences: int, n_frames: int, seed: int,
               two_actors_in_first: bool = True) -> Path:
    """The dataset in 3DPW's folder layout under `root`; returns `root`."""
    root = Path(root)
    folder = root / "sequenceFiles" / split
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(n_sequences):
        name = f"synthetic_{split}_{seed}_{s:02d}"
        actors = 2 if (two_actors_in_first and s == 0) else 1
        data, images = make_sequence(smpl_layer, name, n_frames, actors, seed * 1000 + s)
        (folder / f"{name}.pkl").write_bytes(pickle.dumps(data, protocol=2))
        image_dir = root / "imageFiles" / name
        image_dir.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            cv2.imwrite(str(image_dir / f"image_{i:05d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 92])
    return root
