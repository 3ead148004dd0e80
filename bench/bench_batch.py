"""Benchmark of `backend batch`: clips/s with --workers 1, --workers 2 and --ray (prints figures; not a test).

12 short clips (the two samples, 6 copies each, cut to --frames 0:FRAMES by the batch itself) are
converted three times into fresh output folders: the local pool with 1 and 2 workers, then one
Ray task per clip on a local head started on 127.0.0.1 with as many CPUs as the machine (stopped
afterwards). Prints clips/s, the speed-up of 2 workers over 1, Ray's overhead against the local
pool with the same parallelism, and the per-clip cost split into a fixed part (process start,
model load) and a per-frame part (from one extra clip converted in full).

Usage: .venv/bin/python bench/bench_batch.py [--clips 12] [--frames 8] [--skip-ray]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = (REPO / "samples" / "single_person_demo.mp4", REPO / "samples" / "multi_person_demo.mp4")


def batch(clips: Path, out: Path, *args: str) -> tuple[float, list[dict]]:
    """Wall seconds of one batch command (driver start included) and its summary records."""
    env = dict(os.environ, PYTHONPATH=str(REPO), RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "backend", "batch", str(clips), "--out", str(out), *args],
                            cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"batch {' '.join(args)} exited {result.returncode}: {result.stdout[-1500:]}{result.stderr[-1500:]}")
    records = [json.loads(line) for line in (out / "batch.jsonl").read_text().splitlines()]
    return seconds, records


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        clips = root / "clips"
        clips.mkdir()
        for index in range(args.clips):
            shutil.copyfile(SAMPLES[index % 2], clips / f"clip{index:02d}.mp4")
        frames = ["--frames", f"0:{args.frames}"]
        cores = len(os.sched_getaffinity(0))
        print(f"{args.clips} clips of {args.frames} frames (1080x1920, blazepose), {cores} cores, "
              f"load average {os.getloadavg()[0]:.1f}")
        rows = {}
        for workers in (1, 2):
            seconds, records = batch(clips, root / f"out_w{workers}", "--workers", str(workers), *frames)
            rows[f"--workers {workers}"] = seconds
            per_clip = sum(r["seconds"] for r in records) / len(records)
            print(f"--workers {workers}: {seconds:6.1f} s  {args.clips / seconds:.3f} clips/s  "
                  f"(mean {per_clip:.1f} s per clip inside its worker)")
        if not args.skip_ray:
            ray_cli = str(Path(sys.executable).with_name("ray"))
            temp_dir = tempfile.mkdtemp(prefix="rb", dir="/tmp")
            address = f"127.0.0.1:{free_port()}"
            env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")  # a local head only
            started = time.monotonic()
            subprocess.run([ray_cli, "start", "--head", "--node-ip-address", "127.0.0.1", "--port",
                            address.split(":")[1], "--num-cpus", str(cores), "--temp-dir", temp_dir,
                            "--include-dashboard", "false", "--disable-usage-stats"], env=env,
                           capture_output=True, check=True)
            head_s = time.monotonic() - started
            try:
                seconds, _ = batch(clips, root / "out_ray", "--ray", address, *frames)
            finally:
                subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, check=False)
                shutil.rmtree(temp_dir, ignore_errors=True)
            rows["--ray"] = seconds
            print(f"--ray (local head, {cores} CPUs): {seconds:6.1f} s  {args.clips / seconds:.3f} clips/s  "
                  f"(head start {head_s:.1f} s, not counted)")
        base = rows["--workers 1"]
        print(f"speed-up of --workers 2 over --workers 1: {base / rows['--workers 2']:.2f}x")
        if "--ray" in rows:
            local = rows[f"--workers {min(cores, 2)}"]
            print(f"Ray overhead against the local pool with {min(cores, 2)} workers: "
                  f"{(rows['--ray'] - local) / local * 100:+.1f} %")
        # Per-clip cost: one clip with `--frames` frames vs all 40 frames, one worker.
        one = root / "one"
        one.mkdir()
        shutil.copyfile(SAMPLES[0], one / "clip.mp4")
        _, short = batch(one, root / "cost_short", "--workers", "1", *frames)
        _, full = batch(one, root / "cost_full", "--workers", "1")
        per_frame = (full[0]["seconds"] - short[0]["seconds"]) / (full[0]["frames"] - short[0]["frames"])
        fixed = short[0]["seconds"] - per_frame * short[0]["frames"]
        print(f"per clip: {fixed:.1f} s fixed (process start, MediaPipe load) + {per_frame:.3f} s per frame "
              f"(1080x1920, one worker)")
        for frames_per_clip in (300,):
            clip_s = fixed + per_frame * frames_per_clip
            print(f"1,000 clips of {frames_per_clip} frames: {1000 * clip_s / 3600:.1f} core-hours "
                  f"({clip_s:.0f} s per clip); on 8 machines x 16 cores: {1000 * clip_s / 128 / 60:.0f} min")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
