"""`backend run`: video -> track -> model -> post -> motion file, one stage after another."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

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
from ..tracking.track import Track, Tracker, build_track, choose_person, longest_person
from ..tracking.video import DecodeReport, FrameRange, VideoInfo, decode, probe
from . import grounding, post

if TYPE_CHECKING:
    from . import fit

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
                     max_people: int, person: int | None, people: list[dict] | None = None,
                     everyone: list[Track] | None = None) -> tuple[Track, np.ndarray]:
    """Stream the frames through MediaPipe, following every person; keep the chosen one.

    Returns the track and each row's presentation time in seconds ([N] float64, from the
    container's timestamps, or index / fps for an image sequence). When `people` is given, everyone
    found is appended to it: {"person_id", "frames" (rows seen), "main" (auto's choice)}; when
    `everyone` is given, each person's whole track (the chosen one included), in id order.
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
    joins = tracker.stitch(info.fps / max(frames.stride, 1))
    if joins:
        log.info("joined %d track pieces that were one person seen in turn", joins)
    chosen = choose_person(tracker, person, str(info.path))
    if people is not None:
        main = chosen if person is None else longest_person(tracker)  # --person given: only list who is main
        people += [{"person_id": int(s["person_id"]), "frames": int(s["frames"]), "main": s["person_id"] == main}
                   for s in sorted(tracker.summary(), key=lambda s: s["person_id"])]
    track = build_track(tracker, chosen, np.asarray(decoded, np.int32), (info.width, info.height))
    if everyone is not None:
        everyone += [track if t.person_id == chosen else
                     build_track(tracker, t.person_id, np.asarray(decoded, np.int32), (info.width, info.height))
                     for t in sorted(tracker.tracks, key=lambda t: t.person_id)]
    tracked = len(tracker.tracks)
    gaps = int((~track.valid).sum())
    if gaps:
        events.warning("TRACK_GAP", f"person {chosen} was not detected in {gaps} of {len(track)} frames; "
                                    "those frames are interpolated and marked valid=False")
    log.info("tracked %d people; person %d valid in %d/%d frames", tracked, chosen, track.valid.sum(), len(track))
    return track, np.asarray(times, np.float64)


def row_rate(times: np.ndarray, fallback: float) -> float:
    """Mean rate of the rows (rows per second) for the filters: their span over their count."""
    if len(times) < 2 or times[-1] <= times[0]:
        return fallback
    return float((len(times) - 1) / (times[-1] - times[0]))


def tracks_from_file(path: Path, person: int | None, info: VideoInfo, frames: FrameRange,
                     people: list[dict], everyone: list[Track]) -> tuple[Track, np.ndarray]:
    """The people tracked by an earlier run of this video (its motion file's people_* keys), instead of
    detecting again: only the chosen person's model and post-processing run. Fills `people` and `everyone`
    as `detect_and_track` does. BAD_ARGUMENT if the file has no tracks or was made from other frames."""
    from ..core.motion_file import load_motion_file

    try:
        arrays = load_motion_file(Path(path).expanduser())
    except ValueError as exc:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--tracks: {exc}") from exc
    if "people_ids" not in arrays:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--tracks {path}: this motion file holds no tracks (it was "
                                                   "written before they were kept); run without --tracks")
    ids = arrays["frame_ids"].astype(np.int64)
    size = tuple(int(v) for v in arrays["image_size"]) if "image_size" in arrays else None
    meta_stride = int(json.loads(str(arrays["meta"])).get("stride", frames.stride))
    steps_ok = len(ids) < 2 or bool(np.all(np.diff(ids) == frames.stride))
    inside = ids[0] == frames.start and (frames.stop is None or ids[-1] < frames.stop)
    if size != (info.width, info.height) or meta_stride != frames.stride or not steps_ok or not inside:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--tracks {path}: made from other frames or another video "
                                                   f"than {info.path} with these --frames/--stride; run without "
                                                   "--tracks")
    meta = json.loads(str(arrays["meta"]))
    if meta.get("video") and Path(str(meta["video"])).resolve() != Path(info.path).resolve():
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--tracks {path}: made from {meta['video']}, not {info.path}; "
                                                   "run without --tracks")
    listed = {int(p["person_id"]): p for p in meta.get("people", []) if isinstance(p, dict) and "person_id" in p}
    person_ids = [int(v) for v in arrays["people_ids"]]
    for index, person_id in enumerate(person_ids):
        everyone.append(Track(person_id=person_id, frame_ids=ids.astype(np.int32),
                              valid=arrays["people_valid"][index].astype(bool),
                              bboxes=arrays["people_bboxes"][index].astype(np.float32),
                              landmarks2d=arrays["people_landmarks2d"][index].astype(np.float32),
                              world=arrays["people_world"][index].astype(np.float32), image_size=(size[0], size[1])))
        entry = listed.get(person_id, {})
        people.append({"person_id": person_id, "frames": int(entry.get("frames", everyone[-1].valid.sum())),
                       "main": bool(entry.get("main", False))})
    if person is None:
        person = next((p["person_id"] for p in people if p["main"]), person_ids[0])
    if person not in person_ids:
        listing = ", ".join(f"{p['person_id']} ({p['frames']} frames)" for p in people)
        raise BackendError(ErrorCode.NO_PERSON, f"--person {person}: no such person in {info.path}; people found: "
                                                f"{listing}")
    return everyone[person_ids.index(person)], arrays["times"].astype(np.float64)


