"""The one table of `backend run` options, read by the backend CLI and pipeline and by the add-on.

This file exists twice, byte for byte: `backend/core/run_options.py` (the backend) and
`addon/backend_client/run_options.py` (Blender cannot import the backend). A test compares them;
edit the backend's copy and copy it over (`cp backend/core/run_options.py addon/backend_client/`).
Standard library only, no imports from either package.

Adding a run option = one row in RUN_OPTIONS, then its use where the value matters:
- the backend CLI gets the flag, type, default and help from the row (`add_arguments`);
- `RunOptions` (the pipeline's input, and the add-on's) gets a field of the same name;
- the add-on's command line carries the value whenever it differs from the default (`option_argv`);
- `addon/batch.py` gets the flag too (`add_arguments`);
- with `panel` set, the add-on reads the value from the panel's settings or the preferences
  (`"scene.<name>"`: an attribute or method of the scene's `video_mocap` settings;
  `"prefs.<name>"`: of the add-on's preferences); without it the option is CLI/batch only.
Values are held in the backend's form (after parsing): `person` is an id or None for auto,
`frames` the text START:END or None, folders a string or None.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, make_dataclass
from typing import Any


def parse_person(text: str) -> int | None:
    """`auto` -> None (the main person), else a person id >= 0."""
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a person id (0, 1, ...), got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"person id must be >= 0, got {value}")
    return value


def parse_on_off(text: str) -> bool:
    """`on` -> True, `off` -> False."""
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected 'on' or 'off', got {text!r}")
    return text == "on"


@dataclass(frozen=True)
class Option:
    """One `backend run` option. `name` is the RunOptions field and argparse dest; `flag` the CLI flag."""

    name: str
    flag: str
    kind: type  # str, int, float or bool (a bool without `parse` is a flag without a value, off by default)
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    parse: Callable[[str], Any] | None = None  # text -> value, when not simply kind(text)
    panel: str = ""  # the add-on's source: "scene.<attr>" or "prefs.<attr>"; "" = CLI and batch only

    @property
    def is_flag(self) -> bool:
        """A flag without a value (`--official-batching`): present = True."""
        return self.kind is bool and self.parse is None

    def to_text(self, value: Any) -> str:
        """The value as the command line spells it (the inverse of `parse`)."""
        if self.kind is float:
            return f"{value:g}"
        if self.kind is bool:
            return "on" if value else "off"
        return str(value)


RUN_OPTIONS: tuple[Option, ...] = (
    Option("model", "--model", str, "blazepose", "model name (see `models`); default: blazepose",
           panel="scene.model_argument"),
    Option("window", "--window", int, None, "temporal window length; default: the model's",
           panel="scene.window_argument"),
    Option("person", "--person", str, None, "'auto' (main person) or a person id", parse=parse_person,
           panel="scene.person_argument"),
    Option("frames", "--frames", str, None, "START:END source frames (END exclusive)",
           panel="scene.frames_argument"),
    Option("smooth", "--smooth", float, None,
           "smoothing strength: 0 off, 1 normal, 2 stronger; default 1 for blazepose, "
           "0 for the seed models (their windows already smooth)", panel="scene.smooth_argument"),
    Option("device", "--device", str, "auto", "where the models run", choices=("auto", "cpu", "cuda"),
           panel="prefs.device"),
    Option("weights_dir", "--weights-dir", str, None, "folder with the model's files under official names",
           panel="prefs.weights_dir_argument"),
    Option("smpl_dir", "--smpl-dir", str, None, "folder with SMPL_NEUTRAL.npz", panel="prefs.smpl_dir_argument"),
    Option("stride", "--stride", int, 1, "use every STRIDE-th source frame"),
    Option("fps", "--fps", float, None, "frame rate of an image sequence (folder, %%04d pattern or first image); "
           "default 30. Video files carry their own timestamps", panel="scene.fps_argument"),
    Option("threads", "--threads", int, 0, "torch CPU threads; 0 = the cores actually free"),
    Option("focal_length", "--focal-length", float, None, "camera focal length in pixels; default max(width, height)"),
    Option("max_people", "--max-people", int, 4, "people followed per frame (tracking)"),
    Option("foot_lock", "--foot-lock", bool, True,
           "hold planted feet still (leg IK; the upper body is untouched); default on", choices=("on", "off"),
           parse=parse_on_off, panel="scene.foot_lock"),
    Option("ground", "--ground", str, "auto",
           "floor and gravity: auto = the floor plane found from the feet when the contacts allow it, else up from "
           "the body's balance when it stands, else one constant lift; plane = any plane found (never one above "
           "the camera), else as auto; constant = "
           "today's lift along the camera's up; off = Z = 0 "
           "at the camera. Default auto", choices=("auto", "plane", "constant", "off"), panel="scene.ground_argument"),
    Option("fit", "--fit", bool, True,
           "whole-clip fitting of rotations, root and one skeleton to the 2D landmarks (built-in model); "
           "off = the per-frame result", choices=("on", "off"), parse=parse_on_off, panel="scene.fit"),
    Option("lifter", "--lifter", bool, True,
           "built-in model, with --fit on: turn MediaPipe's 3D limb directions part of the way towards those "
           "of a temporal 2D->3D lifter trained on motion capture (backend/builtin/lifter.py), further where "
           "MediaPipe cannot see a joint; default on; off = MediaPipe's 3D alone",
           choices=("on", "off"), parse=parse_on_off),
    Option("height", "--height", float, None,
           "the person's stature in metres (sets the skeleton's size and so the root's depth); "
           "default: a population prior of 1.70 m", panel="scene.height_argument"),
    Option("tracks", "--tracks", str, None,
           "reuse the people tracked by an earlier run of this video (its motion file MOTION.npz), skipping "
           "detection: convert another --person in seconds"),
    Option("official_batching", "--official-batching", bool, False,
           "reproduce the official MPS-Net/STAF demos' batching (their window pairing and batch sizes), "
           "so the output equals the official demo's; the papers' evaluation scripts batch differently"),
)

OPTION = {option.name: option for option in RUN_OPTIONS}

#: What `backend run` takes: the video, the output file and one field per row of RUN_OPTIONS.
RunOptions = make_dataclass(
    "RunOptions",
    [("video", Any), ("out", Any)] + [(o.name, Any, field(default=o.default)) for o in RUN_OPTIONS],
    frozen=True,
)
RunOptions.__doc__ = ("`backend run`'s input: video and out (paths or strings) and one field per row of "
                      "RUN_OPTIONS, in the backend's form (run_options.py).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every row as an argparse option (dest = the row's name)."""
    for option in RUN_OPTIONS:
        if option.is_flag:
            parser.add_argument(option.flag, dest=option.name, action="store_true", help=option.help)
        elif option.parse is not None:  # parse checks the text itself; argparse would check the parsed value
            parser.add_argument(option.flag, dest=option.name, type=option.parse, default=option.default,
                                metavar="{" + ",".join(option.choices) + "}" if option.choices else None,
                                help=option.help)
        else:
            parser.add_argument(option.flag, dest=option.name, type=option.kind, default=option.default,
                                choices=option.choices or None, help=option.help)


def values_from(namespace: argparse.Namespace) -> dict[str, Any]:
    """{name: value} of every row, from parsed arguments."""
    return {option.name: getattr(namespace, option.name) for option in RUN_OPTIONS}


def option_argv(options: Any) -> list[str]:
    """The flags that reproduce `options` (a RunOptions): only values that differ from the default."""
    argv: list[str] = []
    for option in RUN_OPTIONS:
        value = getattr(options, option.name)
        if value is None or value == option.default:
            continue
        argv += [option.flag] if option.is_flag else [option.flag, option.to_text(value)]
    return argv


def panel_values(sources: Mapping[str, Any]) -> dict[str, Any]:
    """{name: value} of the rows with a panel source, read from `sources` ({"scene": ..., "prefs": ...});
    a method is called, a source that is None (no preferences) leaves the default."""
    values: dict[str, Any] = {}
    for option in RUN_OPTIONS:
        if not option.panel:
            continue
        where, _, attribute = option.panel.partition(".")
        source = sources.get(where)
        if source is None:
            continue
        value = getattr(source, attribute)
        values[option.name] = value() if callable(value) else value
    return values
