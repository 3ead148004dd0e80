"""Runs TCMR, MPS-Net, STAF and STR on a tracked person: crops -> features -> windows -> SMPL parameters.

What every run does, and why:
- threads: torch uses `request.threads`, or the cores actually free (`threads.auto_threads`);
- crops at the scale the model's demo crops with (TCMR 1.2, MPS-Net/STAF 1.1), and the camera
  is converted with that same scale (the MPS-Net/STAF demos crop at 1.1 but convert with 1.2);
- the backbone runs once per frame, in batches; window-independent per-frame work of the
  temporal model is cached and reused by every window (`windows.RollingCache`);
- all windows run in batches, each window independent of its batch neighbours, unless
  `options['official_batching']` asks for the official MoCA/TCFM batch pairing with the demos'
  batch sizes (64 MPS-Net, 16 STAF), which reproduces the official demo's output (not the papers'
  evaluation: MPS-Net's `evaluate.py` runs 8 windows per forward, STAF's batches 16 over sliding
  windows only);
- edge frames get static windows as in the demos, and row i is always frame i;
- one betas for the clip (median over detected frames), rest joints from it, posed joints from
  the SMPL layer built from the user's SMPL_NEUTRAL.npz;
- the crop-aligned global orientation is turned onto the viewing ray through the box centre
  (`camera.view_ray_rotation`), since the motion file is in the full-image camera frame.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..body.smpl_model import load_smpl_layer, require_smpl, rest_joints, smpl_forward
from ..core.threads import auto_threads
from ..geometry import camera
from .base import ModelOutput, ModelRequest
from .checkpoints import load_into
from .features import extract_features
from .heads.rotation import rot6d_to_rotmat, rotmat_to_axis_angle
from .registry import ModelCard
from .windows import RollingCache, batches, predict_windows, window_rows

log = logging.getLogger(__name__)


def load_backbone(card: ModelCard, weights_dir: Path, device: str) -> tuple[torch.nn.Module, str]:
    """The backbone from its official file (strict), in eval mode with channels-last weights."""
    spec = card.checkpoints[0]
    backbone = spec.build()
    digest = load_into(backbone, weights_dir / spec.file, spec.wrapper, spec.describes, spec.only)
    return backbone.to(device).eval().to(memory_format=torch.channels_last), digest


def load_temporal(card: ModelCard, weights_dir: Path, device: str,
                  official_pairing: bool = False) -> tuple[torch.nn.Module, str]:
    """The temporal model from the official `gen_state_dict` (strict, SMPL-layer keys dropped), or from
    the checkpoint's own loader when its layout is ours (STR)."""
    spec = card.checkpoints[1]
    if spec.load is not None:
        model, digest = spec.load(weights_dir / spec.file)
        return model.to(device).eval(), digest
    model = spec.build(official_pairing)
    digest = load_into(model, weights_dir / spec.file, spec.wrapper, spec.describes, spec.only)
    return model.to(device).eval().to(memory_format=torch.channels_last), digest


def load_models(card: ModelCard, weights_dir: Path, device: str,
                official_pairing: bool = False) -> tuple[torch.nn.Module, torch.nn.Module, dict[str, str]]:
    backbone, backbone_digest = load_backbone(card, weights_dir, device)
    model, model_digest = load_temporal(card, weights_dir, device, official_pairing)
    return backbone, model, {card.checkpoints[0].file: backbone_digest, card.checkpoints[1].file: model_digest}


