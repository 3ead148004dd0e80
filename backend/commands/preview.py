"""`preview`: draw a motion file's skeleton over the video it came from.

This is how a user (and a reviewer) sees at a glance whether the motion matches the video. The
skeleton is posed exactly as the add-on poses it (`skeleton.forward_kinematics` on the file's
`poses`, `rest_joints` and `transl`) and projected with the file's own pinhole camera, so a
mismatch here is a mismatch in the motion file, not in the drawing.

    python -m backend preview MOTION.npz --video V --out overlay.png   # contact sheet of the clip
    python -m backend preview MOTION.npz --video V --out overlay.mp4   # every selected frame

The MP4 is MPEG-4 Part 2 (`mp4v`), the encoder OpenCV's wheels ship (they have no H.264 encoder):
it plays in VLC, Blender and most players, though some browsers refuse it.

Colours: the person's left side blue, right side red, spine and head green; frames the tracker
interpolated (`valid` false) get an amber border and an "interpolated" label.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..core import cancel
from ..core.errors import BackendError, ErrorCode
from ..core.events import EventStream
from ..core.motion_file import load_motion_file
from ..core.outputs import atomic_path, check_output_path
from ..geometry import camera
from ..geometry.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS, forward_kinematics
from ..tracking.video import FrameRange, VideoInfo, iter_frames, probe

LEFT_RGB = (40, 120, 255)
RIGHT_RGB = (255, 60, 40)
CENTRE_RGB = (60, 220, 60)
INVALID_RGB = (255, 190, 0)
BACKGROUND_RGB = (24, 24, 24)
TEXT_RGB = (235, 235, 235)
SKELETON_RGB = (LEFT_RGB, RIGHT_RGB, CENTRE_RGB)

#: Each joint's colour (and the colour of the bone from its parent to it), by the side it is on.
JOINT_RGB: tuple[tuple[int, int, int], ...] = tuple(
    LEFT_RGB if name.startswith("left_") else RIGHT_RGB if name.startswith("right_") else CENTRE_RGB
    for name in JOINT_NAMES
)

DEFAULT_TILES = 12
TILE_LONG_SIDE = 480  # contact-sheet thumbnails: readable, yet 12 of them fit one screen
DEFAULT_MAX_SIDE = 1280  # MP4 frames are scaled down to this long side (0 keeps the video's size)
LABEL_HEIGHT = 28
HEADER_HEIGHT = 40
GAP = 4
MIN_DEPTH = 0.05  # metres; joints closer than this (or behind the camera) are not drawn
FONT = cv2.FONT_HERSHEY_SIMPLEX
SHIFT = 4  # fixed-point bits for sub-pixel drawing


@dataclass(frozen=True)
class Tile:
    """Where one frame sits in the contact sheet: its top-left pixel and its scale per axis."""

    frame_id: int
    row: int
    x: int
    y: int
    scale_x: float
    scale_y: float
    valid: bool


@dataclass(frozen=True)
class PreviewResult:
    out: Path
    frame_ids: tuple[int, ...]  # the frames drawn, in order
    size: tuple[int, int]  # width, height of the PNG or of each MP4 frame
    tiles: tuple[Tile, ...] = ()  # PNG only
    fps: float = 0.0  # MP4 only


@dataclass(frozen=True)
class Projection:
    """The motion's joints in video pixels, per row."""

    pixels: np.ndarray  # [N, 24, 2]
    visible: np.ndarray  # [N, 24] bool: in front of the camera


