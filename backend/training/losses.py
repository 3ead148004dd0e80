"""Losses and metrics shared by the temporal models' training (STR, TAR).

Loss (STR sec. 2.5: L2 on 3D joints, 2D joints, pose and shape; weights not given): TCMR's,
`configs/repr_table4_3dpw_model.yaml` in TCMR_RELEASE: KP_3D_W 300, KP_2D_W 300, POSE_W 60,
SHAPE_W 0.06. Terms as VIBE/TCMR compute them: MSE of hip-centred 3D joints (metres), confidence-
weighted MSE of 2D joints in the crop's [-1, 1] frame, MSE of the 24 rotation matrices, MSE of betas.

Joints: SMPL's layer gives 24 joints; the databases store SPIN's 49 (25 OpenPose + 24 "GT").
Without SPIN's extra joint regressor the 12 limb joints of the GT set (rows 25..36: ankles, knees,
hips, wrists, elbows, shoulders) are compared with SMPL's joints of the same name; a 24-joint
database is compared joint for joint. The pelvis is the mid-point of the two hips (as VIBE/TCMR).
2D: the prediction is projected as VIBE's `projection`: a pinhole of focal 5000 px on a 224 px crop,
camera (s, tx, ty) -> translation (tx, ty, 2*5000/(224 s)), divided by 112.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

#: SMPL joint index for each of SPIN's GT joints 25..36 (R/L ankle, knee, hip; R/L wrist, elbow, shoulder).
SPIN49_LIMBS = np.arange(25, 37)
SMPL_FOR_SPIN49 = np.array([8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20])
#: Within the compared set: the two hips (their mid-point is the pelvis).
HIPS_LIMB = (2, 3)
HIPS_SMPL = (2, 1)


@dataclass(frozen=True)
class LossWeights:
    """TCMR_RELEASE configs/repr_table4_3dpw_model.yaml, LOSS section."""

    kp_3d: float = 300.0
    kp_2d: float = 300.0
    pose: float = 60.0
    shape: float = 0.06


def joint_sets(n_joints: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """(database rows, SMPL rows, hip positions within them) compared for a database with n_joints."""
    if n_joints == 49:
        return SPIN49_LIMBS, SMPL_FOR_SPIN49, HIPS_LIMB
    if n_joints == 24:
        return np.arange(24), np.arange(24), HIPS_SMPL
    raise ValueError(f"joint sets of {n_joints} joints are not supported (49 SPIN or 24 SMPL)")


def centre(joints: torch.Tensor, hips: tuple[int, int]) -> torch.Tensor:
    return joints - 0.5 * (joints[..., hips[0]:hips[0] + 1, :] + joints[..., hips[1]:hips[1] + 1, :])


def project(joints: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """Joints [B, J, 3] (model frame) and weak-perspective cam [B, 3] -> crop coordinates [B, J, 2] in [-1, 1]."""
    depth = 2 * 5000.0 / (224.0 * cam[:, 0:1] + 1e-9)
    shifted = joints + torch.cat([cam[:, 1:3], depth], dim=1)[:, None]
    return shifted[..., :2] / shifted[..., 2:3] * 5000.0 / 112.0


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """[..., 3] -> [..., 3, 3] (Rodrigues)."""
    angle = aa.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    axis = aa / angle
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).view(*aa.shape[:-1], 3, 3)
    s, c = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + s * k + (1 - c) * (k @ k)


def smpl_losses(pred_rot: torch.Tensor, pred_betas: torch.Tensor, pred_joints: torch.Tensor, cam: torch.Tensor,
                gt_pose: torch.Tensor, gt_betas: torch.Tensor, gt_j3d: torch.Tensor, gt_j2d: torch.Tensor,
                n_joints: int, weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """Weighted loss terms and their sum under 'loss'.

    pred_rot [B, 24, 3, 3], pred_betas [B, 10], pred_joints [B, 24, 3] (SMPL), cam [B, 3];
    gt_pose [B, 72] axis-angle, gt_betas [B, 10], gt_j3d [B, J, 3] metres, gt_j2d [B, J, 3] crop x, y, conf.
    """
    db_rows, smpl_rows, hips = joint_sets(n_joints)
    p3 = centre(pred_joints[:, smpl_rows], hips)
    g3 = centre(gt_j3d[:, db_rows], hips)
    p2 = project(pred_joints[:, smpl_rows], cam)
    g2, conf = gt_j2d[:, db_rows, :2], gt_j2d[:, db_rows, 2:3]
    gt_rot = axis_angle_to_matrix(gt_pose.view(-1, 24, 3))
    terms = {
        "kp_3d": weights.kp_3d * ((p3 - g3) ** 2).mean(),
        "kp_2d": weights.kp_2d * (conf * (p2 - g2) ** 2).mean(),
        "pose": weights.pose * ((pred_rot - gt_rot) ** 2).mean(),
        "shape": weights.shape * ((pred_betas - gt_betas) ** 2).mean(),
    }
    terms["loss"] = sum(terms.values())  # type: ignore[assignment]
    return terms


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity-align each pred [N, J, 3] to gt (scale, rotation, translation), as PA-MPJPE does."""
    mu_p, mu_g = pred.mean(1, keepdims=True), gt.mean(1, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    u, s, vt = np.linalg.svd(np.einsum("nji,njk->nik", p, g))
    d = np.sign(np.linalg.det(np.einsum("nij,njk->nik", u, vt)))
    s[:, -1] *= d
    u[:, :, -1] *= d[:, None]
    rot = np.einsum("nij,njk->nik", u, vt)
    scale = s.sum(1) / (p ** 2).sum((1, 2))
    return scale[:, None, None] * np.einsum("nji,nik->njk", p, rot) + mu_g


def mpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    return float(np.linalg.norm(pred - gt, axis=-1).mean() * 1000.0)


def accel_error_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean |second difference of pred - that of gt| per joint, mm/frame^2 (VIBE's compute_error_accel)."""
    if len(pred) < 3:
        return float("nan")
    acc = pred[:-2] - 2 * pred[1:-1] + pred[2:]
    acc_gt = gt[:-2] - 2 * gt[1:-1] + gt[2:]
    return float(np.linalg.norm(acc - acc_gt, axis=-1).mean() * 1000.0)


def clips_accel_mm(per_clip: list[tuple[float, int]]) -> float:
    """The acceleration error of several clips: each clip's `accel_error_mm` (mm/frame^2) weighted by its
    frame count, over the clips where it is finite (nan when it is finite for none)."""
    finite = [(e, n) for e, n in per_clip if np.isfinite(e)]
    return float(np.average([e for e, _ in finite], weights=[n for _, n in finite])) if finite else float("nan")


@dataclass(frozen=True)
class RefinementWeights:
    """TAR eq. 10-14: lambda_2D, lambda_3D, lambda_SMPL are not given in the paper; these are ReFit's
    (`configs/config.yaml` LOSS: KPT2D 5, KPT3D 5, SMPL 1; `lib/core/losses.py:smpl_losses`: pose 1, betas
    0.001), which TAR follows ("following Wang and Daniilidis [2023]"). gamma = 0.85 (TAR sec. 3.4)."""

    kp_2d: float = 5.0
    kp_3d: float = 5.0
    smpl: float = 1.0
    pose: float = 1.0
    betas: float = 0.001
    gamma: float = 0.85


def refinement_loss(iterations: list[dict[str, torch.Tensor]], gt_pose: torch.Tensor, gt_betas: torch.Tensor,
                    gt_j3d: torch.Tensor, gt_j2d: torch.Tensor,
                    weights: RefinementWeights = RefinementWeights()) -> dict[str, torch.Tensor]:
    """TAR's loss (sec. 3.4, eq. 10-14): the sum over the initial estimate and every update l = 0..L of
    gamma^(L-l) (lambda_2D L_2D + lambda_3D L_3D + lambda_SMPL L_SMPL), all on the mid-frame.

    iterations: L+1 dicts with `rotmat` [B, 24, 3, 3], `betas` [B, 10], `joints3d` [B, 24, 3] (metres,
    any origin: compared pelvis-centred, the pelvis being the mid-point of the hips as in ReFit/SPIN) and
    `joints2d` [B, 24, 2] (crop pixels normalised to [-1, 1]). Ground truth: gt_pose [B, 72] axis-angle,
    gt_betas [B, 10], gt_j3d [B, 24, 3] metres, gt_j2d [B, 24, 3] (normalised x, y, confidence).
    Returns the weighted terms summed over iterations and their total under 'loss'.
    """
    last = len(iterations) - 1
    gt_rot = axis_angle_to_matrix(gt_pose.view(-1, 24, 3))
    g3 = centre(gt_j3d, HIPS_SMPL)
    conf = gt_j2d[..., 2:3]
    totals = {"kp_2d": gt_pose.new_zeros(()), "kp_3d": gt_pose.new_zeros(()), "smpl": gt_pose.new_zeros(())}
    for level, pred in enumerate(iterations):
        w = weights.gamma ** (last - level)
        err_2d = (conf * (pred["joints2d"] - gt_j2d[..., :2]) ** 2).mean()
        err_3d = ((centre(pred["joints3d"], HIPS_SMPL) - g3) ** 2).mean()
        totals["kp_2d"] = totals["kp_2d"] + w * weights.kp_2d * err_2d
        totals["kp_3d"] = totals["kp_3d"] + w * weights.kp_3d * err_3d
        smpl = weights.pose * ((pred["rotmat"] - gt_rot) ** 2).mean() + weights.betas * (
            (pred["betas"] - gt_betas) ** 2).mean()
        totals["smpl"] = totals["smpl"] + w * weights.smpl * smpl
    totals["loss"] = totals["kp_2d"] + totals["kp_3d"] + totals["smpl"]
    return totals
