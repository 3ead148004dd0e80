"""`backend run`: video -> track -> model -> post -> motion file, one stage after another."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..core import cancel, config
from ..core.errors import BackendError, ErrorCode
from ..core.events import EventStream
from ..core.motion_file import Motion, check_writable, write_motion_file
from ..core.run_options import RunOptions
from ..geometry import camera
from ..geometry.skeleton import forward_kinematics
from ..models.base import ModelOutput, ModelRequest
from ..models.registry import ModelCard, get_card
from ..tracking.track import Track, Tracker, build_track, choose_person
from ..tracking.video import FrameRange, VideoInfo, iter_frames, probe
from . import grounding, post

log = logging.getLogger(__name__)


def resolve_device(requested: str, card: ModelCard) -> str:
    """auto -> cuda when torch sees a GPU (torch models only); cuda without a GPU is an error."""
    if card.backbone is None:
        return "cpu"  # MediaPipe's Python package runs on the CPU only
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise BackendError(ErrorCode.BAD_ARGUMENT, "--device cuda: torch sees no CUDA GPU; use --device cpu, "
                           "or reinstall the backend with `install_deps.py --cuda`")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def check_inputs(card: ModelCard, weights_dir: Path, smpl_dir: Path) -> None:
    """Fail in a second, before decoding anything, when the model cannot run or a file is missing."""
    card.require_finished()
    card.require_weights(weights_dir)
    if card.needs_smpl and not (smpl_dir / "SMPL_NEUTRAL.npz").is_file():
        raise BackendError(ErrorCode.SMPL_MISSING,
                           f"model '{card.name}' needs the SMPL body model: {smpl_dir / 'SMPL_NEUTRAL.npz'} not found; "
                           "register at smpl.is.tue.mpg.de, then run `python -m backend convert-smpl "
                           "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl --out SMPL_NEUTRAL.npz` into that folder, "
                           "or pass --smpl-dir")


def detect_and_track(info: VideoInfo, frames: FrameRange, events: EventStream,
                     max_people: int, person: int | None) -> Track:
    """Stream the frames through MediaPipe, following every person; keep the chosen one."""
    from ..tracking.landmarks import PoseLandmarks

    wanted = frames.frame_ids(info.frame_count)
    total = len(wanted)
    tracker = Tracker()
    decoded: list[int] = []
    events.progress("detect", 0, total)
    with PoseLandmarks(max_people=max_people) as detector:
        for row, (frame_id, rgb) in enumerate(iter_frames(info, frames)):
            cancel.check()
            tracker.update(row, detector.detect(rgb, frame_id * 1000.0 / info.fps))
            decoded.append(frame_id)
            events.progress("detect", row + 1, total)
    if not decoded:
        raise BackendError(ErrorCode.VIDEO_UNREADABLE,
                           f"no frame of {info.path} could be decoded in the range asked for")
    if len(decoded) < total:
        events.warning("VIDEO_SHORT", f"{info.path} holds {len(decoded)} of the {total} frames its header promised; "
                                      "converted the frames that exist")
    chosen = choose_person(tracker, person, str(info.path))
    track = build_track(tracker, chosen, np.asarray(decoded, np.int32), (info.width, info.height))
    people = len(tracker.tracks)
    gaps = int((~track.valid).sum())
    if gaps:
        events.warning("TRACK_GAP", f"person {chosen} was not detected in {gaps} of {len(track)} frames; "
                                    "those frames are interpolated and marked valid=False")
    log.info("tracked %d people; person %d valid in %d/%d frames", people, chosen, track.valid.sum(), len(track))
    return track


def ground_stage(output: ModelOutput, fps: float, options: RunOptions,
                 events: EventStream) -> grounding.GroundResult:
    """Contacts, floor and foot locking on any model's output (after smoothing); updates `output`."""
    events.progress("ground", 0, 1)
    result = grounding.ground_motion(output.poses, output.transl, output.rest_joints, fps,
                                     foot_lock=options.foot_lock, ground=options.ground)
    output.poses, output.transl = result.poses, result.transl
    output.joints3d = forward_kinematics(output.poses, output.rest_joints, output.transl).astype(np.float32)
    for message in result.warnings:
        events.warning("GROUND", message)
    events.progress("ground", 1, 1)
    return result


def run(options: RunOptions, events: EventStream) -> Path:
    started = time.monotonic()
    card = get_card(options.model)
    window = card.resolve_window(options.window)
    smooth = card.default_smooth if options.smooth is None else options.smooth
    if smooth < 0:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--smooth {smooth}: must be 0 (off) or positive")
    if options.ground not in grounding.GROUND_MODES:
        raise BackendError(ErrorCode.BAD_ARGUMENT,
                           f"--ground {options.ground}: must be one of {', '.join(grounding.GROUND_MODES)}")
    if options.focal_length is not None and options.focal_length <= 0:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--focal-length {options.focal_length}: must be positive pixels")
    out = Path(options.out).expanduser().absolute()
    check_writable(out)
    weights_dir, smpl_dir = config.weights_dir(options.weights_dir), config.smpl_dir(options.smpl_dir)
    check_inputs(card, weights_dir, smpl_dir)
    device = resolve_device(options.device, card)
    frames = FrameRange.parse(options.frames, options.stride)
    info = probe(Path(options.video).expanduser())
    if len(frames.frame_ids(info.frame_count)) == 0:
        raise BackendError(ErrorCode.BAD_ARGUMENT,
                           f"--frames {options.frames}: {info.path} has only {info.frame_count} frames")
    track = detect_and_track(info, frames, events, options.max_people, options.person)
    cancel.check()

    focal = options.focal_length or camera.default_focal_length(info.width, info.height)
    request = ModelRequest(video=info, track=track, window=window, device=device, weights_dir=weights_dir,
                           smpl_dir=smpl_dir, threads=options.threads, focal_length=focal, events=events,
                           check_cancel=cancel.check, options={"official_batching": options.official_batching})
    output = card.run(request)
    cancel.check()

    events.progress("post", 0, 1)
    output = post.finish(output, track, info.fps * 1.0 / frames.stride, smooth, focal)
    events.progress("post", 1, 1)
    grounded = ground_stage(output, info.fps / frames.stride, options, events)
    meta = {
        "backend_version": __version__,
        "video": str(info.path),
        "source_fps": info.fps,
        "stride": frames.stride,
        "person_id": track.person_id,
        "device": device,
        "smooth": smooth,
        "camera": {"model": "pinhole", "focal_length_px": output.focal_length,
                   "principal_point": [info.width / 2.0, info.height / 2.0]},
        "seconds": round(time.monotonic() - started, 3),
        **output.meta,
        "grounding": grounded.meta,
    }
    motion = Motion(
        poses=output.poses, betas=output.betas, transl=output.transl, valid=track.valid,
        frame_ids=track.frame_ids, fps=info.fps / frames.stride, bboxes=track.bboxes, cam=output.cam,
        rest_joints=output.rest_joints, model=card.name, window=window or 0, meta=meta,
        joints3d=output.joints3d, focal_length=output.focal_length, image_size=(info.width, info.height),
        landmarks2d=track.landmarks2d,
        landmarks_world=output.landmarks_world if output.landmarks_world is not None else track.world,
        contacts=grounded.contacts, floor_plane=grounded.floor_plane,
    )
    cancel.check()
    events.progress("write", 0, 1)
    write_motion_file(out, motion)
    events.progress("write", 1, 1)
    return out
