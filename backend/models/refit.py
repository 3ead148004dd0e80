"""ReFit (Wang & Daniilidis, ICCV 2023): its card, checkpoint loader and per-frame runner.

The network is `temporal/refit.py` (backbone `backbones/hrnet.py`, heads `heads/refit.py`).
Facts (github.com/yufu-wang/ReFit at 3167cbf; reference notes): the official weights are
`data/pretrain/refit_all/checkpoint_best.pth.tar` (the README's "ReFit weights" Google Drive
folder), a trainer checkpoint with the state dict under `model`, no `module.` prefix expected.
Here the weights folder plays the part of `data/pretrain`: the file goes in
`<weights>/refit_all/checkpoint_best.pth.tar`, keeping the official folder and file names.

Per frame (no window): crop 256 px of the square box side max(w, h) * 1.2 cut as ReFit's demo
cuts it (`tracking/crops.crop_image_resized`), focal sqrt(W^2 + H^2) unless `--focal-length` is
given, principal point at the image centre, CLIFF box vector, 5 iterations, hidden states reset
to zero after the initial estimate. Output in the full-image camera frame: ReFit projects with the
full-image pinhole, so its root orientation needs no view-ray turn and its translation is the
true perspective one (`CropCamera.full_translation`, REFIT.get_trans), not a weak-perspective guess.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from .base import ModelOutput, ModelRequest
from .registry import Checkpoint, ModelCard, register_model

FOLDER = "refit_all"
FILE_NAME = "checkpoint_best.pth.tar"
WEIGHTS_PATH = f"{FOLDER}/{FILE_NAME}"  # relative to the weights folder (ReFit's data/pretrain)
SOURCE = ("ReFit README (github.com/yufu-wang/ReFit), 'ReFit weights': Google Drive folder "
          "19fWadMoAFwxjVVXqS6MkLbOqii22-eCx (earlier READMEs: 1B5V_CiCxwmsnJBGJJjJiLqcRHA6glWxx); download its "
          f"folder {FOLDER} and put it in the weights folder (ReFit's data/pretrain), so the file is {WEIGHTS_PATH}")
DESCRIBES = f"the ReFit checkpoint ({WEIGHTS_PATH})"
CROP_SCALE = 1.2  # DetectDataset(dilate=1.2)
CROP_SIZE = 256  # IMG_RES


def build_refit(official_pairing: bool = False) -> Any:
    from .temporal.refit import ReFit

    return ReFit()


def official_state(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """The official state dict made ready for a strict load into `ReFit`.

    Drops the SMPL-layer buffers (`smpl.`, `smpl_male.`, `smpl_female.`: built from the user's SMPL
    file instead), strips a DataParallel `module.` prefix if every key has one (not expected, not
    verified on the real file), and handles the 18 aliased pairs: both names are the same tensor in
    ReFit, so a missing name is filled from its twin and two names with different values are refused.
    """
    import torch

    from ..core.errors import BackendError, ErrorCode
    from .temporal.refit import ALIASES, SKIP_PREFIXES

    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    kept = {k: v for k, v in state.items() if not k.startswith(SKIP_PREFIXES)}
    for first, second in ALIASES:
        if first in kept and second in kept:
            a, b = kept[first], kept[second]
            if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape \
                    and not torch.equal(a, b):
                raise BackendError(ErrorCode.WEIGHTS_INVALID,
                                   f"{path} is not a consistent ReFit checkpoint: {first} and {second} are one "
                                   "tensor in ReFit but differ in this file; download the official file again")
        elif first in kept:
            kept[second] = kept[first]
        elif second in kept:
            kept[first] = kept[second]
    return kept


def load_refit(path: Path) -> tuple[Any, str]:
    """The official file -> `ReFit` with its weights (strict), and the file's sha256 prefix.

    Read with the safe loader (`torch.load(weights_only=True)`; WEIGHTS_INVALID with the
    convert-checkpoint hint if the file needs unpickling), unwrapped from `model`.
    """
    from .checkpoints import file_digest, load_checkpoint, load_state, unwrap

    path = Path(path)
    state = official_state(unwrap(load_checkpoint(path), "model", path, DESCRIBES), path)
    model = build_refit()
    load_state(model, state, path, DESCRIBES, drop_smpl=False)
    return model, file_digest(path)


CARD = ModelCard(
    name="refit",
    title="ReFit (ICCV 2023)",
    paper="Wang & Daniilidis, ReFit: Recurrent Fitting Network for 3D Human Recovery",
    status="complete: the official checkpoint loads unchanged (strict); per frame, full-image perspective camera",
    backbone="HRNet-W48 + ReFit stages (720x64x64 local map, 384-d global vector)",
    needs_smpl=True,
    default_smooth=1.0,  # per-frame estimates jitter (no temporal window), as for the built-in model
    checkpoints=(Checkpoint(WEIGHTS_PATH, SOURCE, DESCRIBES, wrapper="model", signature="update_block.pose_gru.",
                            build=build_refit, layout="refit", load=load_refit),),
    crop_scale=CROP_SCALE,
    feature_shape=(720, 64, 64),
    feature_batch=4,  # frames per forward on the CPU (x8 on CUDA); 5 iterations of SMPL run per frame
)


def refit_focal(request: ModelRequest) -> tuple[float, str]:
    """(focal px, where it came from): the user's --focal-length, else ReFit's sqrt(W^2 + H^2)."""
    if request.options.get("focal_length_given"):
        return float(request.focal_length), "--focal-length"
    width, height = request.track.image_size
    return math.hypot(width, height), "ReFit default sqrt(W^2 + H^2)"


def crop_camera(bboxes: np.ndarray, focal: float, image_size: tuple[int, int], device: str) -> Any:
    """`CropCamera` for track boxes [B,4] (cx, cy, w, h px): side max(w, h) * 1.2, principal point at the centre."""
    import torch

    from .heads.refit import CropCamera

    bboxes = np.asarray(bboxes, np.float32)
    n = len(bboxes)
    side = np.maximum(np.maximum(bboxes[:, 2], bboxes[:, 3]) * np.float32(CROP_SCALE), np.float32(1.0))  # never 0
    return CropCamera(center=torch.from_numpy(bboxes[:, :2].copy()).to(device),
                      side=torch.from_numpy(side).to(device),
                      focal=torch.full((n,), float(focal), device=device),
                      principal=torch.tensor([[image_size[0] / 2.0, image_size[1] / 2.0]], device=device).expand(n, 2),
                      crop_size=CROP_SIZE)


def estimate_frames(request: ModelRequest, model: Any, vertices: Any, focal: float,
                    batch: int) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every tracked frame through ReFit: pose6d [N,144], shape [N,10], cam [N,3] (crop), transl [N,3]
    (metres, full-image camera frame). Crops are cut one chunk ahead on a helper thread."""
    import torch

    from ..tracking.crops import crop_image_resized, iter_crop_chunks
    from .features import prefetch

    track, events, device = request.track, request.events, request.device
    n = len(track)
    out = {"pose6d": np.zeros((n, 144), np.float32), "shape": np.zeros((n, 10), np.float32),
           "cam": np.zeros((n, 3), np.float32), "transl": np.zeros((n, 3), np.float32)}
    times = {"backbone_s": 0.0, "heads_s": 0.0}
    for stage in ("crops", "features", "refine"):
        events.progress(stage, 0, n)
    done = 0
    chunks = prefetch(lambda: iter_crop_chunks(request.video, track, CROP_SCALE, chunk=batch, size=CROP_SIZE,
                                               cut=crop_image_resized))
    try:
        for rows, crops in chunks:
            events.progress("crops", done + len(rows), n)
            request.check_cancel()
            x = torch.from_numpy(crops).to(device).contiguous(memory_format=torch.channels_last)
            camera = crop_camera(track.bboxes[rows], focal, track.image_size, device)
            with torch.inference_mode():
                tick = time.monotonic()
                feature, z = model.backbone(x)
                times["backbone_s"] += time.monotonic() - tick
                events.progress("features", done + len(rows), n)
                tick = time.monotonic()
                final = model.forward_features(feature, z, camera, vertices)[-1]
                transl = camera.full_translation(final.cam)
                times["heads_s"] += time.monotonic() - tick
            for key, value in (("pose6d", final.pose6d), ("shape", final.shape), ("cam", final.cam),
                               ("transl", transl)):
                out[key][rows] = value.float().cpu().numpy()
            done += len(rows)
            events.progress("refine", done, n)
    finally:
        chunks.close()
    return out, times


