"""Benchmark of the grounding stage: contacts, floor and foot locking (prints figures; not a test).

Synthetic truth (backend/testing/gait_synth.py): a flat-footed walk seen by cameras pitched 0, 15
and 30 degrees, with MediaPipe-like noise (rotation and root jitter, 2-5 cm of stance sliding),
several noise seeds each; a jumping clip and a seated clip (feet off the floor).
Real video: both sample clips, converted with `--foot-lock off` (the stage with locking off leaves
the motion unchanged), then the stage with locking on; reprojection error against the 2D
landmarks and foot skate during the detected contacts, on vs off.

Rendered truth (bench/truth/<clip>/, made by `accuracy`'s bench/make_truth_clips.py): the real
pipeline (MediaPipe) on each clip present, against its true floor plane and its true contacts
(a foot point within 2 cm of its lowest height and slower than 0.15 m/s).

Usage: .venv/bin/python bench/bench_grounding.py [--seeds 3] [--skip-video]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from backend.core.motion_file import load_motion_file  # noqa: E402
from backend.testing import gait_synth  # noqa: E402
from backend.testing.grounding_figures import real_clip_figures, synthetic_figures  # noqa: E402


def synthetic(seeds: int) -> None:
    print("Synthetic walk (5 s, 30 fps), per pitch: worst over seeds "
          "(F1 min, up error max, skate after max, penetration max, upper body max)")
    print(f"{'pitch':>5} {'F1':>6} {'up err':>7} {'skate before':>13} {'skate after':>12} {'penetr.':>8} "
          f"{'upper':>7} {'ground':>7}  camera (estimated)")
    for pitch in (0.0, 15.0, 30.0):
        rows = [synthetic_figures(gait_synth.walking_clip(pitch, seed=s), seed=1000 * s + int(pitch))
                for s in range(seeds)]
        print(f"{pitch:5.0f} {min(r['f1'] for r in rows):6.3f} {max(r['up_error_deg'] for r in rows):6.2f}d "
              f"{np.mean([r['skate_before_cm'] for r in rows]):9.2f} cm/f "
              f"{max(r['skate_after_cm'] for r in rows):8.2f} cm/f {max(r['penetration_cm'] for r in rows):6.2f}cm "
              f"{max(r['upper_body_mm'] for r in rows):5.2f}mm {rows[0]['ground_used']:>7}  {rows[0]['camera']}")
    for name, make in (("jump", gait_synth.jumping_clip), ("seated", gait_synth.seated_clip)):
        clip = make(15.0)
        r = synthetic_figures(clip, seed=3)
        flight = clip.flight if clip.flight is not None else np.ones(len(clip.poses), bool)
        false = int((r["contacts"] & ~clip.contacts).sum())
        in_air = int(r["contacts"][flight].sum())
        feet = [7, 8, 10, 11]
        lift_before = (r["before"][:, feet] @ -clip.up)  # camera frame: higher = larger along up
        lift_after = (r["after"][:, feet] @ -clip.up)
        change = 100 * float(np.abs(lift_after - lift_before)[flight].max())
        print(f"{name:>6}: contact F1 {r['f1']:.3f}, false contact frames {false}, contacts in the air {in_air}, "
              f"largest change of a foot's height in the air {change:.2f} cm, ground {r['ground_used']}, "
              f"warnings: {'; '.join(r['warnings']) or '-'}")


def video(clip: Path, out_dir: Path) -> None:
    out = out_dir / (clip.stem + ".npz")
    subprocess.run([sys.executable, "-m", "backend", "run", str(clip), "--out", str(out), "--foot-lock", "off"],
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = real_clip_figures(load_motion_file(out))
    print(f"{clip.name}: {r['frames']} frames at {r['fps']:g} fps, ground {r['ground_used']}, camera {r['camera']}, "
          f"contact frames {r['contact_frames']}")
    print(f"    reprojection error {r['reprojection_off_pct']:.2f} % -> {r['reprojection_on_pct']:.2f} % of box height "
          f"(rise {r['reprojection_rise_pct']:+.2f} %); foot skate in contacts {r['skate_off_cm']:.2f} -> "
          f"{r['skate_on_cm']:.2f} cm/frame (drop {r['skate_drop_pct']:.0f} %); lock {r['lock']}")
    for warning in r["warnings"]:
        print(f"    warning: {warning}")


def truth_contacts(joints_world: np.ndarray, fps: float) -> np.ndarray:
    """[N, 4] contacts of the rendered truth (Blender world, Z up), in CONTACT_JOINTS order."""
    points = joints_world[:, [7, 10, 8, 11]]
    height = points[..., 2] - points[..., 2].min(axis=0)
    speed = np.linalg.norm(np.gradient(points, axis=0), axis=-1) * fps
    return (height < 0.02) & (speed < 0.15)


def rendered(out_dir: Path) -> None:
    from backend.testing.grounding_figures import angle_deg, f1_score

    for folder in sorted((REPO / "bench" / "truth").glob("*/")):
        if not (folder / "video.mp4").is_file() or not (folder / "truth.npz").is_file():
            continue
        with np.load(folder / "truth.npz", allow_pickle=False) as data:
            truth = {key: data[key] for key in ("joints_world", "floor_cam", "fps")}
        out = out_dir / (folder.name + ".npz")
        subprocess.run([sys.executable, "-m", "backend", "run", str(folder / "video.mp4"), "--out", str(out),
                        "--foot-lock", "off"], cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        r = real_clip_figures(load_motion_file(out))
        result = r["result"]
        contacts = truth_contacts(truth["joints_world"], float(truth["fps"]))
        up_true = truth["floor_cam"][:3]
        print(f"{folder.name}: ground {r['ground_used']}, up error {angle_deg(result.floor.up, up_true):.2f} deg "
              f"(estimated {r['camera']}, true camera height {float(truth['floor_cam'][3]):.3f} m), contact F1 "
              f"{f1_score(result.contacts, contacts):.3f}, skate in detected contacts {r['skate_off_cm']:.2f} -> "
              f"{r['skate_on_cm']:.2f} cm/frame, reprojection rise {r['reprojection_rise_pct']:+.2f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-video", action="store_true")
    args = parser.parse_args()
    synthetic(args.seeds)
    if not args.skip_video:
        with tempfile.TemporaryDirectory() as tmp:
            for clip in ("single_person_demo.mp4", "multi_person_demo.mp4"):
                video(REPO / "samples" / clip, Path(tmp))
            rendered(Path(tmp))


if __name__ == "__main__":
    main()
