"""Benchmark of TAR on this machine's CPU (prints figures; not a test). The `tar` row of the models benchmark.

With synthetic SMPL and a random TAR of the paper's sizes (HRNet-W48 + ReFit's heads + GTE + LTE,
82.5 M parameters; no official weights exist, and the cost does not depend on the values) written
in our checkpoint format, on the sample clip looped to --loops x 40 frames with the person's real track:
- backbone alone: HRNet-W48 on ReFit's 256 px crops already in memory, batch 4, inference_mode: images/s;
- end to end through the runner (decode, crops, backbone + corr_layer per frame, GTE + LTE + RRM
  per window, SMPL, camera; weights loading and person detection excluded): frames/s, and its ratio
  to the backbone alone;
- ms per window: GTE + LTE + 5 RRM iterations on cached per-frame features, in the runner's batch.
Every measurement runs --repeats times and the fastest counts.
Usage: .venv/bin/python bench/bench_tar.py [--loops 1] [--repeats 1] [--threads 0]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_seed_models import bench_setup, looped_clip, sample_track, timed  # noqa: E402

from backend.body.smpl_model import load_smpl_layer  # noqa: E402
from backend.body.smpl_subset import SmplVertexSubset  # noqa: E402
from backend.core.events import EventStream  # noqa: E402
from backend.models.base import ModelRequest  # noqa: E402
from backend.models.heads.refit import MARKER_VERTICES  # noqa: E402
from backend.models.refit import refit_focal  # noqa: E402
from backend.models.registry import get_card  # noqa: E402
from backend.models.tar_runner import cameras, run  # noqa: E402
from backend.models.temporal.tar_net import FILE_NAME, TAR, neutral_mean_  # noqa: E402
from backend.tracking.crops import iter_crop_chunks  # noqa: E402
from backend.tracking.video import probe  # noqa: E402
from backend.training.tar_task import save_tar  # noqa: E402


def bench(args: argparse.Namespace) -> dict:
    out, work, weights, smpl = bench_setup(args.threads, "bench-tar-")
    threads = out["threads"]
    torch.manual_seed(0)
    model = TAR().eval()
    neutral_mean_(model)
    save_tar(model, weights / FILE_NAME, 0, {}, "random")
    video = looped_clip(work, args.loops)
    track = sample_track(args.loops)
    n = len(track)
    card = get_card("tar")
    print(f"clip: {n} frames ({args.loops} x the 40-frame sample), real track, random TAR of the paper's sizes\n")
    x = torch.from_numpy(np.concatenate([c for _, c in iter_crop_chunks(probe(video), track, 1.2, chunk=16,
                                                                        size=256)]))

    def backbone_alone() -> None:
        with torch.inference_mode():
            for start in range(0, len(x), card.feature_batch):
                model.backbone(x[start:start + card.feature_batch])

    info = probe(video)
    request = ModelRequest(video=info, track=track, window=9, device="cpu", weights_dir=weights, smpl_dir=smpl,
                           threads=threads, focal_length=float(max(info.width, info.height)),
                           events=EventStream(io.StringIO()), check_cancel=lambda: None)
    best_b, best_e2e, timings = float("inf"), float("inf"), {}
    for _ in range(args.repeats):
        wall, _, _ = timed(backbone_alone, 1)
        best_b = min(best_b, wall)
        result = run(request, card)
        t = result.meta["timings"]
        e2e = t["features_s"] + t["temporal_s"] + t["smpl_s"]
        if e2e < best_e2e:
            best_e2e, timings = e2e, t
    row = {"backbone_fps": n / best_b, "end_to_end_fps": n / best_e2e, "ratio": best_b / best_e2e,
           "best_timings": timings}

    # ms per window: GTE + LTE + RRM from cached per-frame features, in the runner's batch
    markers = SmplVertexSubset(load_smpl_layer(smpl), MARKER_VERTICES)  # as the runner poses the markers
    batch = card.window_batch
    gen = torch.Generator().manual_seed(1)
    z = torch.relu(torch.randn(batch, 9, 384, generator=gen))
    corr = torch.randn(batch, 5, 67, 64, 64, generator=gen)
    camera = cameras(request, np.arange(batch), 256, refit_focal(request)[0])

    def windows() -> None:
        with torch.inference_mode():
            model.forward_windows(z, corr, camera, markers)

    best_w = min(timed(windows, 1)[0] for _ in range(args.repeats))
    row["ms_per_window"] = best_w / batch * 1e3
    out["tar"] = row
    print(f"tar     backbone alone {row['backbone_fps']:6.2f} img/s | end to end {row['end_to_end_fps']:6.2f} fps | "
          f"ratio {row['ratio']:.2f}")
    print(f"{'':7s} GTE + LTE + 5 RRM iterations, batch {batch}: {row['ms_per_window']:.1f} ms/window; "
          f"timings {timings}")
    out["load_avg_end"] = os.getloadavg()[0]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loops", type=int, default=1, help="clip length in multiples of the 40-frame sample")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = the cores actually free")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    started = time.monotonic()
    figures = bench(args)
    print(f"({time.monotonic() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
