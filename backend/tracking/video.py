"""Streaming decode of a clip: a video file or an image sequence, one frame at a time.

Video files are read with PyAV (FFmpeg's demuxer and decoder), which gives what OpenCV only
estimates: each frame's presentation time from the container (variable-frame-rate phone clips),
the real number of frames (decoding runs to the end of the stream; the header's count is only a
progress estimate, and Matroska has none at all), and the display-matrix rotation. Image
sequences (a folder, a printf pattern such as `frames/%04d.png`, or one image of a numbered
series) are read with OpenCV at a rate the user gives (`--fps`, default 30).

Frame index = position of the frame in presentation order, counted from 0 (`--frames` and
`--stride` select by this index); frame time = presentation time in seconds, relative to the
clip's first frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..core.errors import BackendError, ErrorCode

if TYPE_CHECKING:  # PyAV is imported where it is used, so `--help` and the tests of other stages stay fast
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

#: Rate given to image sequences when the user names none (the common render/export rate).
DEFAULT_SEQUENCE_FPS = 30.0
#: Files OpenCV reads as images; a folder holding any of these is an image sequence.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_PRINTF = re.compile(r"%(0?)(\d*)d")


@dataclass(frozen=True)
class VideoInfo:
    """What a clip is. Sizes are of the upright picture (after the rotation flag is applied).

    `fps` is the nominal rate (container average, or `--fps` for image sequences): for display and
    as a fallback; each frame's own time comes from `decode`. `frame_count` is the header's count,
    exact for image sequences and only an estimate for video files (progress bars).
    """

    path: Path
    fps: float
    frame_count: int
    width: int
    height: int
    rotation: int  # degrees (clockwise display rotation from the container); frames are delivered upright
    images: tuple[Path, ...] = field(default=(), repr=False)  # image sequence files, in order; () for a video

    @property
    def is_sequence(self) -> bool:
        return bool(self.images)

    @property
    def kind(self) -> str:
        return "image sequence" if self.is_sequence else "video"


@dataclass(frozen=True)
class Frame:
    index: int  # source frame index (presentation order, from 0)
    time: float  # presentation time in seconds, relative to the clip's first frame
    rgb: np.ndarray  # [H, W, 3] uint8, upright


@dataclass
class DecodeReport:
    """Filled in while decoding: how many frames the source held, and why decoding stopped early if it did."""

    decoded: int = 0  # frames read from the source (selected or not)
    problem: str | None = None  # set when the stream broke off (truncated or corrupt), else None


@dataclass(frozen=True)
class FrameRange:
    """Source frames `start, start+stride, ...` below `stop` (stop None = to the end of the clip)."""

    start: int = 0
    stop: int | None = None
    stride: int = 1

    @classmethod
    def parse(cls, text: str | None, stride: int = 1) -> FrameRange:
        """Parse `START:END` (END exclusive, either side may be empty)."""
        if stride < 1:
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"--stride must be >= 1, got {stride}")
        if not text:
            return cls(0, None, stride)
        parts = text.split(":")
        if len(parts) != 2:
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"--frames {text!r}: expected START:END, e.g. 0:120")
        try:
            start = int(parts[0]) if parts[0].strip() else 0
            stop = int(parts[1]) if parts[1].strip() else None
        except ValueError:
            raise BackendError(ErrorCode.BAD_ARGUMENT,
                               f"--frames {text!r}: START and END must be whole frame numbers") from None
        if start < 0 or (stop is not None and stop <= start):
            raise BackendError(ErrorCode.BAD_ARGUMENT,
                               f"--frames {text!r}: need 0 <= START < END")
        return cls(start, stop, stride)

    def frame_ids(self, frame_count: int) -> np.ndarray:
        """The selected indices of a clip of `frame_count` frames."""
        stop = frame_count if self.stop is None else min(self.stop, frame_count)
        return np.arange(self.start, max(stop, self.start), self.stride, dtype=np.int32)

    def selects(self, index: int) -> bool:
        return index >= self.start and (self.stop is None or index < self.stop) \
            and (index - self.start) % self.stride == 0

    def past(self, index: int) -> bool:
        """True once `index` is beyond the range: decoding can stop."""
        return self.stop is not None and index >= self.stop


# ---------------------------------------------------------------------------------------------
# Finding the frames


def natural_key(path: Path) -> list[object]:
    """Sort key: digits compare as numbers, so frame2.png comes before frame10.png."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _images_in(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                  key=natural_key)