def project_motion(motion: dict[str, np.ndarray], video_size: tuple[int, int],
                   warn: Callable[[str], None] | None = None) -> Projection:
    """Pose the rest skeleton with every row and project it with the motion file's camera.

    The camera is the file's `focal_length` and `image_size` when present, else the stated
    default for the video's size. If the file was made at another resolution (a proxy clip),
    pixels are rescaled to the video's.
    """
    width, height = video_size
    joints = forward_kinematics(motion["poses"], motion["rest_joints"], motion["transl"])
    if "image_size" in motion:
        image_w, image_h = (int(v) for v in np.asarray(motion["image_size"]).reshape(2))
    else:
        image_w, image_h = width, height
    focal = (float(motion["focal_length"]) if "focal_length" in motion
             else camera.default_focal_length(image_w, image_h))
    pixels = camera.project(joints, focal, (image_w, image_h))
    if (image_w, image_h) != (width, height):
        if warn is not None and abs(math.log((image_w / image_h) / (width / height))) > 0.01:
            warn(f"the motion file was made for {image_w}x{image_h} but the video is {width}x{height} "
                 f"(another aspect ratio); the overlay will not line up. Is it the same video?")
        pixels = pixels * np.array([width / image_w, height / image_h])
    return Projection(pixels=pixels, visible=joints[..., 2] > MIN_DEPTH)


def draw_skeleton(image: np.ndarray, points: np.ndarray, visible: np.ndarray, thickness: int) -> None:
    """Bones (coloured by the child joint's side), then joints on top, in place on an RGB image."""
    height, width = image.shape[:2]
    limit = 4 * max(width, height)  # keep far-off points inside OpenCV's integer range
    fixed = np.round(np.clip(points, -limit, limit) * (1 << SHIFT)).astype(np.int64)
    radius = (thickness + 2) << SHIFT
    for joint in range(1, NUM_JOINTS):
        parent = PARENTS[joint]
        if visible[joint] and visible[parent]:
            cv2.line(image, tuple(map(int, fixed[parent])), tuple(map(int, fixed[joint])), JOINT_RGB[joint],
                     thickness, cv2.LINE_AA, SHIFT)
    for joint in range(NUM_JOINTS):
        if visible[joint]:
            cv2.circle(image, tuple(map(int, fixed[joint])), radius, JOINT_RGB[joint], -1, cv2.LINE_AA, SHIFT)


def _line_width(width: int, height: int) -> int:
    return max(2, round(max(width, height) / 240))


def _fit_text(text: str, max_width: int, scale: float) -> float:
    """The largest font scale up to `scale` at which `text` fits `max_width` pixels."""
    while scale > 0.3:
        (text_w, _), _ = cv2.getTextSize(text, FONT, scale, 1)
        if text_w <= max_width:
            break
        scale *= 0.9
    return scale


def _mark_invalid(image: np.ndarray) -> None:
    border = max(3, round(max(image.shape[:2]) / 120))
    cv2.rectangle(image, (0, 0), (image.shape[1] - 1, image.shape[0] - 1), INVALID_RGB, 2 * border)


def _label(frame_id: int, valid: bool) -> str:
    return f"frame {frame_id}" + ("" if valid else "  interpolated")


def render_frame(frame: np.ndarray, points: np.ndarray, visible: np.ndarray, valid: bool,
                 size: tuple[int, int]) -> np.ndarray:
    """Scale an RGB video frame to `size`, then draw on it, so lines stay crisp at any scale."""
    height, width = frame.shape[:2]
    out_w, out_h = size
    image = frame if (out_w, out_h) == (width, height) else cv2.resize(frame, (out_w, out_h),
                                                                       interpolation=cv2.INTER_AREA)
    image = np.ascontiguousarray(image)
    scaled = points * np.array([out_w / width, out_h / height])
    draw_skeleton(image, scaled, visible, _line_width(out_w, out_h))
    if not valid:
        _mark_invalid(image)
    return image


def _choose_columns(count: int, tile_w: int, tile_h: int, aspect: float = 16 / 9) -> int:
    """Column count whose sheet is closest to a screen's shape."""
    def badness(columns: int) -> float:
        rows = math.ceil(count / columns)
        return abs(math.log((columns * tile_w) / (rows * tile_h) / aspect))
    return min(range(1, count + 1), key=badness)


