"""Benchmark of the seed models on this machine's CPU (prints figures; not a test).

In one run, with synthetic SMPL and random weights in the official layouts (same cost as the real
ones; STR: a random STR of the paper's sizes in our layout, as no official file exists), on the
sample clip looped to --loops x 40 frames with the person's real track:
- backbone alone (crops already in memory, inference_mode + channels_last, batch 8): images/s;
- end to end through each runner (decode, crops, backbone, temporal model, SMPL, camera; weights
  loading and person detection excluded): frames/s, and its ratio to the backbone (target >= 0.8
  for TCMR and MPS-Net);
- ReFit (per frame, no window): its HRNet-W48 backbone alone on its 256 px crops (batch 4) vs end to
  end through its runner (decode, ReFit's crop, backbone, 5 iterations with SMPL each, outputs):
  frames/s, the ratio, and ms per frame split into backbone and heads;
- cached features vs recomputing the backbone for every window (what a per-window pipeline does);
- temporal model per window: the official structure vs the cached per-frame work
  (TCMR: first-layer GRU projections; STAF: per-frame deconvolution maps, grid features, TCFM
  projections), and STAF's forward computed as the official code does it (Conv1d MLP with
  concatenations, NCHW deconvolutions, Dmap matmul broadcast over the batch) for reference.

Every measurement runs --repeats times, alternating, and the fastest counts, so a busy neighbour
on a shared machine does not decide a ratio; cpu/wall shows how many cores the run really had.
Usage: .venv/bin/python bench/bench_seed_models.py [--loops 3] [--repeats 2] [--threads 0]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import clips  # noqa: E402

from backend.body.smpl_model import load_smpl_layer, smpl_forward  # noqa: E402
from backend.core.events import EventStream  # noqa: E402
from backend.core.threads import auto_threads  # noqa: E402
from backend.models.base import ModelRequest  # noqa: E402
from backend.models.registry import all_cards  # noqa: E402
from backend.models.seed_runner import load_models, run_seed  # noqa: E402
from backend.models.windows import window_rows  # noqa: E402
from backend.testing.smpl_synth import write_smpl_npz  # noqa: E402
from backend.testing.weights_synth import load_layouts, write_model_weights  # noqa: E402
from backend.tracking.crops import iter_crop_chunks  # noqa: E402
from backend.tracking.track import Track  # noqa: E402
from backend.tracking.video import FrameRange, probe  # noqa: E402

#: The windowed seed models: cards with checkpoints, a temporal window and per-frame backbone features
#: (ReFit, per frame, has its own row here; TAR's row is bench_tar.py).
SEED_MODELS = {card.name: card for card in all_cards() if card.checkpoints and card.windows and card.feature_shape}
PER_FRAME_MODELS = ("refit",)

SAMPLE = REPO / "samples" / "single_person_demo.mp4"
LAYOUTS = REPO / "tests" / "data" / "official_layouts.json"
PAPER_WINDOW = {"tcmr": 16, "mpsnet": 16, "staf": 9, "str": 16, "refit": None}


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """Fastest wall time over `repeats` runs, its cpu/wall ratio, and the last result."""
    best, ratio, result = float("inf"), 0.0, None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if wall < best:
            best, ratio = wall, cpu / max(wall, 1e-9)
    return best, ratio, result


def looped_clip(folder: Path, loops: int) -> Path:
    path = folder / "looped.mp4"
    clips.looped_clip(SAMPLE, path, loops)
    return path


def sample_track(loops: int) -> Track:
    """The person's real track on the sample (MediaPipe), looped like the clip."""
    from backend.pipeline.run import detect_and_track

    info = probe(SAMPLE)
    base, _ = detect_and_track(info, FrameRange(), EventStream(io.StringIO()), max_people=1, person=None)
    order = np.concatenate([np.arange(len(base)) if k % 2 == 0 else np.arange(len(base))[::-1] for k in range(loops)])
    n = len(order)
    return Track(0, np.arange(n, dtype=np.int32), base.valid[order], base.bboxes[order], base.landmarks2d[order],
                 base.world[order], base.image_size)


