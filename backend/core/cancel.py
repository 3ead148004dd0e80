"""Cooperative cancellation: SIGTERM/SIGINT set a flag that the pipeline checks between units of work.

Raising from inside a signal handler could interrupt a half-written file; checking a flag at safe
points lets each stage stop cleanly and remove its temp files.
"""

from __future__ import annotations

import signal
import threading

from .errors import Cancelled

_cancelled = threading.Event()


def _handler(signum: int, _frame: object) -> None:
    _cancelled.set()


def install_handlers() -> None:
    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)


def check() -> None:
    """Raise `Cancelled` if a stop was requested."""
    if _cancelled.is_set():
        raise Cancelled()


def requested() -> bool:
    return _cancelled.is_set()
