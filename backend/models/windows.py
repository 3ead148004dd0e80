"""Sliding windows over a clip, with the demos' edge padding, and a rolling per-frame cache.

One window per output frame, stride 1: frame i is predicted from frames i - T//2 ... i - T//2 + T - 1
when they all exist; otherwise (the first T//2 frames, the last T - T//2 - 1, or a clip shorter
than T) from a static window, the frame's own feature repeated T times, exactly as the official
demos' FeatureDataset pads. Unlike the STAF demo, whose tail loop runs one step too far (its last
four rows hold frames N-3..N-1 and then frame 0), row i here is always frame i.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def window_rows(n_frames: int, length: int) -> np.ndarray:
    """[N, T] frame indices of each frame's window."""
    mid = length // 2
    centres = np.arange(n_frames)
    sliding = (centres >= mid) & (centres - mid + length <= n_frames)
    rows = np.where(sliding[:, None], centres[:, None] - mid + np.arange(length)[None], centres[:, None])
    return rows.astype(np.int64)


def batches(n: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _tree_map(fn: Callable[..., torch.Tensor], *trees: Any) -> Any:
    first = trees[0]
    if isinstance(first, dict):
        return {k: _tree_map(fn, *(t[k] for t in trees)) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_tree_map(fn, *parts) for parts in zip(*trees))
    return fn(*trees)


class RollingCache:
    """Per-frame results over a moving range [lo, hi) of frames; each frame is computed once.

    Windows are processed in frame order, so the needed range only moves forward: rows below
    the new start are dropped and only the new frames at the end are computed. `compute(lo, hi)`
    returns a tensor, or a tuple/dict of tensors, with the frames along dim 0.
    """

    def __init__(self, compute: Callable[[int, int], Any]) -> None:
        self.compute = compute
        self.lo = self.hi = 0
        self.data: Any = None
        self.computed = 0

    def span(self, lo: int, hi: int) -> Any:
        """Results for frames [lo, hi); row r of the result is frame lo + r."""
        if self.data is None or lo < self.lo or lo >= self.hi:
            self.data, self.lo, self.hi = self.compute(lo, hi), lo, hi
            self.computed += hi - lo
            return self.data
        if lo > self.lo:
            self.data = _tree_map(lambda t: t[lo - self.lo:], self.data)
            self.lo = lo
        if hi > self.hi:
            fresh = self.compute(self.hi, hi)
            self.computed += hi - self.hi
            self.data = _tree_map(lambda a, b: torch.cat([a, b], dim=0), self.data, fresh)
            self.hi = hi
        return _tree_map(lambda t: t[: hi - lo], self.data)


def predict_windows(n: int, rows: np.ndarray, batch: int, cache: RollingCache, device: str,
                    infer: Callable[[Any, torch.Tensor, slice], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                    progress: Callable[[int, int], None] | None = None,
                    check_cancel: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every frame's window (`rows` [N, T], `window_rows`) through a model, `batch` windows at a time, in order.

    Per batch `part`: cancel checked, the cached per-frame data of frames [lo, hi) it spans (`cache.span`), then
    `infer(data, local [b, T] rows into that span, part)` -> (pose6d [b, 144], betas [b, 10], cam [b, 3]) under
    `torch.inference_mode`; `progress(frames done, n)` after it. Returns pose6d [N, 144], betas [N, 10], cam
    [N, 3] float32 (numpy).
    """
    pose, shape, cam = np.zeros((n, 144), np.float32), np.zeros((n, 10), np.float32), np.zeros((n, 3), np.float32)
    for part in batches(n, batch):
        if check_cancel is not None:
            check_cancel()
        lo, hi = int(rows[part].min()), int(rows[part].max()) + 1
        with torch.inference_mode():
            data = cache.span(lo, hi)
            local = torch.as_tensor(rows[part] - lo, device=device)
            outputs = infer(data, local, part)
        pose[part], shape[part], cam[part] = (t.float().cpu().numpy() for t in outputs)
        if progress is not None:
            progress(part.stop, n)
    return pose, shape, cam
