"""Square person crops for the seed models, produced in chunks while the video streams.

As in the TCMR / MPS-Net / STAF demos: a square of side `max(w, h) * scale` centred on the
box is mapped to `size` x `size` pixels with one affine warp (bilinear, black outside the
image), then ImageNet normalisation, channels first. Only one chunk of crops exists at a time,
so memory does not grow with the clip length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

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


def _refit_corners(cx: float, cy: float, scale: float, size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Upper-left and bottom-right image pixels of ReFit's crop (`imutils.crop` via `get_transform` and
    `transform(..., invert=1)`): crop pixels 0 and `size` mapped through the inverted matrix, truncated."""
    h = 200.0 * scale
    matrix = np.array([[size / h, 0.0, size * (-cx / h + 0.5)], [0.0, size / h, size * (-cy / h + 0.5)],
                       [0.0, 0.0, 1.0]])
    inverse = np.linalg.inv(matrix)
    ul = (inverse @ np.array([0.0, 0.0, 1.0]))[:2].astype(int)
    br = (inverse @ np.array([float(size), float(size), 1.0]))[:2].astype(int)
    return (int(ul[0]), int(ul[1])), (int(br[0]), int(br[1]))


def crop_image_resized(frame: np.ndarray, bbox: np.ndarray, scale: float, size: int = CROP_SIZE) -> np.ndarray:
    """One RGB uint8 crop [size, size, 3] the way ReFit's demo cuts it (`lib/utils/imutils.py:crop`).

    The square of side b = max(w, h) * scale around the box centre is cut at integer-truncated
    corners (computed through the same inverted 3x3 crop matrix, so float rounding truncates the
    same way: a 1440 px square may be cut 1439 px wide) into a zero-padded array, low-pass filtered
    when it shrinks (Gaussian, sigma = (b/size - 1)/2, mirror borders, radius 4 sigma: skimage's
    `resize` anti-aliasing), resized
    linearly with half-pixel centres and mirrored edges (skimage order 1, in float64), then truncated
    to uint8 as ReFit does. Checked against the official crop (`tests/data/refit_crops_official.npz`).
    """
    box = np.asarray(bbox, np.float64)
    (x0, y0), (x1, y1) = _refit_corners(float(box[0]), float(box[1]), max(box[2], box[3]) / 200.0 * scale, size)
    h, w = frame.shape[:2]
    if x1 <= x0 or y1 <= y0:
        return np.zeros((size, size, 3), np.uint8)
    region = np.zeros((y1 - y0, x1 - x0, 3), np.float64)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if sx1 > sx0 and sy1 > sy0:
        region[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    sigma_x, sigma_y = max(0.0, (region.shape[1] / size - 1) / 2), max(0.0, (region.shape[0] / size - 1) / 2)
    if sigma_x > 0 or sigma_y > 0:
        kx, ky = 2 * int(4 * sigma_x + 0.5) + 1, 2 * int(4 * sigma_y + 0.5) + 1
        region = cv2.GaussianBlur(region, (kx, ky), sigmaX=sigma_x or 1e-6, sigmaY=sigma_y or 1e-6,
                                  borderType=cv2.BORDER_REFLECT_101)
    out = _linear_resize(_linear_resize(region, size, axis=0), size, axis=1)
    return np.clip(out, 0, 255).astype(np.uint8)


def _linear_resize(image: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation of one axis to `size` samples, half-pixel centres, mirrored outside the edge
    samples: what skimage's order-1 `resize` does (`scipy.ndimage.zoom(grid_mode=True, mode='mirror')`)."""
    n = image.shape[axis]
    src = (np.arange(size) + 0.5) * (n / size) - 0.5
    lo = np.floor(src).astype(np.int64)
    weight = src - lo
    period = max(2 * n - 2, 1)

    def mirror(i: np.ndarray) -> np.ndarray:
        i = np.abs(i) % period
        return np.where(i >= n, period - i, i)

    shape = [1] * image.ndim
    shape[axis] = size
    w = weight.reshape(shape)
    return np.take(image, mirror(lo), axis=axis) * (1 - w) + np.take(image, mirror(lo + 1), axis=axis) * w


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
                     size: int = CROP_SIZE,
                     cut: Callable[[np.ndarray, np.ndarray, float, int], np.ndarray] = crop_image,
                     ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (rows, crops) with rows [b] indices into the track and crops [b, 3, size, size] float32.

    Frames are decoded once, in order, and dropped as soon as they are cropped. `cut` makes one
    uint8 crop (`crop_image`: the seed models' affine warp; `crop_image_resized`: ReFit's).
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
        crops.append(cut(frame, track.bboxes[row], scale, size))
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
