"""Training TAR (sec. 3.4) on converted image sequences (3DPW's layout, `convert-dataset 3DPW_DIR OUT_DIR`).

- windows of T = 9 consecutive images of one track, whose mid-frame has a valid camera pose; the
  model estimates the mid-frame only and only it is supervised ("our model only estimate the
  parameters at the mid-frame of the sequence");
- crops as at inference: a square of 1.2 x the box's longer side (ReFit's box scale) around its centre,
  `crop_size` pixels; the camera is the sequence's own intrinsics (3DPW publishes them);
- loss: `losses.refinement_loss`, on the initial estimate and each of the 5 RRM updates, weighted
  gamma^(L-l), gamma = 0.85: L2 on rotation matrices and betas, pelvis-centred 3D joints, and 2D joints
  in the crop's [-1, 1] frame projected with the full-image camera (CLIFF/ReFit);
- start: ReFit's checkpoint (`refit_all/checkpoint_best.pth.tar`; every key but GTE's and LTE's, which are
  listed), or, for test sizes, random weights with a neutral mean pose;
- optimiser (not in the paper): ReFit's, Adam at 1e-4 with the gradient norm clipped at 4.0
  (`configs/config.yaml` TRAIN.LR, CLIP_NORM); the shared loop does the rest (`loop.py`);
- validation: every frame of every validation track that has a full window, MPJPE / PA-MPJPE (mm) on
  the 24 SMPL joints, pelvis-centred, and the acceleration error (mm/frame^2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..body.smpl_model import load_smpl_layer, smpl_forward
from ..body.smpl_subset import SmplVertexSubset
from ..core.errors import BackendError, ErrorCode
from ..models.heads.refit import MARKER_VERTICES, CropCamera, Estimate
from ..models.tar import REFIT_CHECKPOINT, refit_init
from ..models.temporal.tar_net import FORMAT, FORMAT_VERSION, TAR, TARConfig, neutral_mean_
from ..models.windows import batches
from .image_sequences import ImageSequences
from .loop import group_windows, index_windows, save_trained
from .losses import (
    HIPS_SMPL,
    RefinementWeights,
    accel_error_mm,
    centre,
    clips_accel_mm,
    mpjpe_mm,
    procrustes_align,
    refinement_loss,
)

BOX_SCALE = 1.2  # ReFit's dilate factor on the box (refit_notes.md, "Box to centre and scale")
LEARNING_RATE = 1e-4  # ReFit TRAIN.LR (the TAR paper gives none)
CLIP_NORM = 4.0  # ReFit TRAIN.CLIP_NORM
BATCH = 8  # windows per step (not in the paper): 72 crops, about ReFit's 64 images a step


def camera_for(db: ImageSequences, rows: np.ndarray, crop_size: int, device: str) -> CropCamera:
    """The crops' cameras: box centre, side 1.2 x max(w, h), focal (fx + fy) / 2, principal point (pixels)."""
    box = db.rows(rows, "bbox").astype(np.float32)
    focal = db.rows(rows, "focal").astype(np.float32).mean(axis=1)

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(device)

    return CropCamera(tensor(box[:, :2]), tensor(np.maximum(box[:, 2], box[:, 3]) * BOX_SCALE), tensor(focal),
                      tensor(db.rows(rows, "princpt")), crop_size=crop_size)


def crop_coordinates(pixels: torch.Tensor, camera: CropCamera) -> torch.Tensor:
    """Full-image pixels [B, J, 2] -> the crop's [-1, 1] frame (x right, y down)."""
    return (pixels - camera.center[:, None]) / (camera.side[:, None, None] / 2)


def save_tar(model: TAR, path: Path, epoch: int, metrics: dict[str, float], init: str) -> None:
    """Our TAR file (README, 'TAR'): plain tensors and numbers, read with weights_only=True; `init` is what
    training started from ("refit" or "random")."""
    save_trained(model, path, FORMAT, FORMAT_VERSION, epoch, metrics, init=init)


