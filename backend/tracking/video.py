"""Streaming video decode: metadata, frame range and stride, without holding the clip in memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..core.errors import BackendError, ErrorCode


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    frame_count: int
    width: int
    height: int
    rotation: int  # degrees from the container's metadata; frames are delivered upright


@dataclass(frozen=True)
class FrameRange:
    """Source frames `start, start+stride, ...` below `stop` (stop None = to the end)."""

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
        stop = frame_count if self.stop is None else min(self.stop, frame_count)
        return np.arange(self.start, max(stop, self.start), self.stride, dtype=np.int32)


def _open(path: Path) -> cv2.VideoCapture:
    if not path.exists():
        raise BackendError(ErrorCode.VIDEO_NOT_FOUND, f"video not found: {path}; check the path")
    if path.is_dir():
        raise BackendError(ErrorCode.VIDEO_NOT_FOUND, f"{path} is a folder, not a video file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise BackendError(ErrorCode.VIDEO_UNREADABLE,
                           f"cannot decode {path}: not a video OpenCV/FFmpeg can read; convert it to H.264 .mp4")
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def probe(path: Path) -> VideoInfo:
    """Read metadata and decode the first frame to prove the file is usable."""
    path = Path(path)
    capture = _open(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        rotation = int(capture.get(cv2.CAP_PROP_ORIENTATION_META) or 0)
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None:
        raise BackendError(ErrorCode.VIDEO_UNREADABLE, f"cannot decode any frame of {path}; the file may be truncated")
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        raise BackendError(ErrorCode.VIDEO_UNREADABLE, f"{path} reports no usable frame rate ({fps}); re-encode it")
    if count <= 0:
        count = _count_frames(path)
    height, width = frame.shape[:2]
    return VideoInfo(path, fps, count, width, height, rotation)


def _count_frames(path: Path) -> int:
    capture = _open(path)
    count = 0
    try:
        while capture.grab():
            count += 1
    finally:
        capture.release()
    return count


def iter_frames(info: VideoInfo, frames: FrameRange) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (source frame index, RGB uint8 HxWx3) for the selected frames, one at a time.

    Stops early, without error, if the container promised more frames than it holds.
    """
    wanted = frames.frame_ids(info.frame_count)
    if len(wanted) == 0:
        return
    capture = _open(info.path)
    try:
        position = 0
        if wanted[0] > 0 and capture.set(cv2.CAP_PROP_POS_FRAMES, int(wanted[0])):
            position = int(capture.get(cv2.CAP_PROP_POS_FRAMES))
        for index in wanted:
            while position < index:  # grab() skips without the colour conversion cost
                if not capture.grab():
                    return
                position += 1
            ok, frame = capture.read()
            if not ok or frame is None:
                return
            position += 1
            yield int(index), cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()