def _scaled_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Fit the long side (never upscaling); even sides, which video encoders require."""
    scale = min(1.0, long_side / max(width, height)) if long_side > 0 else 1.0
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _check_out(out: Path) -> str:
    return check_output_path(out, (".png", ".mp4"), "preview", ".png (contact sheet) or .mp4 (every frame)")


def _load(motion_path: Path) -> dict[str, np.ndarray]:
    if not motion_path.is_file():
        raise BackendError(ErrorCode.BAD_ARGUMENT,
                           f"motion file not found: {motion_path}; give the .npz written by `backend run`")
    try:
        return load_motion_file(motion_path)
    except ValueError as exc:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{exc}; give a motion file written by `backend run`") from exc


def video_mismatch(motion: dict[str, np.ndarray], video_path: Path, video_fps: float) -> str | None:
    """Why `video_path` is likely not the video the motion file was made from, or None.

    Compares the file name the run recorded (`meta["video"]`) and the frame rate (over 1 % apart); a
    different file of the same size would otherwise be drawn over without a word.
    """
    try:
        meta = json.loads(str(motion["meta"])) if "meta" in motion else {}
    except ValueError:
        meta = {}
    reasons = []
    made_from = meta.get("video") if isinstance(meta, dict) else None
    if made_from and Path(str(made_from)).name != video_path.name:
        reasons.append(f"it was made from {Path(str(made_from)).name}")
    motion_fps = float(motion["fps"]) if "fps" in motion else 0.0
    if motion_fps > 0 and video_fps > 0 and abs(motion_fps / video_fps - 1.0) > 0.01:
        reasons.append(f"its rate is {motion_fps:g} fps and the video's {video_fps:g} fps")
    if not reasons:
        return None
    return (f"{video_path.name} may not be the motion file's video: {'; '.join(reasons)}. "
            "The overlay may not line up; pass the video the motion was made from")


def select_rows(frame_ids: np.ndarray, frames: FrameRange, frame_count: int) -> np.ndarray:
    """Rows of the motion file inside `--frames` whose source frame the video has, in frame order."""
    wanted = np.isin(frame_ids, frames.frame_ids(frame_count))
    rows = np.flatnonzero(wanted)
    rows = rows[np.argsort(frame_ids[rows], kind="stable")]
    _, first = np.unique(frame_ids[rows], return_index=True)  # one row per frame
    return rows[np.sort(first)]


def _read_frames(info: VideoInfo, ids: np.ndarray, check_cancel: Callable[[], None] | None):
    """Yield (frame id, RGB frame) for sorted unique `ids`, decoding the span once, in order."""
    stride = int(np.gcd.reduce(np.diff(ids))) if len(ids) > 1 else 1
    wanted = set(int(i) for i in ids)
    for frame_id, frame in iter_frames(info, FrameRange(int(ids[0]), int(ids[-1]) + 1, max(stride, 1))):
        if check_cancel is not None:
            check_cancel()
        if frame_id in wanted:
            yield frame_id, frame


def _header(width: int, text: str) -> np.ndarray:
    bar = np.empty((HEADER_HEIGHT, width, 3), np.uint8)
    bar[:] = BACKGROUND_RGB
    cv2.putText(bar, text, (8, HEADER_HEIGHT - 14), FONT, _fit_text(text, width - 16, 0.6), TEXT_RGB, 1,
                cv2.LINE_AA)
    return bar


def _write_sheet(out: Path, info: VideoInfo, motion: dict[str, np.ndarray], rows: np.ndarray,
                 projection: Projection, title: str, events: EventStream | None,
                 check_cancel: Callable[[], None] | None) -> PreviewResult:
    tile_w, tile_h = _scaled_size(info.width, info.height, TILE_LONG_SIDE)
    columns = _choose_columns(len(rows), tile_w, tile_h)
    grid_rows = math.ceil(len(rows) / columns)
    sheet_w = columns * tile_w + (columns + 1) * GAP
    sheet_h = HEADER_HEIGHT + grid_rows * (tile_h + LABEL_HEIGHT + GAP) + GAP
    sheet = np.empty((sheet_h, sheet_w, 3), np.uint8)
    sheet[:] = BACKGROUND_RGB
    sheet[:HEADER_HEIGHT] = _header(sheet_w, title)
    frame_ids = motion["frame_ids"]
    row_of = {int(frame_ids[r]): int(r) for r in rows}
    tiles = []
    for done, (frame_id, frame) in enumerate(_read_frames(info, frame_ids[rows], check_cancel), 1):
        row = row_of[frame_id]
        index = len(tiles)
        x = GAP + (index % columns) * (tile_w + GAP)
        y = HEADER_HEIGHT + GAP + (index // columns) * (tile_h + LABEL_HEIGHT + GAP)
        valid = bool(motion["valid"][row])
        sheet[y:y + tile_h, x:x + tile_w] = render_frame(frame, projection.pixels[row], projection.visible[row],
                                                         valid, (tile_w, tile_h))
        text = _label(frame_id, valid)
        cv2.putText(sheet, text, (x + 4, y + tile_h + LABEL_HEIGHT - 9), FONT, _fit_text(text, tile_w - 8, 0.55),
                    TEXT_RGB if valid else INVALID_RGB, 1, cv2.LINE_AA)
        tiles.append(Tile(frame_id, row, x, y, tile_w / info.width, tile_h / info.height, valid))
        if events is not None:
            events.progress("preview", done, len(rows))
    if not tiles:
        raise _no_frames(info, frame_ids[rows])
    if check_cancel is not None:
        check_cancel()
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise BackendError(ErrorCode.INTERNAL, f"OpenCV could not encode the PNG for {out}")
    with atomic_path(out, suffix=out.suffix) as temp:
        temp.write_bytes(encoded.tobytes())
    return PreviewResult(out, tuple(t.frame_id for t in tiles), (sheet_w, sheet_h), tiles=tuple(tiles))


def _write_video(out: Path, info: VideoInfo, motion: dict[str, np.ndarray], rows: np.ndarray,
                 projection: Projection, max_side: int, events: EventStream | None,
                 check_cancel: Callable[[], None] | None) -> PreviewResult:
    size = _scaled_size(info.width, info.height, max_side)
    frame_ids = motion["frame_ids"]
    ids = frame_ids[rows]
    # Keep real time when the motion file skipped frames (run with --stride).
    step = float(np.median(np.diff(ids))) if len(ids) > 1 else 1.0
    fps = info.fps / max(step, 1.0)
    row_of = {int(frame_ids[r]): int(r) for r in rows}
    written = []
    with atomic_path(out, suffix=out.suffix) as temp:
        writer = cv2.VideoWriter(str(temp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        try:
            if not writer.isOpened():
                raise BackendError(ErrorCode.OUT_NOT_WRITABLE,
                                   f"cannot write {out}: OpenCV has no MPEG-4 encoder here; use --out with .png")
            for frame_id, frame in _read_frames(info, ids, check_cancel):
                row = row_of[frame_id]
                valid = bool(motion["valid"][row])
                image = render_frame(frame, projection.pixels[row], projection.visible[row], valid, size)
                text = _label(frame_id, valid)
                scale = _fit_text(text, size[0] // 2, 0.5 + size[1] / 1200)
                weight = 1 if scale < 1 else 2
                (text_w, text_h), base = cv2.getTextSize(text, FONT, scale, weight)
                pad = 6
                cv2.rectangle(image, (0, 0), (text_w + 2 * pad, text_h + base + 2 * pad), BACKGROUND_RGB, -1)
                cv2.putText(image, text, (pad, pad + text_h), FONT, scale, TEXT_RGB if valid else INVALID_RGB,
                            weight, cv2.LINE_AA)
                writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                written.append(frame_id)
                if events is not None:
                    events.progress("preview", len(written), len(rows))
            if not written:
                raise _no_frames(info, ids)
            if check_cancel is not None:
                check_cancel()
        finally:
            writer.release()
    return PreviewResult(out, tuple(written), size, fps=fps)


def _no_frames(info: VideoInfo, ids: np.ndarray) -> BackendError:
    return BackendError(ErrorCode.BAD_ARGUMENT,
                        f"{info.path} has none of the motion file's frames {int(ids.min())}..{int(ids.max())} "
                        f"(it decodes fewer); is it the video the motion file was made from?")


def preview(motion_path: Path, video_path: Path, out_path: Path, frames: str | None = None,
            tiles: int = DEFAULT_TILES, max_side: int = DEFAULT_MAX_SIDE, events: EventStream | None = None,
            check_cancel: Callable[[], None] | None = None) -> PreviewResult:
    """Draw the motion over the video into `out_path` (.png contact sheet or .mp4), atomically.

    `frames` is `START:END` in source frames (END exclusive); the PNG shows `tiles` frames spread
    evenly over the selection, the MP4 every selected frame that has a row in the motion file.
    """
    motion_path, video_path, out_path = Path(motion_path), Path(video_path), Path(out_path)
    kind = _check_out(out_path)
    if tiles < 1:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--tiles must be >= 1, got {tiles}")
    if max_side < 0 or 0 < max_side < 16:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--max-side must be 0 (full size) or >= 16, got {max_side}")
    selection = FrameRange.parse(frames)
    motion = _load(motion_path)
    info = probe(video_path)
    # the header's count is an estimate (none in Matroska): the motion's own rows bound the clip too
    rows = select_rows(motion["frame_ids"], selection, max(info.frame_count, int(motion["frame_ids"].max()) + 1))
    if len(rows) == 0:
        ids = motion["frame_ids"]
        raise BackendError(ErrorCode.BAD_ARGUMENT,
                           f"no rows of {motion_path} (frames {int(ids.min())}..{int(ids.max())}) fall in "
                           f"--frames {frames or ':'} of {video_path} ({info.frame_count} frames)")
    warn = None if events is None else (lambda message: events.warning("PREVIEW_CAMERA", message))
    mismatch = video_mismatch(motion, video_path, info.fps)
    if mismatch is not None and events is not None:
        events.warning("PREVIEW_VIDEO", mismatch)
    projection = project_motion(motion, (info.width, info.height), warn)
    if kind == ".mp4":
        return _write_video(out_path, info, motion, rows, projection, max_side, events, check_cancel)
    picks = np.unique(np.round(np.linspace(0, len(rows) - 1, min(tiles, len(rows)))).astype(int))
    valid_share = 100.0 * float(np.mean(motion["valid"]))
    title = (f"{motion_path.name} over {video_path.name} | model {motion['model']} | {len(motion['frame_ids'])} rows, "
             f"{valid_share:.0f}% detected | left blue, right red, amber = interpolated")
    return _write_sheet(out_path, info, motion, rows[picks], projection, title, events, check_cancel)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `preview` to the backend's command line; `main` becomes its `args.handler` (see cli.py)."""
    parser = subparsers.add_parser(
        "preview", help="draw a motion file's skeleton over its video (PNG contact sheet or MP4)",
        description="Draw the skeleton of MOTION.npz, posed and projected with the file's own camera, over "
                    "the video frames it was made from. A .png output is a contact sheet of a few frames "
                    "spread over the clip; an .mp4 output has every selected frame. Left side blue, right "
                    "side red, spine green; interpolated (undetected) frames have an amber border.")
    parser.add_argument("motion", metavar="MOTION.npz", help="motion file written by `backend run`")
    parser.add_argument("--video", required=True, help="the video the motion file was made from")
    parser.add_argument("--out", required=True, metavar="OUT.png|OUT.mp4", help="where to write the preview")
    parser.add_argument("--frames", metavar="START:END",
                        help="source frames to show, END exclusive (default: every row of the motion file)")
    parser.add_argument("--tiles", type=int, default=DEFAULT_TILES,
                        help=f"PNG only: how many frames the contact sheet shows (default {DEFAULT_TILES})")
    parser.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE,
                        help=f"MP4 only: scale frames down to this long side, 0 = video size "
                             f"(default {DEFAULT_MAX_SIDE})")
    parser.set_defaults(func=main)
    return parser


def main(args: argparse.Namespace, events: EventStream | None = None,
         check_cancel: Callable[[], None] | None = cancel.check) -> int:
    """Run `preview` from parsed arguments; reports progress and `done` as JSON lines, raises BackendError.

    Stops at the next frame on SIGTERM/SIGINT (the CLI's handlers set the flag `cancel.check` reads).
    """
    events = EventStream() if events is None else events
    result = preview(Path(args.motion), Path(args.video), Path(args.out), frames=args.frames, tiles=args.tiles,
                     max_side=args.max_side, events=events, check_cancel=check_cancel)
    events.done(str(result.out), frames=len(result.frame_ids))
    return 0