def people_arrays(everyone: list[Track]) -> dict[str, np.ndarray] | None:
    """The motion file's people_* keys for every tracked person (None when nobody was tracked)."""
    if not everyone:
        return None
    return {"people_ids": np.array([t.person_id for t in everyone], np.int32),
            "people_valid": np.stack([t.valid for t in everyone]),
            "people_bboxes": np.stack([t.bboxes for t in everyone]),
            "people_landmarks2d": np.stack([t.landmarks2d for t in everyone]),
            "people_world": np.stack([t.world for t in everyone])}


def detected_rows(valid: np.ndarray) -> dict:
    """First and last rows where the person was detected: rows outside them are not motion (the add-on
    starts the action at `first`); rows inside but not detected are interpolated (valid=False)."""
    rows = np.flatnonzero(valid)
    if len(rows) == 0:
        return {"first": None, "last": None, "undetected_inside": 0}
    return {"first": int(rows[0]), "last": int(rows[-1]),
            "undetected_inside": int((~valid[rows[0]:rows[-1] + 1]).sum())}


def fit_output(output: ModelOutput, track: Track, fps: float, smooth: float, focal: float, height: float | None,
               events: EventStream, smpl_file: Path | None = None, ground: str = "auto", foot_lock: bool = True
               ) -> tuple[ModelOutput, grounding.FloorChoice | None]:
    """Whole-clip fitting of the model's per-frame result (fit.py); replaces poses, root and skeleton.

    With a floor plane in view (`ground` auto or plane), a second pass holds the feet the first pass
    shows planted (`ground_refit`); the floor it used is returned for the grounding stage, else None."""
    from ..geometry.skeleton import axis_angle_to_matrix
    from . import fit

    n = len(track)
    first_translation = np.asarray(output.transl, np.float64)  # the model's: lays its pose over the 2D
    data = fit.FitInput(local_rot=axis_angle_to_matrix(output.poses), transl=first_translation, rest=output.rest,
                        landmarks2d=track.landmarks2d, world=output.landmarks_world, valid=track.valid,
                        focal_length=focal, image_size=track.image_size, fps=fps)
    events.progress("fit", 0, n)
    betas = np.zeros(10, np.float32)
    reshape = None
    if smpl_file is not None:
        from ..body.smpl_fit import fit_betas_to_joints
        from ..builtin.rest_skeleton import RestSkeleton, with_joints

        def reshape(rest: RestSkeleton) -> RestSkeleton:
            nonlocal betas
            betas, joints = fit_betas_to_joints(smpl_file, rest.joints)
            return with_joints(rest, joints)

    result = fit.fit_clip(data, stature_m=height, smooth_strength=smooth, check_cancel=cancel.check,
                          progress=lambda done, total: events.progress("fit", done, total), reshape_rest=reshape)
    result, chosen_floor = ground_refit(data, result, fps, smooth, ground, foot_lock,
                                        lambda done, total: events.progress("refit", done, total))
    errors_before = fit.reprojection_error(output.poses, first_translation, output.rest, track.landmarks2d,
                                           focal, track.image_size)
    errors_after = fit.reprojection_error(result.poses, result.transl, result.rest, track.landmarks2d,
                                          focal, track.image_size)
    detected = track.valid
    result.meta["reprojection_px_median"] = {
        "before": round(float(np.median(errors_before[detected])), 2) if detected.any() else None,
        "after": round(float(np.median(errors_after[detected])), 2) if detected.any() else None}
    output.poses = result.poses
    output.transl = result.transl
    output.cam = camera.translation_to_weak_perspective(result.transl, track.bboxes, focal, track.image_size)
    output.rest = result.rest
    output.rest_joints = result.rest.joints.astype(np.float32)
    output.betas = np.asarray(betas, np.float32)  # zeros unless SMPL betas were fitted to the clip's skeleton
    bones = {name: round(float(np.linalg.norm(result.rest.joints[b] - result.rest.joints[a])), 4)
             for name, (a, b) in {"thigh": (1, 4), "shin": (4, 7), "upper_arm": (16, 18), "forearm": (18, 20)}.items()}
    output.meta["bone_lengths_m"] = bones
    output.meta["rest_skeleton"] = ("SMPL betas fitted to the skeleton fitted to the whole clip (fit.py)"
                                    if smpl_file is not None else "fitted to the whole clip (fit.py)")
    output.meta["fit"] = result.meta
    return output, chosen_floor


