"""Thread count follows the cores that are actually free."""

from __future__ import annotations

from backend.core.threads import auto_threads, busy_by_others, usable_cores


def test_auto_threads_within_usable_cores() -> None:
    cores = usable_cores()
    assert 1 <= auto_threads() <= cores
    others = busy_by_others(0.05)
    assert others is None or others >= 0.0
