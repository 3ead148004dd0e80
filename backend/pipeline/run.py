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
from ..tracking.video import DecodeReport, FrameRange, VideoInfo, decode, probe
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
                     max_people: int, person: int | None) -> tuple[Track, np.ndarray]:
    """Stream the frames through MediaPipe, following every person; keep the chosen one.

    Returns the track and each row's presentation time in seconds ([N] float64, from the
    container's timestamps, or index / fps for an image sequence).
    """
    from ..tracking.landmarks import PoseLandmarks

    total = max(len(frames.frame_ids(info.frame_count)), 1)  # the header's count: an estimate only
    tracker = Tracker()
    decoded: list[int] = []
    times: list[float] = []
    report = DecodeReport()
    events.progress("detect", 0, total)
    with PoseLandmarks(max_people=max_people) as detector:
        for row, frame in enumerate(decode(info, frames, report)):
            cancel.check()
            tracker.update(row, detector.detect(frame.rgb, frame.time * 1000.0))
            decoded.append(frame.index)
            times.append(frame.time)
            total = max(total, row + 1)
            events.progress("detect", row + 1, total)
    if not decoded:
        if report.decoded and report.problem is None:
            raise BackendError(ErrorCode.BAD_ARGUMENT,
                               f"--frames {frames.start}:{'' if frames.stop is None else frames.stop}: "
                               f"{info.path} has only {report.decoded} frames")
        raise BackendError(ErrorCode.VIDEO_UNREADABLE,
                           f"no frame of {info.path} could be decoded in the range asked for"
                           + (f" ({report.problem})" if report.problem else ""))
    if total > len(decoded):
        events.progress("detect", len(decoded), len(decoded))  # the header over-promised: the bar ends full
    if report.problem is not None:
        events.warning("VIDEO_SHORT", f"{info.path} is truncated or damaged: {report.problem}; "
                                      f"converted the {report.decoded} frames before that point")
    chosen = choose_person(tracker, person, str(info.path))
    track = build_track(tracker, chosen, np.asarray(decoded, np.int32), (info.width, info.height))
    people = len(tracker.tracks)
    gaps = int((~track.valid).sum())
    if gaps:
        events.warning("TRACK_GAP", f"person {chosen} was not detected in {gaps} of {len(track)} frames; "
                                    "those frames are interpolated and marked valid=False")
    log.info("tracked %d people; person %d valid in %d/%d frames", people, chosen, track.valid.sum(), len(track))
    return track, np.asarray(times, np.float64)


def row_rate(times: np.ndarray, fallback: float) -> float:
    """Mean rate of the rows (rows per second) for the filters: their span over their count."""
    if len(times) < 2 or times[-1] <= times[0]:
        return fallback
    return float((len(times) - 1) / (times[-1] - times[0]))


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
    info = probe(Path(options.video).expanduser(), options.fps)
    if options.fps is not None and not info.is_sequence:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--fps applies to image sequences; {info.path} is a video "
                           "file with its own timestamps: leave --fps out")
    if info.is_sequence and len(frames.frame_ids(info.frame_count)) == 0:
        raise BackendError(ErrorCode.BAD_ARGUMENT,
                           f"--frames {options.frames}: {info.path} has only {info.frame_count} frames")
    track, times = detect_and_track(info, frames, events, options.max_people, options.person)
    cancel.check()

    focal = options.focal_length or camera.default_focal_length(info.width, info.height)
    request = ModelRequest(video=info, track=track, window=window, device=device, weights_dir=weights_dir,
                           smpl_dir=smpl_dir, threads=options.threads, focal_length=focal, events=events,
                           check_cancel=cancel.check, options={"official_batching": options.official_batching,
                                    "focal_length_given": options.focal_length is not None})
    output = card.run(request)
    cancel.check()

    events.progress("post", 0, 1)
    rate = row_rate(times, info.fps / frames.stride)  # rows per second, for the filters
    output = post.finish(output, track, rate, smooth, focal)
    events.progress("post", 1, 1)
    grounded = ground_stage(output, rate, options, events)
    meta = {
        "backend_version": __version__,
        "video": str(info.path),
        "source_fps": info.fps,
        "source_kind": info.kind,
        "fps_from": "--fps" if info.is_sequence else "container",
        "stride": frames.stride,
        "frames": [frames.start, frames.stop],
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
        frame_ids=track.frame_ids, times=times, fps=info.fps, bboxes=track.bboxes, cam=output.cam,
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
