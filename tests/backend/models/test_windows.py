"""Windows and edge padding as the demos do it, with every row its own frame; the rolling cache."""

from __future__ import annotations

import numpy as np
import torch

from backend.models.windows import RollingCache, batches, window_rows


def test_tcmr_mpsnet_windows() -> None:
    rows = window_rows(40, 16)
    assert rows.shape == (40, 16)
    for i in range(8):  # demo: frames 0..7 get static windows
        assert (rows[i] == i).all()
    assert list(rows[8]) == list(range(0, 16))
    assert list(rows[32]) == list(range(24, 40))
    for i in range(33, 40):  # and the last 7 frames
        assert (rows[i] == i).all()
    assert (rows[np.arange(40), 8] == np.arange(40)).all()  # the current frame is always the row's own frame


def test_staf_windows_have_no_tail_shift() -> None:
    rows = window_rows(30, 9)
    assert list(rows[25]) == list(range(21, 30))
    for i in (26, 27, 28, 29):  # the demo puts frames 27..29 and then frame 0 here
        assert (rows[i] == i).all()
    assert (rows[:, 4] == np.arange(30)).all()


def test_short_clip_is_all_static() -> None:
    rows = window_rows(5, 16)
    assert (rows == np.arange(5)[:, None]).all()


def test_rolling_cache_computes_each_frame_once() -> None:
    calls: list[tuple[int, int]] = []

    def compute(lo: int, hi: int) -> dict[str, torch.Tensor]:
        calls.append((lo, hi))
        return {"x": torch.arange(lo, hi).float()[:, None], "y": (torch.arange(lo, hi) * 2,)}

    cache = RollingCache(compute)
    rows = window_rows(100, 16)
    for part in batches(100, 7):
        lo, hi = int(rows[part].min()), int(rows[part].max()) + 1
        data = cache.span(lo, hi)
        assert torch.equal(data["x"][:, 0], torch.arange(lo, hi).float())
        assert torch.equal(data["y"][0], torch.arange(lo, hi) * 2)
    assert cache.computed == 100
