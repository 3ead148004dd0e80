"""Put the prototype lifter's 3D into kept tracks (`bench_accuracy.py --keep DIR -- --fit off`) in place
of MediaPipe's world landmarks of the 12 limb joints, as `bench_accuracy.oracle_tracks` does with the
truth, and measure the 3D evidence itself (before any fit) against the truth.

    .venv/bin/python bench/lifter/lift_tracks.py --tracks /tmp/raw_lifter --weights W --out /tmp/lifted \
        [--mode lift|blend|dirblend] [--alpha 0.5]

Modes: "lift": the lifter's mid-hip-relative positions; "blend": alpha * MediaPipe's + (1 - alpha) *
the lifter's mid-hip-relative positions; "dirblend": MediaPipe's bone lengths, each limb bone's
direction the normalised alpha-weighted mean of MediaPipe's and the lifter's unit directions (hips and
shoulders blended as positions). Everything happens in MediaPipe's crop-aligned frame, mid-hip centred.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import lifter_model as lm
import numpy as np
import torch
from mocap_data import SMPL_IDS  # noqa: E402

from backend.builtin import lifter as product  # noqa: E402  (lifter_model put the repository on the path)
from bench import accuracy_metrics as am  # noqa: E402

LANDMARKS = list(product.LIMB_LANDMARKS)
#: MediaPipe's foot and hand landmarks, each moved with its ankle or wrist: heels, foot tips, pinky/index/thumb.
CARRIED = product.CARRIED
TRUTH_DIR = lm.ROOT / "bench" / "truth"


def direction_error_deg(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """[N, bones] angle between the limb bones' directions."""
    def dirs(x):
        v = np.stack([x[:, c] - x[:, p] for p, c in lm.BONES], axis=1)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip((dirs(pred) * dirs(true)).sum(-1), -1, 1)))


def flexion_deg(x: np.ndarray) -> np.ndarray:
    """[N, 4] bend angles at the knees and elbows (0 = straight)."""
    out = []
    for a, b, c in ((0, 2, 4), (1, 3, 5), (6, 8, 10), (7, 9, 11)):
        u, v = x[:, b] - x[:, a], x[:, c] - x[:, b]
        cos = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
        out.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return np.stack(out, axis=1)


def combine(mp: np.ndarray, lifted: np.ndarray, mode: str, alpha: float) -> np.ndarray:
    """Both [N, 12, 3] mid-hip-relative in the crop-aligned frame -> the 3D to write."""
    if mode == "lift":
        return lifted
    if mode == "blend":
        return alpha * mp + (1 - alpha) * lifted
    return product.blend_limbs(mp, lifted, 1.0 - alpha)  # "dirblend": the product's blend


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=Path, default=Path("/tmp/raw_lifter"))
    ap.add_argument("--weights", type=Path, default=Path("/tmp/lifter_weights.pt"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--mode", choices=("lift", "blend", "dirblend"), default="lift")
    ap.add_argument("--alpha", type=float, default=0.5, help="MediaPipe's weight in the blends")
    ap.add_argument("--json", type=Path, help="write the before-fit 3D figures here")
    ap.add_argument("--no-carry", action="store_true",
                    help="leave MediaPipe's feet and hands where they were (as oracle_tracks does)")
    ap.add_argument("--flip", action="store_true", help="test-time mirror augmentation")
    ap.add_argument("--true-2d", action="store_true", help="diagnostic: lift the true 2D joints instead")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from backend.geometry import camera

    net = lm.load(args.weights)
    args.out.mkdir(parents=True, exist_ok=True)
    figures = {}
    print(f"{'clip':<22}{'PA12 MP':>9}{'PA12 lift':>10}{'PA12 out':>9}{'dir MP':>8}{'dir lift':>9}"
          f"{'flex MP':>8}{'flex lift':>10}")
    for kept in sorted(args.tracks.glob("*.npz")):
        with np.load(kept, allow_pickle=False) as data:
            arrays = {k: data[k].copy() for k in data.files}
        meta = json.loads(str(arrays["meta"]))
        main_id = next(p["person_id"] for p in meta["people"] if p.get("main"))
        person = [int(v) for v in arrays["people_ids"]].index(main_id)
        valid = arrays["people_valid"][person].astype(bool)
        lm2d = arrays["people_landmarks2d"][person].astype(np.float64)
        world = arrays["people_world"][person].astype(np.float64)
        px = product.fill_undetected(lm2d[:, LANDMARKS, :2], valid)
        if args.true_2d:
            with np.load(TRUTH_DIR / kept.stem / "truth.npz") as truth:
                px = truth["joints_2d"][arrays["frame_ids"].astype(int)][:, list(SMPL_IDS)].astype(np.float64)
        lifted = net.lift(lm.normalise_2d(px), flip=args.flip)
        lifted -= 0.5 * (lifted[:, 0:1] + lifted[:, 1:2])
        mp_mid = 0.5 * (world[:, 23] + world[:, 24])
        mp = world[:, LANDMARKS] - mp_mid[:, None]
        new = combine(mp, lifted, args.mode, args.alpha)
        if not args.no_carry:
            for end, followers in CARRIED.items():
                k = LANDMARKS.index(end)
                world[:, list(followers)] += (new[:, k] - mp[:, k])[:, None]
        world[:, LANDMARKS] = new + mp_mid[:, None]
        arrays["people_world"][person] = world.astype(np.float32)
        np.savez(args.out / kept.name, **arrays)
        # the 3D evidence itself against the truth, in the camera frame
        truth_path = TRUTH_DIR / kept.stem / "truth.npz"
        if not truth_path.is_file():
            continue
        with np.load(truth_path) as truth:
            true = truth["joints_cam"][arrays["frame_ids"].astype(int)][:, list(SMPL_IDS)].astype(np.float64)
        hips2d = 0.5 * (px[:, 0] + px[:, 1])
        size = (int(arrays["image_size"][0]), int(arrays["image_size"][1]))
        turn = camera.view_ray_rotation(hips2d, float(arrays["focal_length"]), size)
        true_rel = true - 0.5 * (true[:, 0:1] + true[:, 1:2])

        def to_cam(x, turn=turn):
            return np.einsum("nij,nkj->nki", turn, x)

        row = {}
        for name, x in (("mediapipe", mp), ("lifter", lifted), ("written", new)):
            cam = to_cam(x)
            v = valid
            row[name] = {
                "pa_mpjpe12_mm": float(am.pa_mpjpe(cam[v], true_rel[v], tuple(range(12))).mean() * 1000),
                "mpjpe12_rootrel_mm": float(np.linalg.norm(cam[v] - true_rel[v], axis=-1).mean() * 1000),
                "limb_dir_err_median_deg": float(np.median(direction_error_deg(cam[v], true_rel[v]))),
                "flexion_err_deg": float(np.abs(flexion_deg(cam[v]) - flexion_deg(true_rel[v])).mean()),
            }
        figures[kept.stem] = row
        print(f"{kept.stem:<22}{row['mediapipe']['pa_mpjpe12_mm']:>9.0f}{row['lifter']['pa_mpjpe12_mm']:>10.0f}"
              f"{row['written']['pa_mpjpe12_mm']:>9.0f}{row['mediapipe']['limb_dir_err_median_deg']:>8.1f}"
              f"{row['lifter']['limb_dir_err_median_deg']:>9.1f}{row['mediapipe']['flexion_err_deg']:>8.1f}"
              f"{row['lifter']['flexion_err_deg']:>10.1f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