def request_for(video: Path, track: Track, weights: Path, smpl: Path, threads: int, model: str) -> ModelRequest:
    return ModelRequest(video=probe(video), track=track, window=PAPER_WINDOW[model], device="cpu",
                        weights_dir=weights, smpl_dir=smpl, threads=threads,
                        focal_length=float(max(probe(video).width, probe(video).height)),
                        events=EventStream(io.StringIO()), check_cancel=lambda: None)


def bench_setup(threads: int, prefix: str) -> tuple[dict, Path, Path, Path]:
    """Torch's threads (`threads`, 0 = the cores actually free), a line on the machine, and a new work folder
    with a synthetic SMPL file. Returns (figures so far: threads, cores, load average at start; the work folder;
    its weights folder, not made yet; its SMPL folder)."""
    threads = threads or auto_threads()
    torch.set_num_threads(threads)
    out: dict = {"threads": threads, "cores": os.cpu_count(), "load_avg_start": os.getloadavg()[0]}
    print(f"torch {torch.__version__}, {threads} thread(s) of {os.cpu_count()} cores, "
          f"load average {out['load_avg_start']:.2f} at start")
    work = Path(tempfile.mkdtemp(prefix=prefix))
    weights, smpl = work / "weights", work / "smpl"
    write_smpl_npz(smpl)
    return out, work, weights, smpl


