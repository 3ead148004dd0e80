"""Training STR as its paper does (sec. 3.1), on converted TCMR/VIBE databases of precomputed features.

- windows of T = 16 consecutive frames of one video; the target is the window's output frame T//2;
- the SMPL regressor starts from SPIN's (`spin_model_checkpoint.pth.tar`, "we initialize the backbone
  and regressor with the pre-trained SPIN"; the backbone is SPIN's through the precomputed features);
- losses and weights: `losses.py` (TCMR's); optimiser, schedule and checkpoints: `loop.py`;
- validation: every frame of every validation video that has a full window (as TCMR evaluates),
  MPJPE / PA-MPJPE on hip-centred joints and acceleration error,
  plus the mean-pose baseline (training set's mean pose and shape for every frame) for reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..body.smpl_model import load_smpl_layer, smpl_forward
from ..core.errors import BackendError, ErrorCode
from ..models.heads.rotation import rot6d_to_rotmat
from ..models.temporal.str_net import FORMAT, FORMAT_VERSION, STR, STRConfig
from ..models.windows import batches
from .datasets import SequenceArrays
from .loop import group_windows, index_windows, save_trained
from .losses import (
    LossWeights,
    accel_error_mm,
    axis_angle_to_matrix,
    centre,
    clips_accel_mm,
    joint_sets,
    mpjpe_mm,
    procrustes_align,
    smpl_losses,
)

REGRESSOR_KEYS = ("fc1.", "fc2.", "decpose.", "decshape.", "deccam.", "init_pose", "init_shape", "init_cam")


def init_regressor_from_spin(model: STR, spin_path: Path) -> None:
    """Copy SPIN's regressor (fc1..deccam and the mean parameters) into STR's, strictly."""
    from ..models.checkpoints import load_checkpoint, load_state, unwrap

    what = "the SPIN checkpoint (spin_model_checkpoint.pth.tar)"
    state = unwrap(load_checkpoint(spin_path), "model", spin_path, what)
    selected = {k: v for k, v in state.items() if k.startswith(REGRESSOR_KEYS)}
    load_state(model.regressor, selected, spin_path, what)


def default_regressor_init(model: STR) -> None:
    """Without SPIN (test sizes): SPIN's own initialisation (output layers xavier, gain 0.01) and a neutral mean:
    every joint at identity, the root turned 180 degrees about x (upright in the y-down camera), cam (0.9, 0, 0)."""
    reg = model.regressor
    for layer in (reg.decpose, reg.decshape, reg.deccam):
        nn.init.xavier_uniform_(layer.weight, gain=0.01)
        nn.init.zeros_(layer.bias)
    pose = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(24)
    pose[:6] = torch.tensor([1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
    reg.init_pose.copy_(pose[None])
    reg.init_cam.copy_(torch.tensor([[0.9, 0.0, 0.0]]))


def save_str(model: STR, path: Path, epoch: int, metrics: dict[str, float]) -> None:
    """Our STR file (README, 'STR checkpoint'): plain tensors and numbers, read with weights_only=True."""
    save_trained(model, path, FORMAT, FORMAT_VERSION, epoch, metrics)


class STRTask:
    """The STR model, its data and its metrics, for `loop.train`."""

    name = "str"

    def __init__(self, train: SequenceArrays | list[SequenceArrays], val: SequenceArrays | None, smpl_dir: Path,
                 config: STRConfig, spin: Path | None, device: str, val_batch: int = 64) -> None:
        """`train`: one converted database or several (the paper trains on several), sampled by window."""
        self.train_dbs = train if isinstance(train, list) else [train]
        self.val_db, self.config, self.spin, self.device = val, config, spin, device
        self.layer = load_smpl_layer(smpl_dir, device)
        self.n_joints = int(self.train_dbs[0].meta["joints"])
        joint_sets(self.n_joints)  # refuses an unsupported joint layout before any work
        for db in self.train_dbs:
            if int(db.meta["joints"]) != self.n_joints:
                raise BackendError(ErrorCode.BAD_ARGUMENT, f"{db.folder} has {db.meta['joints']} joints, "
                                                           f"{self.train_dbs[0].folder} {self.n_joints}: convert "
                                                           "databases of one joint layout")
        self.starts, self.start_db = index_windows(self.train_dbs, config.seq_len)
        self.val_batch = val_batch
        self.weights = LossWeights()
        self._baseline: dict[str, float] | None = None

    def describe(self) -> dict[str, Any]:
        return {"model": "str", "config": self.config.to_dict(), "train_frames": [len(db) for db in self.train_dbs],
                "spin_init": self.spin is not None}

    def build(self) -> STR:
        model = STR(self.config)
        if self.spin is not None:
            init_regressor_from_spin(model, self.spin)
        else:
            default_regressor_init(model)
        return model

    def n_windows(self) -> int:
        return len(self.starts)

    # ------------------------------------------------------------------ data
    def _targets(self, db: SequenceArrays, rows: np.ndarray) -> dict[str, torch.Tensor]:
        j2d = db.rows(rows, "joints2D").copy()
        if "bbox" in db.arrays:  # pixels -> the crop's [-1, 1] frame (VIBE normalises the same way)
            box = db.rows(rows, "bbox")
            j2d[..., 0] = (j2d[..., 0] - box[:, None, 0]) / (box[:, None, 2] / 2)
            j2d[..., 1] = (j2d[..., 1] - box[:, None, 1]) / (box[:, None, 3] / 2)
        out = {"pose": db.rows(rows, "pose"), "shape": db.rows(rows, "shape"),
               "joints3D": db.rows(rows, "joints3D"), "joints2D": j2d}
        return {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in out.items()}

    def _predict(self, model: STR, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                  torch.Tensor]:
        pose6d, betas, cam = model(feats)
        rot = rot6d_to_rotmat(pose6d).view(-1, 24, 3, 3)
        _, joints = smpl_forward(self.layer, rot, betas)
        return rot, betas, cam, joints

    def batch_loss(self, model: nn.Module, windows: np.ndarray) -> dict[str, torch.Tensor]:
        length = self.config.seq_len
        rows, parts, batch_order = group_windows(windows, self.starts, self.start_db, self.train_dbs, length)
        feats = torch.cat([torch.from_numpy(db.rows(rows[at], "features")) for at, db in parts]).to(self.device)
        targets = [self._targets(db, rows[at, length // 2]) for at, db in parts]
        order = torch.from_numpy(batch_order).to(self.device)
        feats = feats[order]  # back to the batch's own order (one database: the identity)
        target = {k: torch.cat([t[k] for t in targets])[order] for k in targets[0]}
        rot, betas, cam, joints = self._predict(model, feats)  # type: ignore[arg-type]
        return smpl_losses(rot, betas, joints, cam, target["pose"], target["shape"], target["joints3D"],
                           target["joints2D"], self.n_joints, self.weights)

    # ------------------------------------------------------------------ validation
    def _gt_and_mean(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Training set's mean rotation per joint (projected back onto SO(3)) and mean betas, streamed in chunks."""
        rot_sum, shape_sum, n = torch.zeros(24, 3, 3, dtype=torch.float64), torch.zeros(10, dtype=torch.float64), 0
        for db in self.train_dbs:
            for part in batches(len(db), 4096):
                pose = torch.from_numpy(np.array(db.arrays["pose"][part], np.float32))
                rot_sum += axis_angle_to_matrix(pose.view(-1, 24, 3)).double().sum(0)
                shape_sum += torch.from_numpy(np.array(db.arrays["shape"][part], np.float64)).sum(0)
                n += len(pose)
        u, _, vt = torch.linalg.svd(rot_sum / n)
        rot = u @ vt
        rot = torch.where(torch.det(rot)[:, None, None] < 0, u @ torch.diag(torch.tensor([1.0, 1, -1],
                                                                                         dtype=torch.float64)) @ vt,
                          rot)
        return rot.float(), (shape_sum / n).float()

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """MPJPE, PA-MPJPE (mm) and acceleration error (mm/frame^2) on the validation videos; {} without them."""
        if self.val_db is None:
            return {}
        db_rows, smpl_rows, hips = joint_sets(self.n_joints)
        preds, gts, base, accels = [], [], [], []
        mean_rot, mean_shape = self._gt_and_mean()
        with torch.inference_mode():
            _, mean_joints = smpl_forward(self.layer, mean_rot[None].to(self.device), mean_shape[None].to(self.device))
            mean_joints = centre(mean_joints[:, smpl_rows], hips).cpu().numpy()
            for a, b in self.val_db.sequences:
                if b - a < self.config.seq_len:
                    continue
                # frames with a full window only, as TCMR's evaluation (edge frames' static windows are a demo device)
                mid = self.config.seq_len // 2
                starts = np.arange(a, b - self.config.seq_len + 1)
                rows = starts[:, None] + np.arange(self.config.seq_len)[None]
                seq_pred = []
                for part in batches(len(rows), self.val_batch):
                    feats = torch.from_numpy(self.val_db.rows(rows[part], "features")).to(self.device)
                    _, _, _, joints = self._predict(model, feats)  # type: ignore[arg-type]
                    seq_pred.append(centre(joints[:, smpl_rows], hips).cpu().numpy())
                pred = np.concatenate(seq_pred)
                gt = centre(torch.from_numpy(self.val_db.rows(starts + mid, "joints3D")[:, db_rows]), hips).numpy()
                preds.append(pred)
                gts.append(gt)
                base.append(np.broadcast_to(mean_joints, gt.shape))
                accels.append((accel_error_mm(pred, gt), b - a))
        if not preds:
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"--val {self.val_db.folder}: no video has "
                                                       f"{self.config.seq_len} consecutive frames")
        pred, gt, mean = np.concatenate(preds), np.concatenate(gts), np.concatenate(base)
        accel = clips_accel_mm(accels)
        if self._baseline is None:
            self._baseline = {"baseline_mpjpe_mm": mpjpe_mm(mean, gt),
                              "baseline_pa_mpjpe_mm": mpjpe_mm(procrustes_align(mean, gt), gt)}
        return {"mpjpe_mm": mpjpe_mm(pred, gt), "pa_mpjpe_mm": mpjpe_mm(procrustes_align(pred, gt), gt),
                "accel_mm": accel, **self._baseline}

    def export(self, model: nn.Module, path: Path, epoch: int, metrics: dict[str, float]) -> None:
        save_str(model, path, epoch, metrics)  # type: ignore[arg-type]


def resolve_spin(value: str, weights_dir: Path, config: STRConfig) -> Path | None:
    """'auto': SPIN's file in the weights folder (paper's sizes; none for test sizes), 'none', or a path."""
    if value == "none":
        return None
    if value == "auto":
        if config.fusion != 2048:
            return None
        path = weights_dir / "spin_model_checkpoint.pth.tar"
    else:
        path = Path(value).expanduser()
    if config.fusion != 2048:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--spin {value}: SPIN's regressor reads 2048-d features; "
                                                   f"this configuration has fusion {config.fusion}")
    if not path.is_file():
        raise BackendError(ErrorCode.WEIGHTS_MISSING,
                           f"STR starts from SPIN's regressor: {path} is missing. It is TCMR's "
                           "data/base_data/spin_model_checkpoint.pth.tar (README, 'Models and weights'); "
                           "put it in the weights folder or pass --spin PATH (or --spin none to start from scratch)")
    return path
