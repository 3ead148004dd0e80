"""Runs TCMR, MPS-Net, STAF and STR on a tracked person: crops -> features -> windows -> SMPL parameters.

What every run does, and why:
- threads: torch uses `request.threads`, or the cores actually free (`threads.auto_threads`);
- crops at the scale the model's demo crops with (TCMR 1.2, MPS-Net/STAF 1.1), and the camera
  is converted with that same scale (the MPS-Net/STAF demos crop at 1.1 but convert with 1.2);
- the backbone runs once per frame, in batches; window-independent per-frame work of the
  temporal model is cached and reused by every window (`windows.RollingCache`);
- all windows run in batches, each window independent of its batch neighbours, unless
  `options['official_batching']` asks for the official MoCA/TCFM batch pairing (published
  numbers only), which also uses the demos' batch sizes (64 MPS-Net, 16 STAF);
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..body.smpl_model import load_smpl_layer, require_smpl, rest_joints, smpl_forward
from ..core.threads import auto_threads
from ..geometry import camera
from .backbones.hmr import SpinHMR
from .backbones.pymaf import PyMAFBackbone
from .base import ModelOutput, ModelRequest
from .checkpoints import load_into
from .features import extract_features
from .heads.rotation import rot6d_to_rotmat, rotmat_to_axis_angle
from .registry import get_spec
from .temporal.mpsnet import MPSNet
from .temporal.staf import STAF
from .temporal.str_net import FILE_NAME as STR_FILE
from .temporal.str_net import STR, load_str_checkpoint
from .temporal.tcmr import TCMR
from .windows import RollingCache, batches, window_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedSetup:
    """How one seed model is assembled from its official files."""

    name: str
    title: str
    backbone_file: str
    backbone_title: str
    backbone_only: str  # key prefix of the backbone inside its checkpoint
    model_file: str
    build_backbone: Callable[[], torch.nn.Module]
    build_model: Callable[[bool], torch.nn.Module]
    feature_shape: tuple[int, ...]
    crop_scale: float
    window_batch: int  # windows per batch on the CPU
    official_batch: int  # the demo's window batch size (matters only with the official pairing)
    model_uses_smpl: bool = False
    #: builds the temporal model from its file when the layout is not an official one (STR: ours, with its sizes)
    load_model: Callable[[Path], tuple[torch.nn.Module, str]] | None = None


SETUPS: dict[str, SeedSetup] = {
    "tcmr": SeedSetup("tcmr", "a TCMR checkpoint (tcmr_demo_model.pth.tar)", "spin_model_checkpoint.pth.tar",
                      "the SPIN backbone (spin_model_checkpoint.pth.tar)", "", "tcmr_demo_model.pth.tar",
                      SpinHMR, lambda official: TCMR(), (2048,), TCMR.crop_scale, 64, 64),
    "mpsnet": SeedSetup("mpsnet", "an MPS-Net checkpoint (mpsnet_model_best.pth.tar)",
                        "spin_model_checkpoint.pth.tar", "the SPIN backbone (spin_model_checkpoint.pth.tar)", "",
                        "mpsnet_model_best.pth.tar", SpinHMR, MPSNet, (2048,), MPSNet.crop_scale, 64, 64),
    "staf": SeedSetup("staf", "a STAF checkpoint (3dpw_model_best.pth.tar)", "base_model.pt",
                      "the STAF/PyMAF backbone (base_model.pt)", "feature_extractor.", "3dpw_model_best.pth.tar",
                      PyMAFBackbone, STAF, (2048, 7, 7), STAF.crop_scale, 16, 16, model_uses_smpl=True),
    "str": SeedSetup("str", f"an STR checkpoint written by `backend train str` ({STR_FILE})",
                     "spin_model_checkpoint.pth.tar", "the SPIN backbone (spin_model_checkpoint.pth.tar)", "",
                     STR_FILE, SpinHMR, lambda official: STR(), (2048,), STR.crop_scale, 64, 64,
                     load_model=load_str_checkpoint),
}


def load_backbone(setup: SeedSetup, weights_dir, device: str) -> tuple[torch.nn.Module, str]:
    """The backbone from its official file (strict), in eval mode with channels-last weights."""
    backbone = setup.build_backbone()
    digest = load_into(backbone, weights_dir / setup.backbone_file, "model", setup.backbone_title, setup.backbone_only)
    return backbone.to(device).eval().to(memory_format=torch.channels_last), digest


def load_temporal(setup: SeedSetup, weights_dir, device: str,
                  official_pairing: bool = False) -> tuple[torch.nn.Module, str]:
    """The temporal model from the official `gen_state_dict` (strict, SMPL-layer keys dropped), or its own loader."""
    if setup.load_model is not None:
        model, digest = setup.load_model(weights_dir / setup.model_file)
        return model.to(device).eval(), digest
    model = setup.build_model(official_pairing)
    digest = load_into(model, weights_dir / setup.model_file, "gen_state_dict", setup.title)
    return model.to(device).eval().to(memory_format=torch.channels_last), digest


def load_models(setup: SeedSetup, weights_dir, device: str,
                official_pairing: bool = False) -> tuple[torch.nn.Module, torch.nn.Module, dict[str, str]]:
    backbone, backbone_digest = load_backbone(setup, weights_dir, device)
    model, model_digest = load_temporal(setup, weights_dir, device, official_pairing)
    return backbone, model, {setup.backbone_file: backbone_digest, setup.model_file: model_digest}


def run_windows(model: torch.nn.Module, setup: SeedSetup, features, n: int, window: int, batch: int,
                smpl: Callable | None, device: str, progress: Callable[[int, int], None] | None = None,
                check_cancel: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every frame's window through the temporal model, `batch` windows at a time, in frame order.

    `features(lo, hi)` returns the backbone features of frames [lo, hi) as a tensor.
    Returns pose6d [N, 144], betas [N, 10], cam [N, 3].
    """
    rows = window_rows(n, window)
    cache = RollingCache(lambda lo, hi: model.frame_cache(features(lo, hi).to(device)))
    out_pose, out_shape, out_cam = np.zeros((n, 144), np.float32), np.zeros((n, 10), np.float32), np.zeros((n, 3),
                                                                                                         np.float32)
    done = 0
    for part in batches(n, batch):
        if check_cancel is not None:
            check_cancel()
        lo, hi = int(rows[part].min()), int(rows[part].max()) + 1
        with torch.inference_mode():
            data = cache.span(lo, hi)
            local = torch.as_tensor(rows[part] - lo, device=device)
            args = (data, local, smpl) if setup.model_uses_smpl else (data, local)
            pose, shape, cam = model.forward_cached(*args)
        out_pose[part], out_shape[part], out_cam[part] = (t.float().cpu().numpy() for t in (pose, shape, cam))
        done = part.stop
        if progress is not None:
            progress(done, n)
    return out_pose, out_shape, out_cam


