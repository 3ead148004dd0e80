"""Accuracy of the product against ground truth, per truth clip (prints figures; not a test).

For every clip in `bench/truth/<clip>/` (rendered by `bench/make_truth_clips.py`: `video.mp4` and
`truth.npz`), it runs the product as a user would, `python -m backend run video.mp4 --out X.npz
[--focal-length F] [EXTRA...]` (default model `blazepose`), and compares the motion file's
`joints3d` (SMPL joints, camera frame) with the truth's joints. Figures (defined precisely in
`bench/accuracy_metrics.py`; "valid" = frames the product marks detected):

- PA-MPJPE (mm): mean distance over the 14 evaluation joints (ankles, knees, hips, wrists, elbows,
  shoulders, neck, head) after a per-frame similarity (Procrustes) alignment; MPJPE (mm) after
  aligning the mid-hip roots only; PA-MPJPE over the 12 limb joints too (neck and head centre are
  placed differently by different skeletons).
- knee / elbow flexion error (deg): mean |flexion_product - flexion_truth| over frames and sides,
  flexion = angle between the proximal and distal segment (0 = straight).
- limb direction error (deg): angle between the product's and the truth's upper arm, forearm,
  thigh and shin directions in the camera frame (no alignment); per limb the mean, and the median
  over all four limbs pooled (the issue's "median limb direction error").
- mean joint acceleration, product / truth: mean |x[t+1] - 2x[t] + x[t-1]| of the 14 joints in the
  camera frame, product divided by truth.
- legs swapped (%): share of decidable frames where the product's knees+ankles (root-relative)
  match the truth's better with left and right exchanged.
- limb length, product / truth: per limb, median product length / truth length; the mean of the
  four (upper arm, forearm, thigh, shin) is printed, the worst too.
- root depth error (m): RMS of the mid-hip depth error after removing its mean over the clip.
- foot skate (mm/frame): mean slide of the product's ankles along the floor on frame pairs where
  the truth's foot is planted (sole on the floor and still); the truth's own residual is printed too.
- floor up error (deg): angle between the product's floor up (`floor_plane`, or the camera's own up
  when the file has none) and the true floor's normal.
- lean in the levelled scene, error (deg): mean angle between the product's and the truth's
  pelvis->neck direction, each with its camera turned so that its own floor is level (what the
  add-on's Auto import shows; a wrong floor or a body tilted against the floor both count).
- 2D (px): median distance of MediaPipe's 2D landmarks (the product's `landmarks2d`) to the true
  projected joints (hips, knees, ankles, shoulders, elbows, wrists).
- throughput: frames/s of the whole `run` (its own `meta.seconds`: from the start of `run` to the
  written file, MediaPipe's import included) / frames/s of MediaPipe alone (decode + landmarks,
  `bench_blazepose.measure`, import included), same clip; with `--repeats R` both run R times,
  alternating, and the fastest of each counts (the machine is shared; one 90-frame run is noisy).

Usage:
  .venv/bin/python bench/bench_accuracy.py [--clips NAME ...] [--no-throughput] [--default-focal]
        [--pass-height] [--keep DIR] [--tracks-from DIR [--oracle 2d|3d|both]] [--json OUT.json]
        [-- EXTRA RUN OPTIONS, e.g. --fit off]
By default the true focal length is passed (`--focal-length`), as a user who knows the camera would;
`--pass-height` also passes the person's true stature (`truth.npz` `stature_m`) as `--height`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
import accuracy_metrics as am  # noqa: E402
from truth_motions import JOINT_NAMES  # noqa: E402

TRUTH_DIR = HERE / "truth"

#: SMPL joint -> MediaPipe landmark, for the 2D comparison (toes left out: the truth's "foot" joint is
#: the ball of the foot, MediaPipe's foot index is the toe tip).
SMPL_TO_MP_2D = {1: 23, 2: 24, 4: 25, 5: 26, 7: 27, 8: 28, 16: 11, 17: 12, 18: 13, 19: 14, 20: 15, 21: 16}

ROWS: list[tuple[str, str, str]] = [  # key, label, format
    ("valid_pct", "valid frames (%)", "{:.0f}"),
    ("pa_mpjpe_mm", "PA-MPJPE, 14 joints (mm)", "{:.0f}"),
    ("pa_mpjpe12_mm", "PA-MPJPE, 12 limb joints (mm)", "{:.0f}"),
    ("mpjpe_mm", "MPJPE, root-aligned (mm)", "{:.0f}"),
    ("knee_flexion_err_deg", "knee flexion error (deg)", "{:.1f}"),
    ("elbow_flexion_err_deg", "elbow flexion error (deg)", "{:.1f}"),
    ("forearm_dir_err_deg", "forearm direction error, mean (deg)", "{:.1f}"),
    ("upper_arm_dir_err_deg", "upper-arm direction error, mean (deg)", "{:.1f}"),
    ("thigh_dir_err_deg", "thigh direction error, mean (deg)", "{:.1f}"),
    ("shin_dir_err_deg", "shin direction error, mean (deg)", "{:.1f}"),
    ("limb_dir_err_median_deg", "limb direction error, median (deg)", "{:.1f}"),
    ("accel_ratio", "mean joint acceleration, product / truth", "{:.2f}x"),
    ("legs_swapped_pct", "frames with legs swapped L/R (%)", "{:.1f}"),
    ("limb_length_ratio", "limb length, product / truth (mean)", "{:.3f}"),
    ("limb_length_worst", "limb length, worst limb", "{:.3f}"),
    ("root_depth_err_m", "root depth error after a constant (m)", "{:.3f}"),
    ("foot_skate_mm", "foot skate on planted frames (mm/frame)", "{:.1f}"),
    ("foot_skate_truth_mm", "  truth's own (mm/frame)", "{:.1f}"),
    ("floor_up_err_deg", "floor up error (deg)", "{:.1f}"),
    ("lean_err_deg", "lean in the levelled scene, error (deg)", "{:.1f}"),
    ("mediapipe_2d_px", "MediaPipe 2D to true joints, median (px)", "{:.1f}"),
    ("throughput_ratio", "throughput, run / MediaPipe alone", "{:.2f}"),
]


def truth_clips(truth_dir: Path, names: list[str] | None) -> list[Path]:
    clips = sorted(p for p in truth_dir.iterdir() if (p / "truth.npz").is_file() and (p / "video.mp4").is_file())
    if names:
        known = {p.name: p for p in clips}
        missing = [n for n in names if n not in known]
        if missing:
            raise SystemExit(f"no truth clip {missing} in {truth_dir}; known: {sorted(known)}")
        clips = [known[n] for n in names]
    if not clips:
        raise SystemExit(f"no truth clips (video.mp4 + truth.npz) under {truth_dir}; run bench/make_truth_clips.py")
    return clips


def load_truth(clip: Path) -> dict[str, np.ndarray]:
    with np.load(clip / "truth.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def run_product(video: Path, out: Path, focal: float | None, extra: list[str], height: float | None = None) -> dict:
    """Run `python -m backend run` as a subprocess; returns the motion file's arrays and meta."""
    cmd = [sys.executable, "-m", "backend", "run", str(video), "--out", str(out), *extra]
    if focal is not None:
        cmd += ["--focal-length", f"{focal:.6f}"]
    if height is not None:
        cmd += ["--height", f"{height:.4f}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"backend run failed on {video} ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                           f"{proc.stderr[-3000:]}")
    with np.load(out, allow_pickle=False) as data:
        motion = {k: data[k] for k in data.files}
    motion["meta"] = json.loads(str(motion["meta"]))
    return motion


