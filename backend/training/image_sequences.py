"""Image sequences with SMPL ground truth (`convert-dataset` of 3DPW), read for training and validation.

Arrays are memory-mapped with `allow_pickle=False` (never unpickled); images are decoded with
OpenCV only when a batch needs them and cropped as TAR crops at inference: ReFit's demo crop
(`crops.crop_image_resized`: a square of side crop_scale x max(w, h) around the box centre, integer
corners, zero padding, anti-aliased resize).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..core.errors import BackendError, ErrorCode
from ..tracking.crops import crop_image_resized, normalise
from .datasets import read_array_folder, sequence_ranges
from .pw3d import FORMAT


class ImageSequences:
    """A converted image-sequence dataset folder (see `pw3d.py` for its arrays).

    `sequences`: (start, stop) row ranges of consecutive images of one track (a new range starts
    where `track` changes or `frame_id` does not step by one).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder = Path(folder)
        self.meta, self.arrays = read_array_folder(
            folder, FORMAT, "dataset", "3DPW_DIR",
            wrong_hint="TAR trains on images: convert 3DPW's sequence files with `convert-dataset 3DPW_DIR OUT_DIR`")
        self.images_root = Path(self.meta["images_root"])
        self.sequences = sequence_ranges(self.arrays["track"], self.arrays["frame_id"])

    def __len__(self) -> int:
        return len(self.arrays["pose"])

    def rows(self, index: np.ndarray, key: str) -> np.ndarray:
        """Rows `index` (any shape) of one array, as a fresh array of that shape + the row shape."""
        flat = np.asarray(index).reshape(-1)
        out = np.asarray(self.arrays[key][flat])
        return out.reshape(*np.shape(index), *self.arrays[key].shape[1:])

    def window_starts(self, length: int, mid_valid: bool = True) -> np.ndarray:
        """First rows of every full window of `length` images inside one track (mid-frame valid if asked)."""
        starts = [np.arange(a, b - length + 1) for a, b in self.sequences if b - a >= length]
        out = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        if mid_valid and len(out):
            out = out[np.asarray(self.arrays["valid"])[out + length // 2]]
        return out.astype(np.int64)

    def crops(self, index: np.ndarray, scale: float, size: int) -> np.ndarray:
        """Normalised crops [*index.shape, 3, size, size] float32 (ImageNet mean/std) of rows `index`."""
        flat = np.asarray(index).reshape(-1)
        boxes = self.rows(flat, "bbox")
        out = np.empty((len(flat), size, size, 3), np.uint8)
        cache: dict[str, np.ndarray] = {}
        for i, row in enumerate(flat):
            name = str(self.arrays["image"][row])
            if name not in cache:
                path = self.images_root / name
                frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if frame is None:
                    raise BackendError(ErrorCode.BAD_ARGUMENT, f"cannot read the image {path} of {self.folder}")
                cache[name] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            out[i] = crop_image_resized(cache[name], boxes[i], scale, size)
        return normalise(out).reshape(*np.shape(index), 3, size, size)
