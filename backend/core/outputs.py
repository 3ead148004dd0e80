"""Checks on output paths, done before any slow work so a typo costs a second, not a conversion."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import BackendError, ErrorCode


def check_output_path(out: Path, suffixes: tuple[str, ...], what: str, endings: str = "", flag: str = "--out") -> str:
    """Raise BAD_ARGUMENT for a wrong extension, OUT_NOT_WRITABLE for an unusable place; returns the suffix.

    `flag` is the option the user gave the path with (`export` has --bvh, --amass, --csv), named in the message."""
    kind = out.suffix.lower()
    if kind not in suffixes:
        endings = endings or " or ".join(suffixes)
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"{flag} {out}: the {what} must end in {endings}")
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise BackendError(ErrorCode.OUT_NOT_WRITABLE, f"{flag} {out} is a folder; give a file name ending in {kind}")
    if not folder.is_dir():
        raise BackendError(ErrorCode.OUT_NOT_WRITABLE,
                           f"cannot write {out}: folder {folder} does not exist; create it or choose another {flag}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BackendError(ErrorCode.OUT_NOT_WRITABLE,
                           f"cannot write {out}: no write permission in folder {folder}; choose another {flag}")
    return kind


def ordinary_file_mode() -> int:
    """Permissions a plain new file gets under the current umask (mkstemp's 0600 is for secrets)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(dst: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temp file beside `dst` to write by name; when the block ends it is fsynced and renamed onto
    `dst`, and on any failure (including cancellation) removed. The one atomic writer of the backend.

    `suffix` lets writers that pick a container from the name (OpenCV's encoders) see `dst`'s.
    A reader never sees half a file.
    """
    dst = Path(dst)
    fd, name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=suffix, dir=dst.parent if str(dst.parent) else ".")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, ordinary_file_mode())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_output(dst: Path) -> Iterator[BinaryIO]:
    """`atomic_path` with the temp file open for binary writing."""
    with atomic_path(dst) as tmp, open(tmp, "wb") as handle:
        yield handle