def _describe_folder(folder: Path) -> str:
    entries = sorted(folder.iterdir(), key=natural_key)
    if not entries:
        return "it is empty"
    shown = ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries[:5])
    more = f" and {len(entries) - 5} more" if len(entries) > 5 else ""
    return f"it holds {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}: {shown}{more}"


def _pattern_images(pattern: str) -> list[Path]:
    """Files matching a printf pattern (`frames/%04d.png`), ordered by their number."""
    path = Path(pattern)
    match = _PRINTF.search(path.name)
    if match is None or not path.parent.is_dir():
        return []
    width = int(match.group(2) or 0)
    digits = rf"\d{{{width}}}" if match.group(1) == "0" and width else r"\d+"
    regex = re.compile(re.escape(path.name[:match.start()]) + f"({digits})" + re.escape(path.name[match.end():]) + "$")
    found = [(int(m.group(1)), p) for p in path.parent.iterdir() if p.is_file() and (m := regex.match(p.name))]
    return [p for _, p in sorted(found)]


def _series_from(image: Path) -> list[Path]:
    """The numbered series an image belongs to, from that image on (same folder and suffix)."""
    same = [p for p in _images_in(image.parent) if p.suffix.lower() == image.suffix.lower()]
    stem = re.sub(r"\d+$", "", image.stem)
    series = [p for p in same if re.sub(r"\d+$", "", p.stem) == stem] or [image]
    key = natural_key(image)
    return [p for p in series if natural_key(p) >= key]


def resolve_images(path: Path) -> list[Path] | None:
    """The image sequence `path` names, or None when it names a video file.

    Raises VIDEO_NOT_FOUND / VIDEO_UNREADABLE with what is wrong.
    """
    text = str(path)
    if _PRINTF.search(path.name) and not path.exists():
        images = _pattern_images(text)
        if not images:
            raise BackendError(ErrorCode.VIDEO_NOT_FOUND,
                               f"no image matches the pattern {text} (e.g. {text % 0 if '%' in text else text}); "
                               "check the folder and the number of digits")
        return images
    if not path.exists():
        raise BackendError(ErrorCode.VIDEO_NOT_FOUND, f"video not found: {path}; check the path")
    if path.is_dir():
        images = _images_in(path)
        if not images:
            raise BackendError(ErrorCode.VIDEO_UNREADABLE,
                               f"{path} is a folder without images ({', '.join(IMAGE_SUFFIXES)}): "
                               f"{_describe_folder(path)}; give a video file, a folder of frames, "
                               "or a pattern such as frames/%04d.png")
        return images
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _series_from(path)
    return None


# ---------------------------------------------------------------------------------------------
# Probing


def probe(path: Path, sequence_fps: float | None = None) -> VideoInfo:
    """Metadata of a clip; decodes its first frame to prove it is usable.

    `sequence_fps` is the rate of an image sequence (default 30); video files use their own.
    """
    path = Path(path).expanduser()
    images = resolve_images(path)
    if images is not None:
        return _probe_images(path, images, sequence_fps)
    return _probe_video(path)


def _probe_images(path: Path, images: list[Path], fps: float | None) -> VideoInfo:
    fps = DEFAULT_SEQUENCE_FPS if fps is None else float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--fps {fps}: must be a positive frame rate")
    first = _read_image(images[0])
    height, width = first.shape[:2]
    return VideoInfo(path, fps, len(images), width, height, 0, tuple(images))


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise BackendError(ErrorCode.VIDEO_UNREADABLE,
                           f"cannot read the image {path}: not an image OpenCV can decode, or truncated")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _open_container(path: Path) -> InputContainer:
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise BackendError(ErrorCode.VIDEO_UNREADABLE,
                           f"cannot decode {path}: not a video FFmpeg can read ({exc}); "
                           "convert it to H.264 .mp4") from None
    if not container.streams.video:
        container.close()
        raise BackendError(ErrorCode.VIDEO_UNREADABLE, f"{path} holds no video stream; give a video file")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threads: same frames, decoded faster
    return container


def _rotation(frame: VideoFrame) -> int:
    """Clockwise display rotation in degrees (0, 90, 180, 270) from the frame's display matrix."""
    try:
        ccw = float(frame.rotation or 0.0)  # FFmpeg's display matrix angle: counter-clockwise
    except (AttributeError, ValueError):
        return 0
    return int(round(-ccw / 90.0)) % 4 * 90


