"""The add-on keeps its state in one object, `addon/blender/session.py`'s SESSION (issue 7, step 6):
no other module holds state in a module-level variable."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATE_HOME = REPO / "addon" / "blender" / "session.py"


def module_state(path: Path) -> list[str]:
    """Names assigned at module level that are lower case (constants are UPPER_CASE, classes and type
    aliases CapWords): each is a variable the module keeps, so a place where state hides."""
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            names = [target.id for target in node.targets if isinstance(target, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            names = [node.target.id]
        else:
            continue
        found += [f"{name} (line {node.lineno})" for name in names
                  if not name.startswith("__") and name.lstrip("_")[:1].islower()]
    return found


def test_only_the_session_module_keeps_state() -> None:
    modules = [path for path in sorted((REPO / "addon").rglob("*.py")) if path != STATE_HOME]
    assert len(modules) > 30
    kept = {str(path.relative_to(REPO)): module_state(path) for path in modules}
    assert {path: names for path, names in kept.items() if names} == {}, "keep add-on state in SESSION"


def test_the_check_finds_a_module_global(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("LIMIT = 3\nAlias = dict\n_cache: list[int] = []\nruntime = object()\n", encoding="utf-8")
    assert module_state(source) == ["_cache (line 3)", "runtime (line 4)"]
