"""Crops: square side max(w, h) * scale around the box centre, 224 px, ImageNet normalisation, streamed."""

from __future__ import annotations

import numpy as np
import pytest

from backend.core.errors import BackendError
from backend.tracking.crops import IMAGENET_MEAN, IMAGENET_STD, crop_image, iter_crop_chunks, normalise
from backend.tracking.track import Track
from backend.tracking.video import probe
from tests.conftest import SINGLE


def test_crop_geometry() -> None:
    frame = np.zeros((400, 600, 3), np.uint8)
    frame[150, 330] = 255  # 30 px right of the box centre (300, 150)
    bbox = np.array([300.0, 150.0, 100.0, 200.0])  # side = 200 * 1.2 = 240 px -> 224 px
    crop = crop_image(frame, bbox, 1.2)
    assert crop.shape == (224, 224, 3)
    y, x = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    assert (y, x) == (112, round(112 + 30 * 224 / 240))


def test_outside_the_frame_is_black() -> None:
    frame = np.full((100, 100, 3), 200, np.uint8)
    crop = crop_image(frame, np.array([0.0, 0.0, 50.0, 50.0]), 1.1)
    assert crop[:100, :100].max() == 0 and crop[-1, -1, 0] == 200


def test_normalise_is_imagenet() -> None:
    crops = np.full((2, 4, 4, 3), 128, np.uint8)
    x = normalise(crops)
    assert x.shape == (2, 3, 4, 4) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 0, 0], (128 / 255 - IMAGENET_MEAN) / IMAGENET_STD, rtol=1e-6)


def _track(n: int, frame_ids: np.ndarray | None = None) -> Track:
    ids = np.arange(n, dtype=np.int32) if frame_ids is None else frame_ids
    boxes = np.tile(np.array([540.0, 1000.0, 500.0, 1200.0], np.float32), (len(ids), 1))
    return Track(0, ids, np.ones(len(ids), bool), boxes, np.zeros((len(ids), 33, 3), np.float32),
                 np.zeros((len(ids), 33, 3), np.float32), (1080, 1920))


def test_streamed_chunks_cover_every_row_once() -> None:
    info = probe(SINGLE)
    track = _track(0, np.arange(3, 40, 3, dtype=np.int32))
    seen = []
    for rows, crops in iter_crop_chunks(info, track, 1.1, chunk=5):
        assert crops.shape == (len(rows), 3, 224, 224) and len(rows) <= 5
        seen += list(rows)
    assert seen == list(range(len(track)))


def test_missing_frames_are_reported() -> None:
    info = probe(SINGLE)
    with pytest.raises(BackendError) as info_err:
        list(iter_crop_chunks(info, _track(0, np.array([38, 39, 45], np.int32)), 1.1))
    assert "decoded only 2 of the 3" in info_err.value.message
