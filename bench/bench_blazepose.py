"""Benchmark of the built-in path (prints figures; not a test).

In one run, on the sample clip and on a 10x longer clip made by looping it:
- frames/s of the whole built-in path (decode, MediaPipe, tracking, IK, smoothing, translation,
  writing) and of MediaPipe alone (decode + landmarks) -> ratio (target >= 0.85);
- peak RSS of a whole `run` for each clip -> ratio (target <= 1.2: memory does not grow with length);
- IK quality (bone-direction error) and smoothing figures at strength 0 and default.

Each measurement runs in a fresh subprocess so peak RSS and warm-up are per measurement; the two
paths alternate `--repeats` times and the fastest of each counts, so a busy neighbour on the
machine does not decide the ratio.
Usage: .venv/bin/python bench/bench_blazepose.py [--video samples/single_person_demo.mp4] [--loops 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from clips import looped_clip

REPO = Path(__file__).resolve().parents[1]

_MEASURE = r"""
import json, resource, sys, time
sys.path.insert(0, {repo!r})
mode, video, out = sys.argv[1], sys.argv[2], sys.argv[3]
from backend.tracking import video as v
from backend.core.events import EventStream
import io
start = time.perf_counter()
if mode == "mediapipe":
    from backend.tracking.landmarks import PoseLandmarks
    info = v.probe(video)
    frames = 0
    with PoseLandmarks() as detector:
        for frame_id, rgb in v.iter_frames(info, v.FrameRange()):
            detector.detect(rgb, frame_id * 1000.0 / info.fps)
            frames += 1
else:
    from backend.pipeline.run import RunOptions, run
    run(RunOptions(video=video, out=out, smooth=float(mode)), EventStream(io.StringIO()))
    import numpy as np
    frames = len(np.load(out)["poses"])
seconds = time.perf_counter() - start
print(json.dumps({{"frames": frames, "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def measure(mode: str, video: Path, out: Path) -> dict:
    code = _MEASURE.format(repo=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code, mode, str(video), str(out)], capture_output=True,
                          text=True, check=True, cwd=REPO)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def quality(out: Path) -> dict:
    sys.path.insert(0, str(REPO))
    import numpy as np

    from backend.builtin import ik_quality, rest_skeleton
    from backend.geometry.skeleton import forward_kinematics

    data = np.load(out)
    world = data["landmarks_world"].astype(float)
    rest = rest_skeleton.with_joints(rest_skeleton.from_landmarks(world, data["landmarks2d"][..., 2], data["valid"]),
                                     data["rest_joints"].astype(float))
    errors = np.concatenate(list(ik_quality.bone_errors_deg(data["poses"].astype(float), rest, world).values()))
    joints = forward_kinematics(data["poses"], data["rest_joints"], data["transl"])
    acceleration = float(np.linalg.norm(joints[2:] - 2 * joints[1:-1] + joints[:-2], axis=-1).mean())
    return {"fk_median_deg": float(np.median(errors)), "fk_p95_deg": float(np.percentile(errors, 95)),
            "mean_joint_acceleration_m_per_frame2": acceleration}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=REPO / "samples" / "single_person_demo.mp4")
    parser.add_argument("--loops", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        long_video = tmp_path / "looped.mp4"
        long_frames = looped_clip(args.video, long_video, args.loops)
        print(f"clips: {args.video.name} and a {args.loops}x loop of it ({long_frames} frames)")
        rows = {}
        for label, video in (("clip", args.video), ("long", long_video)):
            out = tmp_path / f"{label}.npz"
            runs = [(measure("mediapipe", video, out), measure("1", video, out)) for _ in range(args.repeats)]
            mp = min((r[0] for r in runs), key=lambda r: r["seconds"])
            full = min((r[1] for r in runs), key=lambda r: r["seconds"])
            rows[label] = (mp, full)
            mp_fps, full_fps = mp["frames"] / mp["seconds"], full["frames"] / full["seconds"]
            print(f"{label:>5}: MediaPipe alone {mp_fps:6.1f} frames/s | whole built-in path {full_fps:6.1f} frames/s"
                  f" | ratio {full_fps / mp_fps:.3f} (target >= 0.85) | peak RSS run {full['peak_rss_mb']:.0f} MB")
        rss_ratio = rows["long"][1]["peak_rss_mb"] / rows["clip"][1]["peak_rss_mb"]
        print(f"peak RSS {args.loops}x clip / clip: {rss_ratio:.3f} (target <= 1.2)")
        measure("0", args.video, tmp_path / "raw.npz")
        raw, smooth = quality(tmp_path / "raw.npz"), quality(tmp_path / "clip.npz")
        print(f"IK bone-direction error vs landmarks: strength 0 median {raw['fk_median_deg']:.2f} deg "
              f"p95 {raw['fk_p95_deg']:.2f} | default median {smooth['fk_median_deg']:.2f} "
              f"p95 {smooth['fk_p95_deg']:.2f}")
        reduction = 1 - smooth["mean_joint_acceleration_m_per_frame2"] / raw["mean_joint_acceleration_m_per_frame2"]
        print(f"smoothing: mean joint acceleration -{100 * reduction:.1f} % (target >= 50 %), FK median "
              f"+{smooth['fk_median_deg'] - raw['fk_median_deg']:.2f} deg (target <= 2)")


if __name__ == "__main__":
    main()