class TARTask:
    """The TAR model, its image sequences and metrics, for `loop.train`."""

    name = "tar"

    def __init__(self, train: ImageSequences | list[ImageSequences], val: ImageSequences | None, smpl_dir: Path,
                 config: TARConfig, refit: Path | None, device: str, val_batch: int = 8) -> None:
        """`train`: one converted dataset or several (the paper mixes several), sampled by window."""
        self.train_dbs = train if isinstance(train, list) else [train]
        self.val_db, self.config, self.refit, self.device = val, config, refit, device
        self.layer = load_smpl_layer(smpl_dir, device)
        self.markers = SmplVertexSubset(self.layer, MARKER_VERTICES).to(device)
        self.starts, self.start_db = index_windows(self.train_dbs, config.seq_len)
        self.val_batch = val_batch
        self.weights = RefinementWeights()
        self.uninitialised: list[str] = []

    def describe(self) -> dict[str, Any]:
        return {"model": "tar", "config": self.config.to_dict(), "train_frames": [len(db) for db in self.train_dbs],
                "refit_init": self.refit is not None}

    def build(self) -> TAR:
        if self.refit is not None:
            model, self.uninitialised = refit_init(self.refit, self.config)
            return model
        model = TAR(self.config)
        neutral_mean_(model)
        return model

    def n_windows(self) -> int:
        return len(self.starts)

    def _vertices(self, rot: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """ReFit's 67 marker vertices only (`SmplVertexSubset`: the full layer's values, far cheaper)."""
        return self.markers(rot, betas)

    def _decode(self, estimate: Estimate, camera: CropCamera) -> dict[str, torch.Tensor]:
        """Rotations, betas, SMPL joints (body frame) and their 2D projection in the crop's [-1, 1] frame."""
        rot = estimate.rotmat()
        _, joints = smpl_forward(self.layer, rot, estimate.shape)
        pixels = camera.to_crop(joints, estimate.cam)
        half = camera.crop_size / 2
        return {"rotmat": rot, "betas": estimate.shape, "joints3d": joints, "joints2d": (pixels - half) / half}

    def _window_data(self, db: ImageSequences, rows: np.ndarray) -> tuple[torch.Tensor, CropCamera,
                                                                           dict[str, torch.Tensor]]:
        """Crops [B, T, 3, S, S] of windows `rows` [B, T] of one dataset, the mid-frames' cameras and ground truth
        (pose, betas, joints3D, joints2D in the crop's [-1, 1] frame with their confidence)."""
        cfg = self.config
        mid = rows[:, cfg.seq_len // 2]
        img = torch.from_numpy(db.crops(rows, BOX_SCALE, cfg.crop_size)).to(self.device)
        camera = camera_for(db, mid, cfg.crop_size, self.device)
        gt = {k: torch.from_numpy(np.ascontiguousarray(db.rows(mid, k), np.float32)).to(self.device)
              for k in ("pose", "betas", "joints3D", "joints2D")}
        gt["joints2D"] = torch.cat([crop_coordinates(gt["joints2D"][..., :2], camera), gt["joints2D"][..., 2:]], -1)
        return img, camera, gt

    def batch_loss(self, model: nn.Module, windows: np.ndarray) -> dict[str, torch.Tensor]:
        rows, parts, batch_order = group_windows(windows, self.starts, self.start_db, self.train_dbs,
                                                 self.config.seq_len)
        data = [self._window_data(db, rows[at]) for at, db in parts]
        order = torch.from_numpy(batch_order).to(self.device)
        img = torch.cat([d[0] for d in data])[order]  # back to the batch's own order (one dataset: the identity)
        camera = CropCamera(*(torch.cat([getattr(d[1], f) for d in data])[order]
                              for f in ("center", "side", "focal", "principal")), crop_size=self.config.crop_size)
        gt = {k: torch.cat([d[2][k] for d in data])[order] for k in data[0][2]}
        iterations = [self._decode(e, camera) for e in model(img, camera, self._vertices)]
        return refinement_loss(iterations, gt["pose"], gt["betas"], gt["joints3D"], gt["joints2D"], self.weights)

    # ------------------------------------------------------------------ validation
    def predict_track(self, model: TAR, db: ImageSequences, start: int, stop: int) -> np.ndarray:
        """Pelvis-centred SMPL joints [n, 24, 3] of the track's frames that have a full window (n = len - T + 1)."""
        cfg = self.config
        span = model.local_span()
        z_all, corr_all = [], []
        for part in batches(stop - start, 16):
            crops = torch.from_numpy(db.crops(np.arange(start + part.start, start + part.stop), BOX_SCALE,
                                              cfg.crop_size)).to(self.device)
            z, corr = model.frame_features(crops)
            z_all.append(z)
            corr_all.append(corr)
        z_seq, corr_seq = torch.cat(z_all), torch.cat(corr_all)
        n = stop - start - cfg.seq_len + 1
        out = []
        for part in batches(n, self.val_batch):
            first = np.arange(part.start, part.stop)
            rows = first[:, None] + np.arange(cfg.seq_len)[None]
            camera = camera_for(db, start + rows[:, cfg.seq_len // 2], cfg.crop_size, self.device)
            rows_t = torch.from_numpy(rows).to(self.device)
            est = model.forward_windows(z_seq[rows_t], corr_seq[rows_t[:, span]], camera, self._vertices)[-1]
            _, joints = smpl_forward(self.layer, est.rotmat(), est.shape)
            out.append(centre(joints, HIPS_SMPL).cpu().numpy())
        return np.concatenate(out)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """MPJPE, PA-MPJPE (mm) and acceleration error (mm/frame^2) on the validation tracks; {} without them."""
        if self.val_db is None:
            return {}
        length, mid = self.config.seq_len, self.config.seq_len // 2
        preds, gts, accels = [], [], []
        with torch.inference_mode():
            for a, b in self.val_db.sequences:
                if b - a < length:
                    continue
                pred = self.predict_track(model, self.val_db, a, b)  # type: ignore[arg-type]
                frames = np.arange(a + mid, b - (length - 1 - mid))
                gt = centre(torch.from_numpy(self.val_db.rows(frames, "joints3D").astype(np.float32)),
                            HIPS_SMPL).numpy()
                keep = np.asarray(self.val_db.arrays["valid"])[frames]
                preds.append(pred[keep])
                gts.append(gt[keep])
                accels.append((accel_error_mm(pred, gt), len(gt)))
        if not preds or not sum(len(p) for p in preds):
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"--val {self.val_db.folder}: no track has {length} "
                                                       "consecutive images with a valid mid-frame")
        pred, gt = np.concatenate(preds), np.concatenate(gts)
        accel = clips_accel_mm(accels)
        return {"mpjpe_mm": mpjpe_mm(pred, gt), "pa_mpjpe_mm": mpjpe_mm(procrustes_align(pred, gt), gt),
                "accel_mm": accel}

    def export(self, model: nn.Module, path: Path, epoch: int, metrics: dict[str, float]) -> None:
        save_tar(model, path, epoch, metrics, "refit" if self.refit is not None else "random")  # type: ignore[arg-type]


def resolve_refit(value: str, weights_dir: Path, config: TARConfig) -> Path | None:
    """'auto': ReFit's file in the weights folder (the paper's sizes; none for test sizes), 'none', or a path."""
    if value == "none":
        return None
    if value == "auto" and config.backbone != "hrnet_w48":
        return None
    if config.backbone != "hrnet_w48":
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--refit {value}: ReFit's weights fit the hrnet_w48 backbone, "
                                                   f"not --backbone {config.backbone}")
    path = weights_dir / REFIT_CHECKPOINT.file if value == "auto" else Path(value).expanduser()
    if not path.is_file():
        raise BackendError(ErrorCode.WEIGHTS_MISSING,
                           f"TAR starts from ReFit's weights: {path} is missing. It is {REFIT_CHECKPOINT.file} from "
                           f"{REFIT_CHECKPOINT.source}; put it in the weights folder or pass --refit PATH "
                           "(or --refit none to start from random weights)")
    return path
