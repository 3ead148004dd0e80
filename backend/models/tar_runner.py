"""Runs TAR on a tracked person: ReFit crops -> per-frame (global vector, correlation map) -> windows -> SMPL.

- the model: our trained `tar_model.pth.tar` when the weights folder has it, else TAR initialised from
  ReFit's `checkpoint_best.pth.tar` (GTE and LTE untrained; a TAR_UNTRAINED warning says so);
- crops as ReFit's demo cuts them (`crops.crop_image_resized`: square of 1.2 x the box's longer side,
  `crop_size` px), and ReFit's camera (`refit.crop_camera`, focal `refit.refit_focal`: sqrt(W^2 + H^2)
  unless --focal-length is given, principal point at the image centre);
- per-frame work once: the backbone and `corr_layer` of every frame (z [384] and the 67-channel map),
  kept in a `FeatureStore` (RAM, or a temporary file past its budget);
- one window of T = 9 frames per output frame, stride 1, edge frames padded as every model here pads
  (`windows.window_rows`); the L = 5 local maps are the window's middle five; windows in batches,
  each independent of its batch neighbours;
- outputs as ReFit's (`refit.to_output`): the result is already in the full-image camera's frame
  (ReFit/CLIFF's full-image projection), the translation is the crop camera's exact full-image
  translation (`CropCamera.full_translation`), not a weak-perspective conversion; one betas for the
  clip (median over detected frames), the pelvis kept where the network put it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..body.smpl_model import load_smpl_layer, require_smpl
from ..body.smpl_subset import SmplVertexSubset
from ..core.threads import auto_threads
from ..tracking.crops import crop_image_resized, iter_crop_chunks
from .base import ModelOutput, ModelRequest
from .checkpoints import file_digest
from .features import FeatureStore, stream_features
from .heads.refit import MARKER_VERTICES, CropCamera
from .refit import crop_camera, refit_focal, to_output
from .registry import ModelCard
from .temporal.tar_net import FILE_NAME, GLOBAL_DIM, TAR
from .windows import RollingCache, predict_windows, window_rows


def load(request: ModelRequest, card: ModelCard) -> tuple[TAR, dict[str, str], str]:
    """(model in eval mode on the device, {file: sha256 prefix}, how it was initialised: 'trained' or 'refit')."""
    from .tar import load_tar, refit_init

    trained = Path(request.weights_dir) / FILE_NAME
    if trained.is_file():
        model, digests, init = load_tar(trained), {FILE_NAME: file_digest(trained)}, "trained"
    else:
        card.require_weights(request.weights_dir)
        spec = card.checkpoints[0]
        path = Path(request.weights_dir) / spec.file
        model, untrained = refit_init(path)
        digests, init = {spec.file: file_digest(path)}, "refit"
        request.events.warning("TAR_UNTRAINED", f"{trained} not found: TAR runs initialised from ReFit's {path} with "
                                                f"its {len(untrained)} GTE and LTE tensors untrained, so its motion "
                                                "is not TAR's; train TAR (`python -m backend train tar`, README "
                                                "'TAR') or use --model refit")
    return model.to(request.device).eval(), digests, init


def cameras(request: ModelRequest, rows: np.ndarray, crop_size: int, focal: float) -> CropCamera:
    """ReFit's crop cameras of track rows `rows` (full-image pixels), for crops of `crop_size` px."""
    track = request.track
    return replace(crop_camera(track.bboxes[rows], focal, track.image_size, request.device), crop_size=crop_size)