def _upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    if rotation == 0:
        return rgb
    return np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90)))  # rot90 with k<0 turns clockwise


def _probe_video(path: Path) -> VideoInfo:
    import av

    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        try:
            first = next(iter(container.decode(stream)), None)
        except av.error.FFmpegError as exc:
            raise BackendError(ErrorCode.VIDEO_UNREADABLE,
                               f"cannot decode any frame of {path} ({exc}); the file may be truncated") from None
        if first is None:
            raise BackendError(ErrorCode.VIDEO_UNREADABLE,
                               f"cannot decode any frame of {path}; the file may be truncated")
        rotation = _rotation(first)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        count = int(stream.frames or 0)
        if count <= 0:  # Matroska and raw streams carry no count: estimate from the duration
            seconds = float(stream.duration * stream.time_base) if stream.duration else (
                container.duration / 1e6 if container.duration else 0.0)
            count = max(1, round(seconds * fps)) if fps > 0 else 1
    finally:
        container.close()
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        raise BackendError(ErrorCode.VIDEO_UNREADABLE, f"{path} reports no usable frame rate ({fps}); re-encode it")
    return VideoInfo(path, fps, count, width, height, rotation)


# ---------------------------------------------------------------------------------------------
# Decoding


def decode(info: VideoInfo, frames: FrameRange, report: DecodeReport | None = None) -> Iterator[Frame]:
    """Yield the selected frames, one at a time, upright RGB, with their presentation times.

    Reads to the real end of the stream (never stops at the header's count). If the stream breaks
    off (truncated or corrupt file), stops and records why in `report.problem`.
    """
    report = report if report is not None else DecodeReport()
    if info.is_sequence:
        yield from _decode_images(info, frames, report)
    else:
        yield from _decode_video(info, frames, report)


def _decode_images(info: VideoInfo, frames: FrameRange, report: DecodeReport) -> Iterator[Frame]:
    for index, image in enumerate(info.images):
        if frames.past(index):
            return
        report.decoded = index + 1
        if frames.selects(index):
            yield Frame(index, index / info.fps, _read_image(image))


def _decode_video(info: VideoInfo, frames: FrameRange, report: DecodeReport) -> Iterator[Frame]:
    import av

    container = _open_container(info.path)
    try:
        stream = container.streams.video[0]
        time_base = float(stream.time_base) if stream.time_base else 0.0
        first_pts: int | None = None
        last_time = -np.inf
        index = -1
        packets = container.decode(stream)
        while True:
            try:
                frame = next(packets)
            except StopIteration:
                report.problem = _missing_data(info.path, stream)
                return
            except av.error.FFmpegError as exc:
                report.problem = f"decoding stopped after frame {index}: {exc}"
                return
            index += 1
            if frames.past(index):
                return
            report.decoded = index + 1
            # Presentation time from the container, relative to the first frame; a frame without a
            # timestamp (or one that goes backwards, in broken files) follows its predecessor by 1/fps.
            if frame.pts is not None and time_base > 0:
                first_pts = frame.pts if first_pts is None else first_pts
                time = (frame.pts - first_pts) * time_base
            else:
                time = last_time + 1.0 / info.fps if index else 0.0
            if time <= last_time:
                time = last_time + 1.0 / info.fps
            last_time = time
            if not frames.selects(index):
                continue  # skipped frames are decoded (needed for the next ones) but never converted
            rgb = _upright(frame.to_ndarray(format="rgb24"), info.rotation)
            yield Frame(index, float(time), rgb)
    finally:
        container.close()


def _missing_data(path: Path, stream: VideoStream) -> str | None:
    """Why frames are really missing at the end of the stream, or None when none are.

    A header's frame count can be wrong either way (Matroska has none; a patched or badly written
    AVI can promise more), so it proves nothing. What does: the container's own index listing
    frames whose bytes lie past the end of the file (a cut-off download or copy).
    """
    try:
        size = path.stat().st_size
        beyond = sum(1 for entry in stream.index_entries if entry.pos >= 0 and entry.pos + entry.size > size)
    except (OSError, AttributeError, TypeError):
        return None
    if beyond == 0:
        return None
    return f"its index lists {beyond} more frame(s) whose data lies past the end of the file (cut off)"


def iter_frames(info: VideoInfo, frames: FrameRange) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (source frame index, RGB uint8 HxWx3) for the selected frames, one at a time."""
    for frame in decode(info, frames):
        yield frame.index, frame.rgb
