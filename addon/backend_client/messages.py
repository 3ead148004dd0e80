"""The backend's and the installer's messages in the panel's words, wrapped to the panel (no bpy).

The backend speaks to command-line users ("--person 3: no such person"); the panel has no flags,
so each flag is named as the control that sets it. Known failures get the panel's remedy: a
half-installed venv (PACKAGES_MISSING) is "press Install Backend", not a bug report.
"""

from __future__ import annotations

import re
import textwrap

#: CLI flag -> the control in the panel or the preferences that sets it.
PANEL_NAMES: dict[str, str] = {
    "--person": "Person ID",
    "--frames": "Frame Range",
    "--window": "Window",
    "--smooth": "Smoothing",
    "--model": "Model",
    "--device": "Device (Preferences)",
    "--weights-dir": "Weights Folder (Preferences)",
    "--smpl-dir": "SMPL Folder (Preferences)",
    "--out": "the output file",
}
PACKAGES_MISSING = "PACKAGES_MISSING"
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)(?:[ =](?=\S))?")
#: Average width of one character of Blender's UI font at scale 1, in pixels (11 pt DejaVu Sans).
CHAR_PX = 6.5
#: The room a label's icon and the region's margins take, in pixels at scale 1.
MARGIN_PX = 40


def for_panel(message: str, code: str | None = None) -> str:
    """`message` as the panel should show it: flags named as controls, known failures with their remedy."""
    if code == PACKAGES_MISSING:
        detail = re.search(r"cannot import (\S+)", message)
        what = f" (cannot import {detail[1]})" if detail else ""
        return f"backend packages missing: press Install Backend in the add-on's preferences{what}"
    text = message.replace("pass --python /path/to/python3.11", "then press Install Backend again")
    text = text.replace("`python install_deps.py`", "Install Backend").replace("`python3 install_deps.py`",
                                                                             "Install Backend")

    def rename(match: re.Match[str]) -> str:
        name = PANEL_NAMES.get(match[1])
        return f"{name} " if name is not None and match[0].endswith((" ", "=")) else (name or match[0])

    return _FLAG.sub(rename, text)


def chars_for(width_px: float, ui_scale: float = 1.0) -> int:
    """How many characters fit on one label in a region `width_px` wide (at least 20)."""
    scale = ui_scale if ui_scale > 0 else 1.0  # 0 in a background Blender
    return max(20, int((width_px - MARGIN_PX * scale) / (CHAR_PX * scale)))


def wrap(text: str, width_chars: int) -> list[str]:
    """Lines of at most `width_chars` characters, broken on words (paths longer than a line are cut)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, width_chars, break_long_words=True, break_on_hyphens=False) or [""]
    return lines


def people_line(meta: dict) -> str:
    """"3 people: 0 (40 frames, main), 1 (28), 2 (5)" from a motion file's meta (the backend's `people`
    list); empty when the file does not say (older files, or a file from another tool)."""
    people = meta.get("people")
    if not isinstance(people, list) or not people:
        return ""
    parts = []
    for index, person in enumerate(people):
        if not isinstance(person, dict) or "person_id" not in person:
            return ""
        extra = [f"{person.get('frames', '?')} frames" if index == 0 else str(person.get("frames", "?"))]
        if person.get("main"):
            extra.append("main")
        parts.append(f"{person['person_id']} ({', '.join(extra)})")
    noun = "person" if len(people) == 1 else "people"
    return f"{len(people)} {noun}: " + ", ".join(parts)