def clip_betas(shapes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """One body shape for the clip: the per-coefficient median over detected frames."""
    use = shapes[valid] if np.any(valid) else shapes
    return np.median(use, axis=0).astype(np.float32)


def run_seed(request: ModelRequest, setup: SeedSetup) -> ModelOutput:
    started = time.monotonic()
    spec = get_spec(setup.name)
    window = spec.resolve_window(request.window)
    threads = request.threads or auto_threads()
    torch.set_num_threads(threads)
    weights_dir = request.weights_dir
    spec.require_weights(weights_dir)
    require_smpl(request.smpl_dir)
    official = bool(request.options.get("official_batching", False))
    device = request.device
    track, events, n = request.track, request.events, len(request.track)

    backbone, model, digests = load_models(setup, weights_dir, device, official)
    layer = load_smpl_layer(request.smpl_dir, device)
    timings = {"load_s": time.monotonic() - started}

    tick = time.monotonic()
    store = extract_features(request, backbone, setup.crop_scale, setup.feature_shape,
                             batch=64 if device == "cuda" else 8)
    del backbone
    timings["features_s"] = time.monotonic() - tick
    try:
        tick = time.monotonic()
        smpl_verts = (lambda rot, betas: smpl_forward(layer, rot, betas)[0]) if setup.model_uses_smpl else None
        batch = setup.official_batch if official else (setup.window_batch * (4 if device == "cuda" else 1))
        events.progress("temporal", 0, n)
        pose6d, shapes, cam = run_windows(model, setup, lambda lo, hi: store.get(lo, hi), n, window, batch,
                                          smpl_verts, device, lambda d, t: events.progress("temporal", d, t),
                                          request.check_cancel)
        timings["temporal_s"] = time.monotonic() - tick
    finally:
        store.close()

    tick = time.monotonic()
    events.progress("smpl", 0, n)
    with torch.inference_mode():
        rotmats = rot6d_to_rotmat(torch.from_numpy(pose6d)).view(n, 24, 3, 3).numpy().astype(np.float64)
    centres = track.bboxes[:, :2].astype(np.float64)
    rotmats[:, 0] = camera.view_ray_rotation(centres, request.focal_length, track.image_size) @ rotmats[:, 0]
    betas = clip_betas(shapes, track.valid)
    transl = camera.weak_perspective_to_translation(cam.astype(np.float64), track.bboxes.astype(np.float64),
                                                    setup.crop_scale, request.focal_length, track.image_size)
    joints = np.zeros((n, 24, 3), np.float32)
    with torch.inference_mode():
        b = torch.from_numpy(betas).to(device)
        for part in batches(n, 256):
            rot = torch.from_numpy(rotmats[part].astype(np.float32)).to(device)
            _, j = smpl_forward(layer, rot, b.expand(len(rot), -1))
            joints[part] = j.cpu().numpy()
            events.progress("smpl", part.stop, n)
    rest = rest_joints(layer, betas)
    timings["smpl_s"] = time.monotonic() - tick
    return ModelOutput(
        poses=rotmat_to_axis_angle(rotmats),
        betas=betas,
        transl=transl.astype(np.float32),
        cam=cam,
        rest_joints=rest,
        focal_length=request.focal_length,
        joints3d=(joints + transl[:, None]).astype(np.float32),
        meta={"crop_scale": setup.crop_scale, "threads": threads, "weights_sha256": digests, "view_ray_root": True,
              "official_batching": official, "window_batch": batch,
              "timings": {k: round(v, 3) for k, v in timings.items()}},
    )


def run_tcmr(request: ModelRequest) -> ModelOutput:
    return run_seed(request, SETUPS["tcmr"])


def run_mpsnet(request: ModelRequest) -> ModelOutput:
    return run_seed(request, SETUPS["mpsnet"])


def run_staf(request: ModelRequest) -> ModelOutput:
    return run_seed(request, SETUPS["staf"])


def run_str(request: ModelRequest) -> ModelOutput:
    return run_seed(request, SETUPS["str"])
