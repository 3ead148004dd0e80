"""Whole-clip fitting against synthetic truth: per-frame path (`--fit off`) vs fitted, per clip (prints figures).

Clips come from `backend/testing/truth_clip.py`: an exact skeleton (1.80 m) doing a procedural motion
(walk across at 5.5 m, walk towards the camera, squat at 3.2 m, turn on the spot, run round a
circle), 90 frames at 30 fps, seen by a 1280x720 pinhole (f = 1280 px); landmarks spoiled as MediaPipe
spoils them (3 px jitter, world landmarks 15 % short with 6 cm depth noise and drifting whole-limb
depth bias, 5 % of frames with the legs' labels swapped). The per-frame path runs exactly as
`backend run --fit off` (IK, One-Euro at strength 1, translation solve); the fitted one as `--fit on`.

Figures (defined as in issue 8):
- PA-MPJPE: mean over frames of the mean joint error (14 body joints) after a per-frame similarity
  (Procrustes) alignment, mm;
- knee / elbow flexion error: mean |angle between thigh and shin (upper arm and forearm)| difference, degrees;
- limb direction error: median angle between each limb's (thighs, shins, upper arms, forearms)
  direction and the truth's, camera frame, degrees;
- acceleration ratio: mean joint acceleration (second difference, 14 joints) over the truth's;
- swapped legs: frames where the knees' and ankles' left-minus-right vector points against the truth's
  (truth's legs at least 5 cm apart), %;
- limb length ratio: mean over limbs of the fitted length over the true length;
- root depth error: mean |depth error - its mean| of the pelvis, m.
Usage: .venv/bin/python bench/bench_fit_synthetic.py [--height] [--seed 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.builtin import ik, rest_skeleton  # noqa: E402
from backend.builtin.translation import translation_from_landmarks  # noqa: E402
from backend.geometry import smoothing  # noqa: E402
from backend.geometry.skeleton import forward_kinematics, matrix_to_axis_angle  # noqa: E402
from backend.pipeline import fit, post  # noqa: E402
from backend.testing.truth_clip import TruthClip, make_clip, procrustes_mpjpe  # noqa: E402
from backend.tracking import lr_repair  # noqa: E402
from backend.tracking.track import Track, landmarks_bbox  # noqa: E402

BODY = [1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21]
LIMBS = ((1, 4), (2, 5), (4, 7), (5, 8), (16, 18), (17, 19), (18, 20), (19, 21))


def flexion(x: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    u, v = x[:, b] - x[:, a], x[:, c] - x[:, b]
    cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def figures(joints: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    def acc(x: np.ndarray) -> float:
        return float(np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1).mean())

    dirs = []
    for a, b in LIMBS:
        u, v = joints[:, b] - joints[:, a], truth[:, b] - truth[:, a]
        cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
        dirs.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    # Swapped legs: the knees' and ankles' left-minus-right vector (pelvis-relative) points against the
    # truth's, in frames where the truth's legs are at least 5 cm apart.
    fit_lr = joints[:, [4, 7]] - joints[:, [5, 8]]
    true_lr = truth[:, [4, 7]] - truth[:, [5, 8]]
    apart = np.linalg.norm(true_lr, axis=-1).sum(-1) > 0.10
    swapped = (np.sum(fit_lr * true_lr, axis=(-1, -2)) < 0) & apart
    depth = joints[:, 0, 2] - truth[:, 0, 2]
    lengths = [np.linalg.norm(joints[:, b] - joints[:, a], axis=-1).mean()
               / np.linalg.norm(truth[:, b] - truth[:, a], axis=-1).mean() for a, b in LIMBS]
    return {
        "pa_mpjpe_mm": 1000 * float(procrustes_mpjpe(joints[:, BODY], truth[:, BODY]).mean()),
        "knee_deg": float(np.mean([np.abs(flexion(joints, *t) - flexion(truth, *t)).mean()
                                   for t in ((1, 4, 7), (2, 5, 8))])),
        "elbow_deg": float(np.mean([np.abs(flexion(joints, *t) - flexion(truth, *t)).mean()
                                    for t in ((16, 18, 20), (17, 19, 21))])),
        "limb_dir_deg": float(np.median(np.concatenate(dirs))),
        "accel_ratio": acc(joints[:, BODY]) / acc(truth[:, BODY]),
        "swapped_pct": 100 * float(swapped.mean()),
        "limb_ratio": float(np.mean(lengths)),
        "root_depth_m": float(np.abs(depth - depth.mean()).mean()),
    }


def run(clip: TruthClip, height: float | None) -> tuple[dict, dict, float]:
    n = len(clip.poses)
    valid = np.ones(n, bool)
    rest = rest_skeleton.from_landmarks(clip.world, clip.landmarks2d[..., 2], valid)
    # --fit off: IK on the landmarks as MediaPipe gave them.
    local = ik.solve(clip.world.astype(float), rest)
    track = Track(0, np.arange(n, dtype=np.int32), valid, landmarks_bbox(clip.landmarks2d),
                  clip.landmarks2d.astype(np.float32), clip.world.astype(np.float32), clip.image_size)
    poses = post.smooth_poses(matrix_to_axis_angle(local), clip.fps, 1.0)
    transl = smoothing.smooth_translation(translation_from_landmarks(
        matrix_to_axis_angle(local), rest.joints, track.landmarks2d, clip.focal_length, clip.image_size), clip.fps, 1.0)
    before = figures(forward_kinematics(poses, rest.joints, transl), clip.joints)
    # --fit on: left/right repair, IK, fit.
    started = time.perf_counter()
    repaired = lr_repair.repair(clip.landmarks2d, clip.world, valid)
    local = ik.solve(repaired.world.astype(float), rest)
    track = Track(0, np.arange(n, dtype=np.int32), valid, landmarks_bbox(repaired.landmarks2d), repaired.landmarks2d,
                  repaired.world, clip.image_size)
    start = translation_from_landmarks(matrix_to_axis_angle(local), rest.joints, track.landmarks2d, clip.focal_length,
                                       clip.image_size)
    result = fit.fit_clip(fit.FitInput(local, start, rest, repaired.landmarks2d, repaired.world.astype(float), valid,
                                       clip.focal_length, clip.image_size, clip.fps), stature_m=height)
    seconds = time.perf_counter() - started
    after = figures(forward_kinematics(result.poses, result.rest.joints, result.transl), clip.joints)
    return before, after, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", action="store_true", help="give the fit the true stature (1.80 m)")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    print(f"{'clip':<13} {'path':<9} PA-MPJPE  knee  elbow  limb-dir  accel  swapped  limb-len  root-depth  fit s")
    for kind, pitch in (("walk_across", 0.0), ("walk_towards", 15.0), ("squat", 20.0), ("turn", 0.0),
                        ("run_circle", 10.0)):
        clip = make_clip(kind, n=90, stature_m=1.80, pitch_deg=pitch, seed=args.seed)
        before, after, seconds = run(clip, 1.80 if args.height else None)
        for label, row, extra in (("fit off", before, ""), ("fit on", after, f"{seconds:5.2f}")):
            print(f"{kind:<13} {label:<9} {row['pa_mpjpe_mm']:6.1f} mm {row['knee_deg']:5.1f} {row['elbow_deg']:5.1f}"
                  f"  {row['limb_dir_deg']:6.1f}   {row['accel_ratio']:5.2f}x {row['swapped_pct']:5.1f} %"
                  f"   {row['limb_ratio']:5.3f}    {row['root_depth_m']:6.3f} m   {extra}")


if __name__ == "__main__":
    main()