#: Pairs of SMPL_TO_MP_2D joints that swap when left and right are exchanged (hips, knees, ankles, shoulders, ...).
MIRROR_PAIRS = ((1, 2), (4, 5), (7, 8), (16, 17), (18, 19), (20, 21))


def oracle_tracks(kept: Path, truth: dict[str, np.ndarray], mode: str, out: Path) -> Path:
    """A diagnostic, not the product: the kept tracks (`--keep` of a `-- --fit off` run) with MediaPipe's
    evidence for the 12 limb joints (`SMPL_TO_MP_2D`) replaced by the truth, to see which evidence limits
    the figures. Modes:
    - "2d": the true projected joints (pixels) as the 2D landmarks;
    - "3d": the true joints as the world landmarks: camera-frame offsets from the mid-hip, turned into
      MediaPipe's crop-aligned frame by the inverse of `camera.view_ray_rotation`; a frame whose 2D
      MediaPipe mirrored as a whole (a back read as a front) is mirrored too, so only the 3D changes;
    - "both": both true, nothing mirrored.
    The other landmarks (feet, hands, face) stay MediaPipe's. Run the product with `--lifter off` to
    judge MediaPipe's own evidence (the lifter would otherwise correct the 3D from the edited 2D).
    Returns `out`.
    """
    from backend.geometry import camera

    with np.load(kept, allow_pickle=False) as data:
        arrays = {k: data[k].copy() for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    main = next(p["person_id"] for p in meta["people"] if p.get("main"))
    person = [int(v) for v in arrays["people_ids"]].index(main)
    frames = arrays["frame_ids"].astype(int)
    true2d, true3d = truth["joints_2d"][frames], truth["joints_cam"][frames]
    lm2d, world = arrays["people_landmarks2d"][person], arrays["people_world"][person].astype(np.float64)
    if mode in ("3d", "both"):
        labelled = true3d.copy()
        if mode == "3d":  # a frame MediaPipe saw mirrored (a back read as a front) stays mirrored
            kept_cost = swap_cost = 0.0
            for a, b in MIRROR_PAIRS:
                mp_a, mp_b = lm2d[:, SMPL_TO_MP_2D[a], :2], lm2d[:, SMPL_TO_MP_2D[b], :2]
                kept_cost = kept_cost + np.linalg.norm(mp_a - true2d[:, a], axis=-1) + np.linalg.norm(
                    mp_b - true2d[:, b], axis=-1)
                swap_cost = swap_cost + np.linalg.norm(mp_a - true2d[:, b], axis=-1) + np.linalg.norm(
                    mp_b - true2d[:, a], axis=-1)
            mirrored = swap_cost < 0.5 * kept_cost
            for a, b in MIRROR_PAIRS:
                labelled[mirrored, a], labelled[mirrored, b] = true3d[mirrored, b], true3d[mirrored, a]
        hips2d = lm2d[:, [SMPL_TO_MP_2D[1], SMPL_TO_MP_2D[2]], :2].mean(axis=1).astype(np.float64)
        size = (int(arrays["image_size"][0]), int(arrays["image_size"][1]))
        turn = camera.view_ray_rotation(hips2d, float(arrays["focal_length"]), size)
        mid_hip = 0.5 * (labelled[:, 1] + labelled[:, 2])
        mp_mid_hip = 0.5 * (world[:, SMPL_TO_MP_2D[1]] + world[:, SMPL_TO_MP_2D[2]])
        for joint, landmark in SMPL_TO_MP_2D.items():
            world[:, landmark] = np.einsum("nji,nj->ni", turn, labelled[:, joint] - mid_hip) + mp_mid_hip
        arrays["people_world"][person] = world.astype(np.float32)
    if mode in ("2d", "both"):
        for joint, landmark in SMPL_TO_MP_2D.items():
            lm2d[:, landmark, :2] = true2d[:, joint]
    np.savez(out, **arrays)
    return out


def evaluate_clip(motion: dict, truth: dict[str, np.ndarray]) -> dict[str, float]:
    frames = motion["frame_ids"].astype(int)
    n = len(truth["joints_cam"])
    if frames.max() >= n:
        raise ValueError(f"motion has frame {frames.max()} but the truth only {n} frames")
    sub = {k: (v[frames] if isinstance(v, np.ndarray) and v.ndim and len(v) == n else v) for k, v in truth.items()}
    if len(frames) > 1:  # a --stride run: the rows are further apart in time
        sub["fps"] = float(truth["fps"]) / float(np.median(np.diff(frames)))
    plane = motion.get("floor_plane")
    figures = am.evaluate(motion["joints3d"].astype(float), sub, motion["valid"].astype(bool),
                          None if plane is None else np.asarray(plane, float)[:3])
    figures["limb_length_worst"] = max((figures[f"{limb}_length_ratio"] for limb in am.LIMBS),
                                       key=lambda r: abs(r - 1.0))
    valid = motion["valid"].astype(bool)
    lm = motion["landmarks2d"][valid][:, list(SMPL_TO_MP_2D.values()), :2]
    true2d = sub["joints_2d"][valid][:, list(SMPL_TO_MP_2D.keys())]
    figures["mediapipe_2d_px"] = float(np.median(np.linalg.norm(lm - true2d, axis=-1)))
    return figures


def print_table(results: dict[str, dict[str, float]], per_joint: bool = False) -> None:
    names = list(results)
    rows = list(ROWS)
    if per_joint:
        rows += [(f"pa_joint_{j}_mm", f"  PA error at {JOINT_NAMES[j]} (mm)", "{:.0f}") for j in am.EVAL14]
    width = max(12, *(len(n) for n in names))
    print(f"{'figure (ground truth)':<44}" + "".join(f"{n:>{width + 2}}" for n in names))
    for key, label, fmt in rows:
        cells = []
        for name in names:
            value = results[name].get(key)
            cells.append("-" if value is None or not np.isfinite(value) else fmt.format(value))
        print(f"{label:<44}" + "".join(f"{c:>{width + 2}}" for c in cells))


def main() -> None:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", default=None, help="clip names (default: all under --truth-dir)")
    parser.add_argument("--truth-dir", type=Path, default=TRUTH_DIR)
    parser.add_argument("--no-throughput", action="store_true", help="skip the MediaPipe-alone timing runs")
    parser.add_argument("--repeats", type=int, default=1, help="throughput: fastest of this many runs of each")
    parser.add_argument("--default-focal", action="store_true",
                        help="do not pass the true focal length (the product then assumes max(width, height))")
    parser.add_argument("--pass-height", action="store_true",
                        help="pass the person's true stature as --height (for a product that has the option)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the product's motion files here")
    parser.add_argument("--per-joint", action="store_true", help="also print the PA error of each of the 14 joints")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    parser.add_argument("--tracks-from", type=Path, default=None,
                        help="reuse the detections kept by an earlier `--keep DIR` run (passes `--tracks "
                             "DIR/<clip>.npz`): MediaPipe does not run again, for quick iterations on the "
                             "stages after it. Keep them from a `-- --fit off` run: its tracks are MediaPipe's "
                             "own, before any left/right repair")
    parser.add_argument("--oracle", choices=("2d", "3d", "both"), default=None,
                        help="diagnostic (with --tracks-from): replace MediaPipe's 2D and/or 3D evidence for the limb "
                             "joints by the truth (see oracle_tracks)")
    args = parser.parse_args(argv)
    if args.oracle and args.tracks_from is None:
        parser.error("--oracle needs --tracks-from DIR (the detections it edits)")
    clips = truth_clips(args.truth_dir, args.clips)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        out_dir = args.keep or tmp
        out_dir.mkdir(parents=True, exist_ok=True)
        for clip in clips:
            truth = load_truth(clip)
            focal = None if args.default_focal else float(truth["intrinsics"][0, 0])
            height = float(truth["stature_m"]) if args.pass_height else None
            tracks = None if args.tracks_from is None else args.tracks_from / f"{clip.name}.npz"
            if tracks is not None and args.oracle:
                tracks = oracle_tracks(tracks, truth, args.oracle, tmp / f"{clip.name}_oracle.npz")
            clip_extra = extra if tracks is None else [*extra, "--tracks", str(tracks)]
            motion = run_product(clip / "video.mp4", out_dir / f"{clip.name}.npz", focal, clip_extra, height)
            figures = evaluate_clip(motion, truth)
            if not args.no_throughput:
                from bench_blazepose import measure

                run_s, mp_fps = [float(motion["meta"]["seconds"])], []
                for repeat in range(max(args.repeats, 1)):
                    mp = measure("mediapipe", clip / "video.mp4", tmp / "unused.npz")
                    mp_fps.append(mp["frames"] / mp["seconds"])
                    if repeat:  # the product again, alternating, so a busy neighbour hits both alike
                        again = run_product(clip / "video.mp4", tmp / "again.npz", focal, extra, height)
                        run_s.append(float(again["meta"]["seconds"]))
                figures["throughput_ratio"] = (len(motion["frame_ids"]) / min(run_s)) / max(mp_fps)
            results[clip.name] = figures
            print(f"{clip.name}: PA-MPJPE {figures['pa_mpjpe_mm']:.0f} mm", file=sys.stderr, flush=True)
    print(f"product: python -m backend run VIDEO{' --focal-length F' if not args.default_focal else ''}"
          f"{' --height H' if args.pass_height else ''}{(' ' + ' '.join(extra)) if extra else ''}")
    print_table(results, args.per_joint)
    if args.json:
        args.json.write_text(json.dumps({"extra_args": extra, "default_focal": args.default_focal,
                                         "clips": results}, indent=2))


if __name__ == "__main__":
    main()
