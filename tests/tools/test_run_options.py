"""The run-options table: one file, two identical copies, and every row round-trips add-on -> backend CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from addon.backend_client import run_options as addon_table
from backend.commands.cli import build_parser
from backend.core import run_options as backend_table

ROOT = Path(__file__).resolve().parents[2]
BACKEND_COPY = ROOT / "backend" / "core" / "run_options.py"
ADDON_COPY = ROOT / "addon" / "backend_client" / "run_options.py"


def test_the_add_on_copy_is_the_backend_file_byte_for_byte() -> None:
    assert ADDON_COPY.read_bytes() == BACKEND_COPY.read_bytes(), (
        f"{ADDON_COPY} differs from {BACKEND_COPY}: edit the backend's copy, then "
        "`cp backend/core/run_options.py addon/backend_client/`")


def non_default(option: backend_table.Option) -> object:
    """A value for the row that is not its default, in the backend's form."""
    if option.kind is bool:
        return not option.default
    if option.choices:
        return next(choice for choice in option.choices if choice != option.default)
    if option.name == "frames":
        return "3:40"
    if option.name == "person":
        return 2
    if option.kind is str:
        return "tcmr" if option.name == "model" else f"/some folder/{option.name}"
    return option.kind(7) if option.default in (None, 0, 1, 4) else option.kind(option.default) * 2 + 1


@pytest.mark.parametrize("name", [option.name for option in backend_table.RUN_OPTIONS])
def test_every_row_reaches_the_backend_unchanged(name: str) -> None:
    """What the add-on writes on the command line for a row, the backend CLI parses back to the same value."""
    option = addon_table.OPTION[name]
    value = non_default(option)
    options = addon_table.RunOptions(video="clip.mp4", out="out.npz", **{name: value})
    argv = addon_table.option_argv(options)
    assert argv[0] == option.flag and len(argv) == (1 if option.is_flag else 2)
    args = build_parser().parse_args(["run", "clip.mp4", *argv])
    parsed = backend_table.values_from(args)
    assert parsed[name] == value
    assert all(parsed[other.name] == other.default for other in backend_table.RUN_OPTIONS if other.name != name)


def test_defaults_write_no_flags_and_parse_back_to_defaults() -> None:
    assert addon_table.option_argv(addon_table.RunOptions(video="v", out="o")) == []
    parsed = backend_table.values_from(build_parser().parse_args(["run", "v.mp4"]))
    assert parsed == {option.name: option.default for option in backend_table.RUN_OPTIONS}


def test_panel_values_read_methods_and_attributes_and_skip_missing_preferences() -> None:
    class Scene:
        model = "tcmr"

        def model_argument(self) -> str:
            return self.model

        def window_argument(self) -> int:
            return 16

        def person_argument(self) -> None:
            return None

        def frames_argument(self) -> str:
            return "0:10"

        def smooth_argument(self) -> float:
            return 0.5

        foot_lock = False

        def ground_argument(self) -> str:
            return "plane"

        def fps_argument(self) -> None:
            return None

        fit = False

        def height_argument(self) -> float:
            return 1.82

    values = addon_table.panel_values({"scene": Scene(), "prefs": None})
    assert values == {"model": "tcmr", "window": 16, "person": None, "frames": "0:10", "smooth": 0.5,
                      "foot_lock": False, "ground": "plane", "fps": None, "fit": False, "height": 1.82}
    assert {option.panel.split(".")[0] for option in addon_table.RUN_OPTIONS if option.panel} == {"scene", "prefs"}
