"""Error codes of the backend contract, each raised with a message the user can act on."""

from __future__ import annotations

import enum


class ErrorCode(str, enum.Enum):
    """Codes reported in `{"event": "error", "code": ...}` lines (see DESIGN.md)."""

    VIDEO_NOT_FOUND = "VIDEO_NOT_FOUND"
    VIDEO_UNREADABLE = "VIDEO_UNREADABLE"
    NO_PERSON = "NO_PERSON"
    BAD_ARGUMENT = "BAD_ARGUMENT"
    WEIGHTS_MISSING = "WEIGHTS_MISSING"
    WEIGHTS_INVALID = "WEIGHTS_INVALID"  # present but truncated, wrong model, or needs unpickling
    SMPL_MISSING = "SMPL_MISSING"
    OUT_NOT_WRITABLE = "OUT_NOT_WRITABLE"
    PACKAGES_MISSING = "PACKAGES_MISSING"  # a third-party package of the backend's venv cannot be imported
    CANCELLED = "CANCELLED"
    INTERNAL = "INTERNAL"


#: Process exit status for each code, so scripts can branch without parsing JSON.
EXIT_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_ARGUMENT: 2,
    ErrorCode.VIDEO_NOT_FOUND: 3,
    ErrorCode.VIDEO_UNREADABLE: 4,
    ErrorCode.NO_PERSON: 5,
    ErrorCode.WEIGHTS_MISSING: 6,
    ErrorCode.WEIGHTS_INVALID: 9,
    ErrorCode.SMPL_MISSING: 7,
    ErrorCode.OUT_NOT_WRITABLE: 8,
    ErrorCode.PACKAGES_MISSING: 10,
    ErrorCode.CANCELLED: 130,
    ErrorCode.INTERNAL: 70,
}


class BackendError(Exception):
    """A failure the user can fix; `message` names the file and what is wrong."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.code]


class Cancelled(BackendError):
    """Raised inside the pipeline once SIGTERM or SIGINT has been received."""

    def __init__(self, message: str = "cancelled by the user (SIGTERM/SIGINT); no output was written") -> None:
        super().__init__(ErrorCode.CANCELLED, message)
