"""Where the backend looks for weights, SMPL files and its cache, unless the command line says otherwise.

Order: command-line flag > environment variable > per-user data folder (XDG).
"""

from __future__ import annotations

import os
from pathlib import Path

APP_DIR_NAME = "video_mocap"


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value else Path.home() / fallback


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / APP_DIR_NAME


def cache_dir() -> Path:
    override = os.environ.get("VIDEO_MOCAP_CACHE_DIR")
    return Path(override) if override else _xdg("XDG_CACHE_HOME", ".cache") / APP_DIR_NAME


def weights_dir(cli_value: str | None = None) -> Path:
    if cli_value:
        return Path(cli_value).expanduser()
    env = os.environ.get("VIDEO_MOCAP_WEIGHTS_DIR")
    return Path(env).expanduser() if env else data_dir() / "weights"


def smpl_dir(cli_value: str | None = None) -> Path:
    if cli_value:
        return Path(cli_value).expanduser()
    env = os.environ.get("VIDEO_MOCAP_SMPL_DIR")
    return Path(env).expanduser() if env else data_dir() / "smpl"