def ground_refit(data: fit.FitInput, result: fit.FitResult, fps: float, smooth: float, ground: str,
                 foot_lock: bool = True, progress: Callable[[int, int], None] = lambda done, total: None
                 ) -> tuple[fit.FitResult, grounding.FloorChoice | None]:
    """A second fit pass that holds the feet (`grounding.contact_term`): planted feet on the floor and
    still, no foot under it. The floor and the contacts are found on the first pass's motion; only a
    fitted floor plane is used (without one, "up" and the floor's level are guesses, and holding feet
    to them made the harness's in-place clips jerkier: bench/bench_accuracy.py, dance acceleration 1.43x ->
    1.59x the truth's). Returns the refined fit and the floor choice, which the grounding stage then
    keeps, so the feet are locked on the floor they were fitted to; (result, None) when not used.
    Only with `--ground auto|plane` (`constant` is for stairs and slopes, where one plane is wrong);
    with `--foot-lock off` (skating, spins, shuffling) the feet stay on the floor but may slide.
    The reason it did not run is in `meta.fit.ground_refit`.
    """
    from . import fit

    if ground not in ("auto", "plane"):
        result.meta["ground_refit"] = {"used": False, "reason": f"--ground {ground}"}
        return result, None
    joints = forward_kinematics(result.poses, result.rest.joints, result.transl)
    seen = grounding.feet_in_view(data.landmarks2d, data.image_size, data.valid)
    chosen = grounding.choose_floor(joints, fps, result.rest.joints, ground, seen=seen, detected=data.valid)
    floor = chosen[0]
    if floor.kind != "plane":
        reason = ("up is from the body's balance: no floor plane the feet were seen on" if floor.kind == "balance"
                  else "no floor plane in view")
        result.meta["ground_refit"] = {"used": False, "reason": reason}
        return result, None
    contacts = grounding.detect_contacts(joints, floor, fps, in_picture=grounding.feet_in_view(
        data.landmarks2d, data.image_size, data.valid, min_visibility=0.0))
    if not contacts.any():
        result.meta["ground_refit"] = {"used": False, "reason": "no foot contact"}
        return result, None
    weights = grounding.ContactTermWeights() if foot_lock else grounding.ContactTermWeights(still=0.0)
    term = grounding.contact_term(floor, contacts, weights)
    refined = fit.refit_clip(data, result, (term,), smooth_strength=smooth, check_cancel=cancel.check,
                             progress=progress)
    refined.meta["ground_refit"] = {"used": True, "feet_held_still": foot_lock,
                                    "contact_frames": [int(v) for v in contacts.sum(0)]}
    return refined, chosen


