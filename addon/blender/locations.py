"""Where the add-on finds things and keeps its data, from inside Blender.

All data the add-on writes (the backend venv, run folders) lives in the extension's user
directory, never in the add-on's own folder, which may be read-only or replaced on upgrade.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from ..backend_client.backend_paths import find_backend_python, find_backend_source

ADDON_DIR = Path(__file__).resolve().parent.parent  # this file is <add-on>/blender/locations.py
PACKAGE = __package__.rpartition(".")[0] if __package__ else ADDON_DIR.name  # the add-on's own package
EXTENSION_ID = "video_mocap"


def user_dir() -> Path:
    """The extension's user directory; outside the extension system (a checkout, a batch run)
    the same place an installed `user_default` extension would use."""
    try:
        return Path(bpy.utils.extension_path_user(PACKAGE, create=True))
    except (ValueError, AttributeError):  # not installed as an extension, or Blender < 4.2
        pass
    try:
        fallback = bpy.utils.user_resource("EXTENSIONS", path=f".user/user_default/{EXTENSION_ID}", create=True)
    except (ValueError, TypeError):  # Blender < 4.2 has no EXTENSIONS resource
        fallback = bpy.utils.user_resource("DATAFILES", path=EXTENSION_ID, create=True)
    return Path(fallback)


def runs_dir() -> Path:
    return user_dir() / "runs"


def backend_source() -> Path | None:
    return find_backend_source(ADDON_DIR)


def preferences() -> bpy.types.AddonPreferences | None:
    """This add-on's preferences, or None when it is used without being enabled (batch)."""
    addon = bpy.context.preferences.addons.get(PACKAGE)
    return addon.preferences if addon is not None else None


def backend_python(chosen: str | None = None) -> Path | None:
    """The backend interpreter: `chosen`, else the preference, else auto-detected."""
    if chosen is None:
        prefs = preferences()
        chosen = getattr(prefs, "backend_python", "") if prefs is not None else ""
    return find_backend_python(bpy.path.abspath(chosen) if chosen else "", user_dir(), backend_source())


def installed_backend() -> tuple[Path, Path] | None:
    """(interpreter, source folder) when both exist, else None: what every backend command needs."""
    python, source = backend_python(), backend_source()
    if python is None or not python.is_file() or source is None:
        return None
    return python, source
