"""Synthetic TCMR/VIBE sequence databases for tests: the published array layout, a learnable signal.

Written with `joblib.dump` as VIBE's `lib/data_utils/*_utils.py` write `*_db.pt`: a dict of arrays
`features` [N, 2048] float32, `pose` [N, 72], `shape` [N, 10], `joints3D` [N, 49, 3] (SPIN's 49
joints, metres), `joints2D` [N, 49, 3] (pixels + confidence), `bbox` [N, 4] (cx, cy, w, h),
`vid_name` [N] (str), `frame_id` [N] (int), `img_name` [N] (str), `valid` [N].

Bodies come from the synthetic SMPL model (`smpl_synth`): each video has one random shape and a
smooth pose: sinusoids of random frequency and phase on an 8-d pose basis shared by every database
of a seed family (so a validation video is new motion from the same distribution), the root
upright in the y-down camera. Features are random
but carry the pose: ReLU(W [rot6d; betas] + b) with one fixed random W for every database of a
seed family, plus noise, so a model can learn the pose from them and beat the mean pose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

#: SMPL joint written to each of SPIN's 49 rows (25 OpenPose, then 24 "GT"); the limb rows 25..36
#: are exact (what training compares), the others are the nearest SMPL joint (layout only).
SPIN49_FROM_SMPL = np.array([
    15, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 15, 15, 15, 15, 10, 10, 7, 11, 11, 8,  # OpenPose 25
    8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, 15, 0, 9, 6, 12, 15, 15, 15, 15, 15, 15,  # GT 24
])


N_BASIS = 8  # poses move in a shared 8-d subspace: human poses lie near a low-dimensional manifold


def _rot6d(rot: torch.Tensor) -> torch.Tensor:
    return rot[..., :2].reshape(*rot.shape[:-2], 6)  # columns b1, b2 interleaved as rot6d_to_rotmat reads them


def make_database(smpl_layer: Any, n_videos: int, n_frames: int, seed: int, family_seed: int = 7,
                  noise: float = 0.05) -> dict[str, np.ndarray]:
    from ..body.smpl_model import smpl_forward
    from ..training.losses import axis_angle_to_matrix, project

    rng = np.random.default_rng(seed)
    family = np.random.default_rng(family_seed)
    weight = family.normal(0, 1 / np.sqrt(154), (154, 2048)).astype(np.float32) * 2.0
    bias = family.normal(0, 0.1, 2048).astype(np.float32)
    basis = family.normal(0, 0.25, (N_BASIS, 72)).astype(np.float32)  # shared by the family's videos
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("features", "pose", "shape", "joints3D", "joints2D", "bbox",
                                                        "vid_name", "frame_id", "img_name", "valid")}
    t = np.arange(n_frames)[:, None]
    for video in range(n_videos):
        amp = rng.uniform(0.3, 1.0, (1, N_BASIS))
        freq = rng.uniform(0.005, 0.02, (1, N_BASIS))  # cycles per frame: 1.5-6 s periods at 25-30 fps
        phase = rng.uniform(0, 2 * np.pi, (1, N_BASIS))
        pose = ((amp * np.sin(2 * np.pi * freq * t + phase)) @ basis).astype(np.float32)
        pose[:, :3] *= 0.3
        pose[:, 0] += np.pi  # upright in the camera frame (y down)
        betas = np.repeat(rng.normal(0, 0.8, (1, 10)).astype(np.float32), n_frames, axis=0)
        with torch.inference_mode():
            rot = axis_angle_to_matrix(torch.from_numpy(pose).view(-1, 24, 3))
            _, joints = smpl_forward(smpl_layer, rot, torch.from_numpy(betas))
            cam = torch.from_numpy(np.stack([0.9 + 0.05 * np.sin(0.05 * t[:, 0]), 0.05 * np.cos(0.03 * t[:, 0]),
                                             0.1 + 0.02 * np.sin(0.04 * t[:, 0])], axis=1).astype(np.float32))
            crop2d = project(joints, cam).numpy()
            code = torch.cat([_rot6d(rot).reshape(n_frames, -1), torch.from_numpy(betas)], dim=1).numpy()
        joints = joints.numpy()
        box = np.stack([500 + 40 * np.sin(0.02 * t[:, 0]), 400 + 0 * t[:, 0], 300 + 0 * t[:, 0],
                        300 + 0 * t[:, 0]], axis=1).astype(np.float32)
        pixels = np.concatenate([box[:, None, :2] + crop2d * box[:, None, 2:] / 2, np.ones_like(crop2d[..., :1])],
                                axis=-1)
        features = np.maximum(code @ weight + bias, 0) + noise * rng.standard_normal((n_frames, 2048))
        out["features"].append(features.astype(np.float32))
        out["pose"].append(pose)
        out["shape"].append(betas)
        out["joints3D"].append(joints[:, SPIN49_FROM_SMPL].astype(np.float32))
        out["joints2D"].append(pixels[:, SPIN49_FROM_SMPL].astype(np.float32))
        out["bbox"].append(box)
        name = f"synthetic_{seed}_{video:03d}"
        out["vid_name"].append(np.array([name] * n_frames))
        out["frame_id"].append(np.arange(n_frames, dtype=np.int64))
        out["img_name"].append(np.array([f"{name}/image_{i:05d}.jpg" for i in range(n_frames)]))
        out["valid"].append(np.ones(n_frames, dtype=np.float64))
    return {k: np.concatenate(v) for k, v in out.items()}


def write_database(path: Path, data: dict[str, np.ndarray], compress: int = 0) -> Path:
    """`joblib.dump` as the published `*_db.pt` files are written."""
    import joblib

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(data, path, compress=compress)
    return path