def ground_stage(output: ModelOutput, fps: float, options: RunOptions, events: EventStream, track: Track,
                 chosen_floor: grounding.FloorChoice | None = None) -> grounding.GroundResult:
    """Contacts, floor and foot locking on any model's output (after smoothing); updates `output`.
    `chosen_floor`: the floor the fit already held the feet to (else it is found here, from the foot
    points `track`'s landmarks show in the image)."""
    events.progress("ground", 0, 1)
    result = grounding.ground_motion(output.poses, output.transl, output.rest_joints, fps,
                                     foot_lock=options.foot_lock, ground=options.ground, chosen_floor=chosen_floor,
                                     seen=grounding.feet_in_view(track.landmarks2d, track.image_size, track.valid),
                                     detected=track.valid,
                                     in_picture=grounding.feet_in_view(track.landmarks2d, track.image_size,
                                                                       track.valid, min_visibility=0.0))
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
    if options.height is not None and not 0.5 <= options.height <= 2.6:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--height {options.height}: give the person's stature in metres "
                                                   "(0.5 to 2.6), e.g. --height 1.78")
    people: list[dict] = []
    everyone: list[Track] = []
    if options.tracks is not None:
        events.progress("tracks", 0, 1)
        track, times = tracks_from_file(Path(options.tracks), options.person, info, frames, people, everyone)
        events.progress("tracks", 1, 1)
    else:
        track, times = detect_and_track(info, frames, events, options.max_people, options.person, people,
                                        everyone)
    cancel.check()
    fit_meta: dict = {}
    if options.fit:
        from ..tracking import lr_repair

        repaired = lr_repair.repair(track.landmarks2d, track.world, track.valid,
                                    fps=row_rate(times, info.fps / frames.stride),
                                    focal_length=options.focal_length
                                    or camera.default_focal_length(info.width, info.height),
                                    image_size=(info.width, info.height))
        track.landmarks2d, track.world = repaired.landmarks2d, repaired.world
        fit_meta["left_right_repair"] = repaired.counts()

    focal = options.focal_length or camera.default_focal_length(info.width, info.height)
    request = ModelRequest(video=info, track=track, window=window, device=device, weights_dir=weights_dir,
                           smpl_dir=smpl_dir, threads=options.threads, focal_length=focal, events=events,
                           check_cancel=cancel.check, options={"official_batching": options.official_batching,
                                    "focal_length_given": options.focal_length is not None,
                                    "lifter": options.lifter and options.fit,  # --fit off: the old path
                                    "lifter_asked": options.lifter})
    output = card.run(request)
    cancel.check()
    output.check_complete(len(track), card.name)

    rate = row_rate(times, info.fps / frames.stride)  # rows per second, for the filters and the fit
    if options.fit and output.rest is not None and output.landmarks_world is not None:
        uses_smpl = "SMPL betas" in str(output.meta.get("rest_skeleton", ""))
        output, chosen_floor = fit_output(output, track, rate, smooth, focal, options.height, events,
                                          smpl_file=smpl_dir / "SMPL_NEUTRAL.npz" if uses_smpl else None,
                                          ground=options.ground, foot_lock=options.foot_lock)
        fit_meta.update(output.meta.pop("fit", {}))
        smooth_after = 0.0  # the fit already smoothed, as --smooth asked
    else:
        smooth_after = smooth
        chosen_floor = None
    events.progress("post", 0, 1)
    output = post.finish(output, rate, smooth_after)
    events.progress("post", 1, 1)
    grounded = ground_stage(output, rate, options, events, track, chosen_floor)
    meta = {
        "backend_version": __version__,
        "video": str(info.path),
        "source_fps": info.fps,
        "source_kind": info.kind,
        "fps_from": "--fps" if info.is_sequence else "container",
        "stride": frames.stride,
        "frames": [frames.start, frames.stop],
        "person_id": track.person_id,
        "tracks_from": str(options.tracks) if options.tracks is not None else None,  # no detection when set
        "people": people,  # everyone tracked, for the add-on's "3 people: 0 (40 frames, main), ..." line
        "device": device,
        "smooth": smooth,
        "camera": {"model": "pinhole", "focal_length_px": output.focal_length,
                   "principal_point": [info.width / 2.0, info.height / 2.0]},
        "seconds": round(time.monotonic() - started, 3),
        "fit": {"enabled": bool(options.fit), **fit_meta},
        "detected_rows": detected_rows(track.valid),
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
        contacts=grounded.contacts, floor_plane=grounded.floor_plane, people=people_arrays(everyone),
    )
    cancel.check()
    events.progress("write", 0, 1)
    write_motion_file(out, motion)
    events.progress("write", 1, 1)
    return out
