"""Square person crops for the seed models, produced in chunks while the video streams.

As in the TCMR / MPS-Net / STAF demos: a square of side `max(w, h) * scale` centred on the
box is mapped to `size` x `size` pixels with one affine warp (bilinear, black outside the
image), then ImageNet normalisation, channels first. Only one chunk of crops exists at a time,
so memory does not grow with the clip length.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from ..core.errors import BackendError, ErrorCode
from .track import Track
from .video import FrameRange, VideoInfo, iter_frames

CROP_SIZE = 224
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def crop_side(bboxes: np.ndarray, scale: float) -> np.ndarray:
    """Side in pixels of the square each crop covers: the box's longer side times `scale`."""
    return np.maximum(bboxes[..., 2], bboxes[..., 3]) * scale


def crop_matrix(cx: float, cy: float, side: float, size: int = CROP_SIZE) -> np.ndarray:
    """2x3 affine map from image pixels to crop pixels: box centre -> crop centre, side -> size."""
    k = size / max(float(side), 1e-6)
    return np.array([[k, 0.0, size / 2.0 - k * cx], [0.0, k, size / 2.0 - k * cy]], dtype=np.float64)


def crop_image(frame: np.ndarray, bbox: np.ndarray, scale: float, size: int = CROP_SIZE) -> np.ndarray:
    """One RGB uint8 crop [size, size, 3]; pixels outside the frame are black, like the demos."""
    side = float(crop_side(np.asarray(bbox, np.float64), scale))
    matrix = crop_matrix(float(bbox[0]), float(bbox[1]), side, size)
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def normalise(crops: np.ndarray) -> np.ndarray:
    """[B, H, W, 3] uint8 RGB -> [B, 3, H, W] float32, ImageNet mean/std (ToTensor + Normalize)."""
    x = crops.astype(np.float32) * np.float32(1.0 / 255.0)
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _frame_range(frame_ids: np.ndarray) -> FrameRange:
    """The smallest FrameRange that decodes every frame of the track (stride kept when uniform)."""
    start, stop = int(frame_ids[0]), int(frame_ids[-1]) + 1
    steps = np.diff(frame_ids)
    stride = int(steps[0]) if len(steps) and np.all(steps == steps[0]) and steps[0] > 0 else 1
    return FrameRange(start, stop, stride)


def iter_crop_chunks(video: VideoInfo, track: Track, scale: float, chunk: int = 32,
                     size: int = CROP_SIZE) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (rows, crops) with rows [b] indices into the track and crops [b, 3, size, size] float32.

    Frames are decoded once, in order, and dropped as soon as they are cropped.
    """
    frame_ids = np.asarray(track.frame_ids)
    if len(frame_ids) == 0:
        return
    row_of = {int(f): i for i, f in enumerate(frame_ids)}
    rows: list[int] = []
    crops: list[np.ndarray] = []
    seen = 0
    for index, frame in iter_frames(video, _frame_range(frame_ids)):
        row = row_of.get(index)
        if row is None:
            continue
        rows.append(row)
        crops.append(crop_image(frame, track.bboxes[row], scale, size))
        seen += 1
        if len(rows) == chunk:
            yield np.asarray(rows), normalise(np.stack(crops))
            rows, crops = [], []
    if rows:
        yield np.asarray(rows), normalise(np.stack(crops))
    if seen != len(frame_ids):
        raise BackendError(ErrorCode.VIDEO_UNREADABLE,
                           f"{video.path}: decoded only {seen} of the {len(frame_ids)} tracked frames; "
                           "the file may be truncated, re-encode it")
