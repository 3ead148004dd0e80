"""JSON-line events on stdout: the only thing the backend ever prints there.

Every line is one JSON object with an `event` key: `progress`, `warning`, `error` or `done`.
Logs go to stderr through `logging`, so stdout stays machine-readable.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

_lock = threading.Lock()


class EventStream:
    """Writes contract events; throttles progress so a 10k-frame clip does not flood the pipe."""

    def __init__(self, stream: TextIO | None = None, min_interval_s: float = 0.05) -> None:
        self._stream = stream
        self._min_interval_s = min_interval_s
        self._last_progress: dict[str, float] = {}

    def _write(self, payload: dict[str, Any]) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        line = json.dumps(payload, separators=(", ", ": "))
        with _lock:
            stream.write(line + "\n")
            stream.flush()

    def progress(self, stage: str, done: int, total: int, **extra: Any) -> None:
        """Report `done` of `total` units of `stage` (plus `extra` fields); always reports the first and last unit."""
        now = time.monotonic()
        last = self._last_progress.get(stage)
        if done not in (0, total) and last is not None and now - last < self._min_interval_s:
            return
        self._last_progress[stage] = now
        self._write({"event": "progress", "stage": stage, "done": int(done), "total": int(total), **extra})

    def emit(self, payload: dict[str, Any], throttle: str | None = None) -> None:
        """Write any event object (batch events: `clip`, `clip_progress`, `batch_progress`, `batch_done`).

        With `throttle`, lines sharing that key are dropped when closer than the minimum interval,
        unless `done` equals `total` (the last one always goes out).
        """
        if throttle is not None and payload.get("done") != payload.get("total"):
            now = time.monotonic()
            last = self._last_progress.get(throttle)
            if last is not None and now - last < self._min_interval_s:
                return
            self._last_progress[throttle] = now
        self._write(payload)

    def warning(self, code: str, message: str) -> None:
        self._write({"event": "warning", "code": code, "message": message})

    def error(self, code: str, message: str) -> None:
        self._write({"event": "error", "code": code, "message": message})

    def done(self, out: str, **extra: Any) -> None:
        self._write({"event": "done", "out": out, **extra})
