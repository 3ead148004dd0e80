"""Checks on output paths, done before any slow work so a typo costs a second, not a conversion."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import BackendError, ErrorCode


def check_output_path(out: Path, suffixes: tuple[str, ...], what: str, endings: str = "") -> str:
    """Raise BAD_ARGUMENT for a wrong extension, OUT_NOT_WRITABLE for an unusable place; returns the suffix."""
    kind = out.suffix.lower()
    if kind not in suffixes:
        endings = endings or " or ".join(suffixes)
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"--out {out}: the {what} must end in {endings}")
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise BackendError(ErrorCode.OUT_NOT_WRITABLE, f"--out {out} is a folder; give a file name ending in {kind}")
    if not folder.is_dir():
        raise BackendError(ErrorCode.OUT_NOT_WRITABLE,
                           f"cannot write {out}: folder {folder} does not exist; create it or choose another --out")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BackendError(ErrorCode.OUT_NOT_WRITABLE,
                           f"cannot write {out}: no write permission in folder {folder}; choose another --out")
    return kind


def ordinary_file_mode() -> int:
    """Permissions a plain new file gets under the current umask (mkstemp's 0600 is for secrets)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_output(dst: Path) -> Iterator[BinaryIO]:
    """Write `dst` through a temp file in the same folder, renamed into place only when complete.

    A reader never sees half a file, and on any failure (including cancellation) nothing is left.
    """
    dst = Path(dst)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, ordinary_file_mode())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
