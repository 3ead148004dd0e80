"""Backbone features, computed once per frame in batches while the video streams, kept for every window.

Crops arrive in chunks from `backend.crops`; each chunk goes through the backbone under
`torch.inference_mode` with channels-last memory (about 1.3-1.4x faster on CPU) and lands in a
`FeatureStore`. The store is an in-memory array unless the clip's features would exceed a budget
(STAF keeps 2048x7x7 maps, 392 KB a frame), in which case it is a temporary file on disk.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..crops import iter_crop_chunks
from .base import ModelRequest

MEMORY_BUDGET = 1 << 30  # bytes of features kept in RAM before spilling to a temporary file


class FeatureStore:
    """[N, *shape] float32 per-frame features, in RAM or memory-mapped from a temporary file."""

    def __init__(self, n: int, shape: tuple[int, ...], budget: int = MEMORY_BUDGET, folder: Path | None = None) -> None:
        nbytes = n * math.prod(shape) * 4
        self._file = None
        if nbytes > budget:
            self._file = tempfile.NamedTemporaryFile(prefix="features-", suffix=".f32", dir=folder)  # noqa: SIM115
            self.array = np.memmap(self._file.name, dtype=np.float32, mode="w+", shape=(n, *shape))
        else:
            self.array = np.zeros((n, *shape), dtype=np.float32)
        self.on_disk = self._file is not None

    def put(self, rows: np.ndarray, values: torch.Tensor) -> None:
        self.array[rows] = values.float().cpu().numpy()

    def get(self, lo: int, hi: int, device: str = "cpu") -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.array[lo:hi])).to(device)

    def close(self) -> None:
        if self._file is not None:
            del self.array
            self._file.close()
            self._file = None


def extract_features(request: ModelRequest, backbone: torch.nn.Module, crop_scale: float, shape: tuple[int, ...],
                     batch: int) -> FeatureStore:
    """Stream crops through the backbone; progress 'crops' and 'features', cancel checked per batch."""
    track, events = request.track, request.events
    n = len(track)
    store = FeatureStore(n, shape)
    device = request.device
    events.progress("crops", 0, n)
    events.progress("features", 0, n)
    done = 0
    try:
        for rows, crops in iter_crop_chunks(request.video, track, crop_scale, chunk=batch):
            events.progress("crops", done + len(rows), n)
            request.check_cancel()
            x = torch.from_numpy(crops).to(device).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                store.put(rows, backbone(x))
            done += len(rows)
            events.progress("features", done, n)
    except BaseException:
        store.close()
        raise
    return store