def to_output(layer: Any, frames: dict[str, np.ndarray], valid: np.ndarray, focal: float,
              device: str = "cpu") -> ModelOutput:
    """Per-frame network results -> the motion file's model output (camera frame x right, y down, z forward).

    One betas for the clip (median over detected frames). Each frame's translation is moved by
    J0(frame betas) - J0(clip betas) so the pelvis stays exactly where the network put it (SMPL
    rotates about the rest pelvis J0, which depends on the betas).
    """
    import torch

    from ..body.smpl_model import rest_joints, smpl_forward
    from .heads.rotation import rot6d_to_rotmat, rotmat_to_axis_angle
    from .seed_runner import clip_betas
    from .windows import batches

    n = len(frames["pose6d"])
    with torch.inference_mode():
        rotmats = rot6d_to_rotmat(torch.from_numpy(frames["pose6d"])).view(n, 24, 3, 3)
    betas = clip_betas(frames["shape"], valid)
    transl = frames["transl"].astype(np.float64).copy()
    joints = np.zeros((n, 24, 3), np.float32)
    with torch.inference_mode():
        b = torch.from_numpy(betas).to(device)
        eye = torch.eye(3, device=device).expand(1, 24, 3, 3)
        j0_clip = smpl_forward(layer, eye, b[None])[1][0, 0].cpu().numpy()
        for part in batches(n, 256):
            shapes = torch.from_numpy(frames["shape"][part]).to(device)
            j0 = smpl_forward(layer, eye.expand(len(shapes), -1, -1, -1), shapes)[1][:, 0].cpu().numpy()
            transl[part] += j0 - j0_clip
            _, j = smpl_forward(layer, rotmats[part].to(device), b.expand(len(shapes), -1))
            joints[part] = j.cpu().numpy()
    return ModelOutput(
        poses=rotmat_to_axis_angle(rotmats.numpy()),
        betas=betas,
        transl=transl.astype(np.float32),
        cam=frames["cam"],
        rest_joints=rest_joints(layer, betas),
        focal_length=float(focal),
        joints3d=(joints + transl[:, None]).astype(np.float32),
    )