def bench(args: argparse.Namespace) -> dict:
    out, work, weights, smpl = bench_setup(args.threads, "bench-seed-")
    threads = out["threads"]
    layouts = load_layouts(LAYOUTS)
    for model in args.models:
        write_model_weights(model, weights, layouts)
    video = looped_clip(work, args.loops)
    track = sample_track(args.loops)
    n = len(track)
    print(f"clip: {n} frames ({args.loops} x the 40-frame sample), real track, synthetic weights\n")

    # crops in memory, per crop scale
    crops = {}
    for scale in (1.2, 1.1):
        chunks = [c for _, c in iter_crop_chunks(probe(video), track, scale, chunk=64)]
        crops[scale] = torch.from_numpy(np.concatenate(chunks))
    layer = load_smpl_layer(smpl)
    smpl_verts = lambda rot, betas: smpl_forward(layer, rot, betas)[0]  # noqa: E731

    if "refit" in args.models:
        out["refit"] = bench_refit(video, track, weights, smpl, threads, args)
    for model, setup in SEED_MODELS.items():
        if model not in args.models:
            continue
        backbone, temporal, _ = load_models(setup, weights, "cpu")
        x = crops[setup.crop_scale]

        def backbone_alone(backbone=backbone, x=x) -> None:
            with torch.inference_mode():
                for start in range(0, len(x), 8):
                    backbone(x[start:start + 8].contiguous(memory_format=torch.channels_last))

        request = request_for(video, track, weights, smpl, threads, model)
        b_wall, b_ratio, _ = timed(backbone_alone, 1)
        best_e2e, e2e_ratio, best_b, best_timings = float("inf"), 0.0, b_wall, {}
        for _ in range(args.repeats):  # alternate the two measurements
            wall, ratio, result = timed(lambda request=request, setup=setup: run_seed(request, setup), 1)
            timings = result.meta["timings"]
            e2e = timings["features_s"] + timings["temporal_s"] + timings["smpl_s"]
            if e2e < best_e2e:
                best_e2e, e2e_ratio, best_timings = e2e, ratio, timings
            wall, ratio, _ = timed(backbone_alone, 1)
            if wall < best_b:
                best_b, b_ratio = wall, ratio
        row = {"backbone_fps": n / best_b, "backbone_cpu_per_wall": b_ratio, "end_to_end_fps": n / best_e2e,
               "end_to_end_cpu_per_wall": e2e_ratio, "ratio": (n / best_e2e) / (n / best_b),
               "best_timings": best_timings}

        # recomputing the backbone for every window vs features cached once per frame
        length = PAPER_WINDOW[model]
        rows = torch.from_numpy(window_rows(n, length))
        some = rows[len(rows) // 2: len(rows) // 2 + args.recompute_windows]

        def recompute(backbone=backbone, temporal=temporal, x=x, some=some, setup=setup) -> None:
            with torch.inference_mode():
                for window in some:
                    feats = backbone(x[window].contiguous(memory_format=torch.channels_last))[None]
                    temporal(feats, smpl_verts) if setup.smpl_in_forward else temporal(feats)

        wall, _, _ = timed(recompute, 1)
        per_frame_recompute = wall / len(some)
        per_frame_cached = (best_timings["features_s"] + best_timings["temporal_s"]) / n
        row["recompute_ms_per_frame"] = per_frame_recompute * 1e3
        row["cached_ms_per_frame"] = per_frame_cached * 1e3
        row["cache_speedup"] = per_frame_recompute / per_frame_cached
        out[model] = row
        print(f"{model:7s} backbone alone {row['backbone_fps']:6.1f} img/s (cpu/wall {b_ratio:.2f}) | "
              f"end to end {row['end_to_end_fps']:6.1f} fps (cpu/wall {e2e_ratio:.2f}) | ratio {row['ratio']:.2f}")
        print(f"{'':7s} features cached {row['cached_ms_per_frame']:.1f} ms/frame vs recomputed per window "
              f"{row['recompute_ms_per_frame']:.1f} ms/frame: {row['cache_speedup']:.1f}x")
        del backbone
        out[model]["temporal"] = temporal_per_window(model, temporal, setup, crops, layer, smpl_verts, args)
    out["load_avg_end"] = os.getloadavg()[0]
    return out


def bench_refit(video: Path, track: Track, weights: Path, smpl: Path, threads: int, args: argparse.Namespace) -> dict:
    """ReFit's row: backbone alone on its crops (in memory) vs its runner end to end (load excluded)."""
    from backend.models import refit
    from backend.tracking.crops import crop_image_resized

    n = len(track)
    chunks = [c for _, c in iter_crop_chunks(probe(video), track, refit.CROP_SCALE, chunk=64, size=refit.CROP_SIZE,
                                             cut=crop_image_resized)]
    x = torch.from_numpy(np.concatenate(chunks))
    model = refit.load_refit(weights / refit.WEIGHTS_PATH)[0].eval()
    model.backbone.to(memory_format=torch.channels_last)
    batch = refit.CARD.feature_batch

    def backbone_alone() -> None:
        with torch.inference_mode():
            for start in range(0, n, batch):
                model.backbone(x[start:start + batch].contiguous(memory_format=torch.channels_last))

    request = request_for(video, track, weights, smpl, threads, "refit")
    best_b, b_ratio, best_e2e, e2e_ratio, best_timings = float("inf"), 0.0, float("inf"), 0.0, {}
    for _ in range(args.repeats):  # alternate the two measurements
        wall, ratio, _ = timed(backbone_alone, 1)
        if wall < best_b:
            best_b, b_ratio = wall, ratio
        wall, ratio, result = timed(lambda: refit.run(request), 1)
        timings = result.meta["timings"]
        e2e = wall - timings["load_s"]
        if e2e < best_e2e:
            best_e2e, e2e_ratio, best_timings = e2e, ratio, timings
    row = {"backbone_fps": n / best_b, "backbone_cpu_per_wall": b_ratio, "end_to_end_fps": n / best_e2e,
           "end_to_end_cpu_per_wall": e2e_ratio, "ratio": best_b / best_e2e, "ms_per_frame": best_e2e / n * 1e3,
           "backbone_ms_per_frame": best_timings["backbone_s"] / n * 1e3,
           "heads_ms_per_frame": best_timings["heads_s"] / n * 1e3, "best_timings": best_timings}
    # the same ratio measured inside one run (robust to a busy neighbour between the two measurements)
    row["in_run_ratio"] = row["backbone_ms_per_frame"] / row["ms_per_frame"]
    print(f"{'refit':7s} backbone alone {row['backbone_fps']:6.2f} img/s (cpu/wall {b_ratio:.2f}) | "
          f"end to end {row['end_to_end_fps']:6.2f} fps (cpu/wall {e2e_ratio:.2f}) | ratio {row['ratio']:.2f}")
    print(f"{'':7s} {row['ms_per_frame']:.0f} ms/frame end to end: backbone {row['backbone_ms_per_frame']:.0f}, "
          f"heads (5 iterations, SMPL each) {row['heads_ms_per_frame']:.0f}, rest (decode, crops, outputs) "
          f"{row['ms_per_frame'] - row['backbone_ms_per_frame'] - row['heads_ms_per_frame']:.0f}; "
          f"backbone time / end-to-end time in that run {row['in_run_ratio']:.2f}")
    return row


def temporal_per_window(model: str, temporal: torch.nn.Module, setup, crops: dict, layer, smpl_verts,
                        args: argparse.Namespace) -> dict:
    """ms per window, batch of windows as the runner uses: official structure vs cached per-frame work."""
    gen = torch.Generator().manual_seed(0)
    length, batch = PAPER_WINDOW[model], setup.window_batch
    n = batch + length - 1
    feats = torch.relu(torch.randn((n, *setup.feature_shape), generator=gen)) * 0.5
    rows = torch.arange(batch)[:, None] + torch.arange(length)[None]
    call = (lambda w: temporal(w, smpl_verts)) if setup.smpl_in_forward else temporal

    def reference() -> None:
        with torch.inference_mode():
            call(feats[rows])

    def cached() -> None:
        with torch.inference_mode():
            cache = temporal.frame_cache(feats)
            # per-frame work is shared by `length` windows in a long clip: charge it once per frame
            args_ = (cache, rows, smpl_verts) if setup.smpl_in_forward else (cache, rows)
            temporal.forward_cached(*args_)

    def cache_only() -> None:
        with torch.inference_mode():
            temporal.frame_cache(feats)

    results = {}
    for _ in range(args.repeats):
        for name, fn in (("reference", reference), ("cached_total", cached), ("cache_only", cache_only)):
            wall, _, _ = timed(fn, 1)
            results[name] = min(results.get(name, float("inf")), wall)
    # In a clip, each window adds one frame of per-frame work (not `n` frames as in this isolated batch).
    per_window_cached = (results["cached_total"] - results["cache_only"]) / batch + results["cache_only"] / n
    row = {"reference_ms": results["reference"] / batch * 1e3, "cached_ms": per_window_cached * 1e3}
    row["speedup"] = row["reference_ms"] / row["cached_ms"]
    line = (f"{'':7s} temporal model, batch {batch}: official structure {row['reference_ms']:.1f} ms/window, "
            f"cached per-frame work {row['cached_ms']:.1f} ms/window: {row['speedup']:.1f}x")
    if model == "staf":
        row["official_as_written_ms"] = staf_official_as_written(temporal, feats, rows, smpl_verts, args) * 1e3
        line += (f"\n{'':7s} STAF forward computed as the official code does "
                 "(Conv1d MLP, NCHW deconv, broadcast Dmap): "
                 f"{row['official_as_written_ms']:.1f} ms/window -> cached "
                 f"{row['official_as_written_ms'] / row['cached_ms']:.1f}x")
    print(line)
    return row


def staf_official_as_written(temporal, feats, rows, smpl_verts, args) -> float:
    """The reference forward run the way the official code computes it: Conv1d MLP with concatenations,
    NCHW deconvolutions and the Dmap matmul broadcast over the batch (no per-frame caching)."""
    from backend.models.temporal import staf as staf_module

    samplers = list(temporal.maf_extractor)

    def official_points(self, verts, cam):
        return staf_module.project(torch.matmul(self.Dmap.unsqueeze(0), verts), cam)

    def official_reduce(self, feat):
        y = torch.nn.functional.leaky_relu(self.conv0(feat))
        y = torch.nn.functional.leaky_relu(self.conv1(torch.cat([y, feat], 1)))
        return torch.nn.functional.relu(self.conv2(torch.cat([y, feat], 1))).flatten(1)

    def official_deconv(self, i, maps):
        return self.stage(i)(maps.contiguous())

    try:
        for sampler in samplers:
            sampler.mesh_points = official_points.__get__(sampler)
            sampler.reduce = official_reduce.__get__(sampler)
        temporal.deconv = official_deconv.__get__(temporal)
        temporal.to(memory_format=torch.contiguous_format)
        best = float("inf")
        for _ in range(args.repeats):
            wall, _, _ = timed(lambda: temporal(feats[rows], smpl_verts), 1)
            best = min(best, wall)
    finally:
        for sampler in samplers:
            del sampler.mesh_points, sampler.reduce
        del temporal.deconv
        temporal.to(memory_format=torch.channels_last)
    return best / len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loops", type=int, default=3, help="clip length in multiples of the 40-frame sample")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = the cores actually free")
    parser.add_argument("--recompute-windows", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=[*SEED_MODELS, *PER_FRAME_MODELS],
                        choices=[*SEED_MODELS, *PER_FRAME_MODELS])
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    figures = bench(args)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
