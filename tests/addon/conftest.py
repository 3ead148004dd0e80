"""Pure-maths tests of the add-on: no bpy. The repo root makes `addon` importable; tests/blender
holds the synthetic motion maker shared with the Blender tests."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for path in (REPO, REPO / "tests" / "blender"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