def run_windows(model: torch.nn.Module, card: ModelCard, features, n: int, window: int, batch: int,
                smpl: Callable | None, device: str, progress: Callable[[int, int], None] | None = None,
                check_cancel: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every frame's window through the temporal model, `batch` windows at a time, in frame order.

    `features(lo, hi)` returns the backbone features of frames [lo, hi) as a tensor.
    Returns pose6d [N, 144], betas [N, 10], cam [N, 3].
    """
    cache = RollingCache(lambda lo, hi: model.frame_cache(features(lo, hi).to(device)))

    def infer(data: Any, local: torch.Tensor, part: slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One batch of windows from the cached per-frame data (the SMPL layer too when the model wants it)."""
        return model.forward_cached(*((data, local, smpl) if card.smpl_in_forward else (data, local)))

    return predict_windows(n, window_rows(n, window), batch, cache, device, infer, progress, check_cancel)


def clip_betas(shapes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """One body shape for the clip: the per-coefficient median over detected frames."""
    use = shapes[valid] if np.any(valid) else shapes
    return np.median(use, axis=0).astype(np.float32)


def run_seed(request: ModelRequest, card: ModelCard) -> ModelOutput:
    """One seed model (its card) on the request's track, stage by stage: load, features, windows,
    outputs. Every field of the output is filled in; `meta` records the stages' timings."""
    started = time.monotonic()
    window = card.resolve_window(request.window)
    official = bool(request.options.get("official_batching", False))
    threads = request.threads or auto_threads()
    torch.set_num_threads(threads)
    batch = card.official_batch if official else (card.window_batch * (4 if request.device == "cuda" else 1))

    backbone, model, layer, digests = load(request, card, official)
    timings = {"load_s": time.monotonic() - started}
    tick = time.monotonic()
    store = features(request, card, backbone)
    del backbone
    timings["features_s"] = time.monotonic() - tick
    try:
        tick = time.monotonic()
        pose6d, shapes, cam = windows(request, card, model, store, layer, window, batch)
        timings["temporal_s"] = time.monotonic() - tick
    finally:
        store.close()
    tick = time.monotonic()
    output = outputs(request, card, layer, pose6d, shapes, cam)
    timings["smpl_s"] = time.monotonic() - tick
    output.meta = {"crop_scale": card.crop_scale, "threads": threads, "weights_sha256": digests,
                   "view_ray_root": True, "official_batching": official, "window_batch": batch,
                   "timings": {k: round(v, 3) for k, v in timings.items()}}
    return output


def load(request: ModelRequest, card: ModelCard,
         official: bool) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module, dict[str, str]]:
    """Backbone, temporal model and SMPL layer from the user's files; (backbone, model, layer, sha256 prefixes).
    Checks the files again so the runner is safe to call on its own (the pipeline checked them already)."""
    card.require_weights(request.weights_dir)
    require_smpl(request.smpl_dir)
    backbone, model, digests = load_models(card, request.weights_dir, request.device, official)
    return backbone, model, load_smpl_layer(request.smpl_dir, request.device), digests


def features(request: ModelRequest, card: ModelCard, backbone: torch.nn.Module) -> Any:
    """The backbone's features of every frame's crop, computed once (a store with `get(lo, hi)` and `close()`)."""
    return extract_features(request, backbone, card.crop_scale, card.feature_shape,
                            batch=card.feature_batch * (8 if request.device == "cuda" else 1))


def windows(request: ModelRequest, card: ModelCard, model: torch.nn.Module, store: Any, layer: torch.nn.Module,
            window: int, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every frame's window through the temporal model: pose6d [N, 144], betas [N, 10], crop camera [N, 3]."""
    n, events = len(request.track), request.events
    smpl_verts = (lambda rot, betas: smpl_forward(layer, rot, betas)[0]) if card.smpl_in_forward else None
    events.progress("temporal", 0, n)
    return run_windows(model, card, lambda lo, hi: store.get(lo, hi), n, window, batch, smpl_verts, request.device,
                       lambda d, t: events.progress("temporal", d, t), request.check_cancel)


def outputs(request: ModelRequest, card: ModelCard, layer: torch.nn.Module, pose6d: np.ndarray,
            shapes: np.ndarray, cam: np.ndarray) -> ModelOutput:
    """Rotations in the full-image camera frame, one betas for the clip, translation from the crop
    camera, rest and posed joints from the SMPL layer."""
    track, events, n, device = request.track, request.events, len(request.track), request.device
    events.progress("smpl", 0, n)
    with torch.inference_mode():
        rotmats = rot6d_to_rotmat(torch.from_numpy(pose6d)).view(n, 24, 3, 3).numpy().astype(np.float64)
    centres = track.bboxes[:, :2].astype(np.float64)
    rotmats[:, 0] = camera.view_ray_rotation(centres, request.focal_length, track.image_size) @ rotmats[:, 0]
    betas = clip_betas(shapes, track.valid)
    transl = camera.weak_perspective_to_translation(cam.astype(np.float64), track.bboxes.astype(np.float64),
                                                    card.crop_scale, request.focal_length, track.image_size)
    joints = np.zeros((n, 24, 3), np.float32)
    with torch.inference_mode():
        b = torch.from_numpy(betas).to(device)
        for part in batches(n, 256):
            rot = torch.from_numpy(rotmats[part].astype(np.float32)).to(device)
            _, j = smpl_forward(layer, rot, b.expand(len(rot), -1))
            joints[part] = j.cpu().numpy()
            events.progress("smpl", part.stop, n)
    return ModelOutput(
        poses=rotmat_to_axis_angle(rotmats),
        betas=betas,
        transl=transl.astype(np.float32),
        cam=cam,
        rest_joints=rest_joints(layer, betas),
        focal_length=request.focal_length,
        joints3d=(joints + transl[:, None]).astype(np.float32),
    )