@register_model(CARD)
def run(request: ModelRequest) -> ModelOutput:
    """ReFit on the request's track: load (strict, safe), crops, backbone + 5 iterations per frame, outputs."""
    import torch

    from ..body.smpl_model import load_smpl_layer, require_smpl
    from ..body.smpl_subset import SmplVertexSubset
    from ..core.threads import auto_threads
    from .heads.refit import MARKER_VERTICES

    started = time.monotonic()
    CARD.require_weights(request.weights_dir)
    require_smpl(request.smpl_dir)
    threads = request.threads or auto_threads()
    torch.set_num_threads(threads)
    device = request.device
    model, digest = load_refit(request.weights_dir / WEIGHTS_PATH)
    model = model.to(device).eval()
    model.backbone.to(memory_format=torch.channels_last)
    layer = load_smpl_layer(request.smpl_dir, device)
    vertices = SmplVertexSubset(layer, MARKER_VERTICES).to(device)  # the markers only: same values, ~25x cheaper
    timings = {"load_s": time.monotonic() - started}

    focal, focal_from = refit_focal(request)
    batch = CARD.feature_batch * (8 if device == "cuda" else 1)
    frames, times = estimate_frames(request, model, vertices, focal, batch)
    timings.update(times)
    del model
    tick = time.monotonic()
    n = len(request.track)
    request.events.progress("smpl", 0, n)
    output = to_output(layer, frames, request.track.valid, focal, device)
    request.events.progress("smpl", n, n)
    timings["smpl_s"] = time.monotonic() - tick
    output.meta = {"crop_scale": CROP_SCALE, "crop_size": CROP_SIZE, "iterations": 5, "threads": threads,
                   "focal_from": focal_from, "weights_sha256": {WEIGHTS_PATH: digest}, "view_ray_root": False,
                   "timings": {k: round(v, 3) for k, v in timings.items()}}
    return output