def frame_features(request: ModelRequest, card: ModelCard, model: TAR) -> FeatureStore:
    """Every frame's [z (384), corr map (67 x h x w) flattened] through the backbone and corr_layer, once."""
    size = model.config.crop_size
    batch = card.feature_batch * (8 if request.device == "cuda" else 1)

    def encode(crops: np.ndarray) -> torch.Tensor:
        """ReFit crops [B, 3, S, S] -> [B, 384 + 67 (S/4)^2]: the global vector and the flattened correlation map."""
        z, corr = model.frame_features(torch.from_numpy(crops).to(request.device))
        return torch.cat([z, corr.flatten(1)], dim=1)

    return stream_features(request, (GLOBAL_DIM + 67 * (size // 4) ** 2,),
                           lambda: iter_crop_chunks(request.video, request.track, card.crop_scale or 1.2, chunk=batch,
                                                    size=size, cut=crop_image_resized), encode)


def run_windows(model: TAR, features: Callable[[int, int], torch.Tensor], camera_of: Callable[[np.ndarray], CropCamera],
                vertices: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], n: int, batch: int, device: str,
                progress: Callable[[int, int], None] | None = None,
                check_cancel: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every frame's window through TAR, `batch` windows at a time, in frame order.

    `features(lo, hi)`: frames [lo, hi) as [k, 384 + 67 h w]; `camera_of(rows)`: the crops of those rows.
    Returns pose6d [N, 144], betas [N, 10], crop camera [N, 3] of each frame (its window's mid-frame).
    """
    cfg = model.config
    side = cfg.crop_size // 4
    rows = window_rows(n, cfg.seq_len)
    span = model.local_span()

    def split(lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = features(lo, hi).to(device)
        return x[:, :GLOBAL_DIM], x[:, GLOBAL_DIM:].view(len(x), 67, side, side)

    cache = RollingCache(split)

    def infer(data: tuple[torch.Tensor, torch.Tensor], local: torch.Tensor,
              part: slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One batch of windows: GTE on the whole window, LTE on its middle L maps; the last RRM update."""
        z, corr = data
        result = model.forward_windows(z[local], corr[local[:, span]], camera_of(np.arange(part.start, part.stop)),
                                       vertices)[-1]
        return result.pose6d, result.shape, result.cam

    return predict_windows(n, rows, batch, cache, device, infer, progress, check_cancel)


def run(request: ModelRequest, card: ModelCard) -> ModelOutput:
    """TAR on the request's track; every field of the output filled in, `meta` with timings and provenance."""
    started = time.monotonic()
    card.resolve_window(request.window)
    threads = request.threads or auto_threads()
    torch.set_num_threads(threads)
    require_smpl(request.smpl_dir)
    model, digests, init = load(request, card)
    layer = load_smpl_layer(request.smpl_dir, request.device)
    timings = {"load_s": time.monotonic() - started}
    tick = time.monotonic()
    store = frame_features(request, card, model)
    timings["features_s"] = time.monotonic() - tick
    n, events, size = len(request.track), request.events, model.config.crop_size
    batch = card.window_batch * (4 if request.device == "cuda" else 1)
    focal, focal_from = refit_focal(request)
    try:
        tick = time.monotonic()
        events.progress("temporal", 0, n)
        pose6d, shapes, cam = run_windows(
            model, lambda lo, hi: store.get(lo, hi), lambda rows: cameras(request, rows, size, focal),
            SmplVertexSubset(layer, MARKER_VERTICES).to(request.device), n, batch, request.device,
            lambda d, t: events.progress("temporal", d, t), request.check_cancel)
        timings["temporal_s"] = time.monotonic() - tick
    finally:
        store.close()
    tick = time.monotonic()
    events.progress("smpl", 0, n)
    with torch.inference_mode():
        transl = cameras(request, np.arange(n), size, focal).full_translation(torch.from_numpy(cam).to(request.device))
    frames = {"pose6d": pose6d, "shape": shapes, "cam": cam, "transl": transl.cpu().numpy()}
    output = to_output(layer, frames, request.track.valid, focal, request.device)
    events.progress("smpl", n, n)
    timings["smpl_s"] = time.monotonic() - tick
    output.meta = {"crop_scale": card.crop_scale, "crop_size": size, "iterations": 5, "focal_from": focal_from,
                   "view_ray_root": False, "threads": threads, "weights_sha256": digests,
                   "tar_init": init, "window_batch": batch, "config": model.config.to_dict(),
                   "timings": {k: round(v, 3) for k, v in timings.items()}}
    return output
