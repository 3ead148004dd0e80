"""Feature extraction helpers: the decode-ahead thread and the feature store."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from backend.models.features import FeatureStore, prefetch


def test_prefetch_yields_in_order_and_reraises() -> None:
    assert list(prefetch(lambda: iter(range(7)))) == list(range(7))

    def broken():
        yield 1
        raise ValueError("decode failed")

    items = prefetch(broken)
    assert next(items) == 1
    with pytest.raises(ValueError, match="decode failed"):
        next(items)


def test_prefetch_stops_its_thread_when_closed() -> None:
    produced = []

    def endless():
        for i in range(10_000):
            produced.append(i)
            yield i

    items = prefetch(endless, depth=2)
    assert next(items) == 0
    items.close()
    time.sleep(0.3)
    assert len(produced) < 10 and not any(t.name == "crops-prefetch" for t in threading.enumerate())


@pytest.mark.parametrize("budget", [1 << 30, 1])
def test_feature_store_in_memory_or_on_disk(budget: int) -> None:
    store = FeatureStore(5, (2, 3), budget=budget)
    assert store.on_disk == (budget == 1)
    store.put(np.array([3, 1]), torch.ones(2, 2, 3))
    got = store.get(0, 5)
    assert got.shape == (5, 2, 3) and got[1].sum() == 6 and got[3].sum() == 6 and got[0].sum() == 0
    store.close()
