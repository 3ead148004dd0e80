"""Finding the backend and building its command lines (no bpy).

The backend runs in its own venv, never in Blender's Python. Its source ships inside the
extension as `backend_src/` (see build_extension.py); in a git checkout it is the repo root.
Its Python is, in order: the one chosen in the preferences, $VIDEO_MOCAP_BACKEND_PYTHON,
the venv that `install_deps.py --prefix <user dir>` made (at `<user dir>/venv`), the checkout's `.venv`.
Commands are argument lists for subprocess, never shell strings.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .run_options import OPTION, RunOptions, option_argv

BACKEND_PYTHON_ENV = "VIDEO_MOCAP_BACKEND_PYTHON"
BUNDLED_SOURCE_DIR = "backend_src"
USER_VENV_DIR = "venv"
DEVICES: tuple[str, ...] = OPTION["device"].choices
#: Image files the backend reads as a sequence (mirrors backend/tracking/video.py IMAGE_SUFFIXES).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def pasted_path(text: str) -> str:
    """A file path as the user typed or pasted it, without surrounding blanks or one pair of quotes.

    Windows Explorer's "Copy as path" puts double quotes around the path, and paths copied from a shell
    often carry quotes; a quoted path is not a file ('video not found: "C:\\clips\\walk.mp4"').
    Quotes inside the path stay.
    """
    cleaned = text.strip()
    if len(cleaned) >= 2 and cleaned[0] == cleaned[-1] and cleaned[0] in "\"'":
        cleaned = cleaned[1:-1].strip()
    return cleaned


def venv_python(venv_dir: Path) -> Path:
    """The interpreter inside a venv, on this platform."""
    if sys.platform == "win32":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def find_backend_source(addon_dir: Path) -> Path | None:
    """The folder holding the `backend` package: bundled in the extension, else the checkout root."""
    for candidate in (addon_dir / BUNDLED_SOURCE_DIR, addon_dir.parent):
        if (candidate / "backend" / "__init__.py").is_file():
            return candidate
    return None


def python_candidates(chosen: str, user_dir: Path | None, source_root: Path | None,
                      environ: Mapping[str, str]) -> list[tuple[str, Path]]:
    """(where it came from, path) in order of preference; the first that exists wins."""
    candidates: list[tuple[str, Path]] = []
    if chosen.strip():
        candidates.append(("preferences", Path(chosen.strip()).expanduser()))
    if environ.get(BACKEND_PYTHON_ENV, "").strip():
        candidates.append((BACKEND_PYTHON_ENV, Path(environ[BACKEND_PYTHON_ENV].strip()).expanduser()))
    if user_dir is not None:
        candidates.append(("installed backend", venv_python(user_dir / USER_VENV_DIR)))
    if source_root is not None:
        candidates.append(("checkout .venv", venv_python(source_root / ".venv")))
    return candidates


def find_backend_python(chosen: str, user_dir: Path | None, source_root: Path | None,
                        environ: Mapping[str, str] | None = None) -> Path | None:
    """The backend's interpreter, or None. A path chosen explicitly is returned even if it is missing,
    so that the error names the path the user typed rather than silently picking another."""
    candidates = python_candidates(chosen, user_dir, source_root, os.environ if environ is None else environ)
    if candidates and candidates[0][0] == "preferences":
        return candidates[0][1]
    for _origin, path in candidates:
        if path.is_file():
            return path
    return None


def backend_argv(python: Path | str, *args: str) -> list[str]:
    """`python -P -m backend ...`: -P (Python 3.11+) keeps the working directory off sys.path, so a
    folder named `backend` wherever Blender was started cannot shadow the real one on PYTHONPATH."""
    return [str(python), "-P", "-m", "backend", *args]


def run_argv(python: Path | str, options: RunOptions) -> list[str]:
    """The `backend run` command for these options, as an argument list (defaults are left out)."""
    return backend_argv(python, "run", str(options.video), "--out", str(options.out), *option_argv(options))


def backend_env(source_root: Path, temp_dir: Path | None = None,
                base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: the backend importable, output unbuffered, temp files in our folder.

    PYTHONHOME is dropped: Blender's interpreter settings must not leak into the backend's venv.
    """
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONHOME", None)
    existing = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(source_root) + (os.pathsep + existing if existing else "")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if temp_dir is not None:
        for name in ("TMPDIR", "TEMP", "TMP"):
            env[name] = str(temp_dir)
    return env


@dataclass(frozen=True)
class ModelInfo:
    """One entry of `backend models --json`."""

    name: str
    title: str
    windows: tuple[int, ...]
    default_window: int | None
    ready: bool
    missing: tuple[str, ...]
    status: str

    @property
    def has_window(self) -> bool:
        return bool(self.windows)


#: Shown until the backend has answered, so the default model can run without waiting.
FALLBACK_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(name="blazepose", title="BlazePose (built-in, MediaPipe)", windows=(), default_window=None,
              ready=True, missing=(), status="built in"),
)


def parse_models(payload: object) -> list[ModelInfo]:
    """The models list from `backend models --json`; raises TypeError if the shape is wrong."""
    if not isinstance(payload, dict) or not isinstance(payload.get("models"), list):
        raise TypeError("`backend models --json` did not print an object with a 'models' list")
    models = []
    for entry in payload["models"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise TypeError(f"`backend models --json`: bad model entry {entry!r}")
        windows = tuple(int(w) for w in entry.get("windows") or ())
        default = entry.get("default_window")
        models.append(ModelInfo(
            name=entry["name"],
            title=str(entry.get("title") or entry["name"]),
            windows=windows,
            default_window=int(default) if default is not None else (windows[0] if windows else None),
            ready=bool(entry.get("ready", False)),
            missing=tuple(str(m) for m in entry.get("missing") or ()),
            status=str(entry.get("status") or ""),
        ))
    return models


def install_argv(python: Path | str, source_root: Path, prefix: Path, extra: Sequence[str] = ()) -> list[str]:
    """`install_deps.py --prefix DIR` (the venv goes to DIR/venv), run by the given interpreter (Blender's own is
    fine: install_deps.py needs only the standard library)."""
    return [str(python), str(source_root / "install_deps.py"), "--prefix", str(prefix), *extra]
