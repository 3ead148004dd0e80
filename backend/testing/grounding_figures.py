"""Figures for the grounding stage, shared by its tests and bench/bench_grounding.py (not production code)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..body.landmarks_def import SMPL_TO_LANDMARK
from ..geometry.camera import project
from ..geometry.skeleton import forward_kinematics
from ..pipeline import grounding
from .gait_synth import SyntheticClip, add_mediapipe_like_noise

#: Landmarks at least this visible count in the reprojection error.
VISIBLE = 0.5


def f1_score(predicted: np.ndarray, truth: np.ndarray) -> float:
    tp = int((predicted & truth).sum())
    fp = int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    return 2.0 * tp / max(2 * tp + fp + fn, 1)


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def synthetic_figures(clip: SyntheticClip, seed: int = 0, **ground_kwargs: Any) -> dict[str, Any]:
    """Run the stage on a noisy copy of `clip` and measure it against the clip's truth.

    skate: cm per frame along the true floor of foot points during the true contacts (before and
    after locking); penetration: cm the locked feet go below their resting level on the estimated
    floor (the floor the add-on stands them on); upper_body_mm: largest change of any joint above the hips.
    """
    poses, transl = add_mediapipe_like_noise(clip, seed=seed)
    result = grounding.ground_motion(poses, transl, clip.rest_joints, clip.fps, **ground_kwargs)
    before = forward_kinematics(poses, clip.rest_joints, transl)
    after = forward_kinematics(result.poses, clip.rest_joints, result.transl)
    floor = result.floor
    level = floor.levels[list(grounding.CONTACT_CLASS)]
    heights = floor.heights(after[:, grounding.CONTACT_IDS]) - level
    figures = {
        "f1": f1_score(result.contacts, clip.contacts),
        "up_error_deg": angle_deg(floor.up, clip.up),
        "ground_used": result.meta["ground_used"],
        "skate_before_cm": 100 * grounding.foot_skate(before, clip.contacts, clip.up),
        "skate_after_cm": 100 * grounding.foot_skate(after, clip.contacts, clip.up),
        "penetration_cm": 100 * max(0.0, -float(heights.min())),
        "upper_body_mm": 1000 * float(np.abs(after[:, grounding.UPPER_BODY] - before[:, grounding.UPPER_BODY]).max()),
        "camera": floor.camera_angles(),
        "lock": result.meta.get("lock", {}),
        "warnings": result.warnings,
        "contacts": result.contacts,
        "before": before,
        "after": after,
    }
    return figures


def reprojection_error(joints: np.ndarray, landmarks2d: np.ndarray, bboxes: np.ndarray, focal_length: float,
                       image_size: tuple[int, int]) -> float:
    """Mean pixel distance of the posed joints to their visible 2D landmarks, as a fraction of box height."""
    ids = list(SMPL_TO_LANDMARK)
    pixels = project(joints[:, ids], focal_length, image_size)
    target = landmarks2d[:, [SMPL_TO_LANDMARK[j] for j in ids]]
    visible = target[..., 2] >= VISIBLE
    error = np.linalg.norm(pixels - target[..., :2], axis=-1) / np.maximum(bboxes[:, 3:4], 1.0)
    return float(error[visible].mean())


def real_clip_figures(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Locking on vs off for a motion file written with `--foot-lock off`.

    With locking off the stage leaves poses and translation unchanged, so running it here on the
    file's poses, with the floor the run used (`file_floor`), gives what `backend run` (locking on) writes.
    """
    fps = float(arrays["fps"])
    rest = arrays["rest_joints"].astype(np.float64)
    poses, transl = arrays["poses"].astype(np.float64), arrays["transl"].astype(np.float64)
    result = grounding.ground_motion(poses, transl, rest, fps, chosen_floor=file_floor(arrays))
    off = forward_kinematics(poses, rest, transl)
    on = forward_kinematics(result.poses, rest, result.transl)
    focal, size = float(arrays["focal_length"]), tuple(int(v) for v in arrays["image_size"])
    reproj_off = reprojection_error(off, arrays["landmarks2d"], arrays["bboxes"], focal, size)
    reproj_on = reprojection_error(on, arrays["landmarks2d"], arrays["bboxes"], focal, size)
    skate_off = grounding.foot_skate(off, result.contacts, result.floor.up)
    skate_on = grounding.foot_skate(on, result.contacts, result.floor.up)
    return {
        "frames": len(poses), "fps": fps, "ground_used": result.meta["ground_used"],
        "camera": result.floor.camera_angles(), "contact_frames": result.meta["contact_frames"],
        "reprojection_off_pct": 100 * reproj_off, "reprojection_on_pct": 100 * reproj_on,
        "reprojection_rise_pct": 100 * (reproj_on - reproj_off),
        "skate_off_cm": 100 * skate_off, "skate_on_cm": 100 * skate_on,
        "skate_drop_pct": 100 * (1 - skate_on / skate_off) if skate_off > 0 else 0.0,
        "lock": result.meta.get("lock", {}), "warnings": result.warnings, "result": result,
    }


def file_floor(arrays: dict[str, np.ndarray]) -> grounding.FloorChoice | None:
    """The floor plane a motion file was grounded on (its `floor_plane` and the levels in its meta),
    as `grounding.choose_floor` returns it; None when the file has no plane (the stage then finds
    its constant floor again from the same poses)."""
    import json

    if "floor_plane" not in arrays:
        return None
    meta = json.loads(str(arrays["meta"]))["grounding"]
    plane = np.asarray(arrays["floor_plane"], np.float64)
    floor = grounding.Floor(up=plane[:3], offset=float(plane[3]), levels=np.asarray(meta["floor"]["levels_m"], float),
                            kind="plane", quality=dict(meta["floor"]["quality"]))
    return floor, meta["ground_used"], dict(meta["floor"]["quality"]), []
