"""Is the backend installed? `backend doctor --json`, run by the backend's own Python, decides (no bpy).

An interpreter that merely exists is not an installed backend: a venv left half-way by an
interrupted install, or someone else's Python, has no cv2 or mediapipe. "Ready" means doctor ran
from that Python and every check the built-in model needs passed; anything else lists what is
missing, for the preferences to show beside the button that fixes it (Install Backend).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackendHealth:
    """What doctor said. `state`: READY, INCOMPLETE (doctor ran, something required fails) or BROKEN
    (doctor itself could not run or answered nonsense)."""

    state: str
    missing: tuple[str, ...] = ()
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "READY"


def parse_doctor(payload: object) -> BackendHealth:
    """The health from `backend doctor --json`'s object: {"ok": bool, "checks": [{name, ok, message, required}]}."""
    if not isinstance(payload, dict) or not isinstance(payload.get("checks"), list):
        return BackendHealth("BROKEN", detail="`backend doctor --json` did not print its report")
    failing = [check for check in payload["checks"]
               if isinstance(check, dict) and check.get("required", True) and not check.get("ok", False)]
    if not failing and payload.get("ok") is True:
        return BackendHealth("READY")
    names = tuple(str(check.get("name", "?")) for check in failing)
    first = str(failing[0].get("message", "")) if failing else "doctor reported a problem"
    return BackendHealth("INCOMPLETE", missing=names, detail=first)


def from_failed_run(message: str) -> BackendHealth:
    """Doctor did not answer with its report (crashed, wrong Python, not a backend): say why."""
    return BackendHealth("BROKEN", detail=message or "`backend doctor --json` failed")
