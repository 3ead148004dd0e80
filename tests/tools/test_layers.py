"""The layer order that ARCHITECTURE.md states, checked from every import in backend/ and addon/.

Every `import` and `from ... import` (top level or inside a function) is resolved to the module it
names; a module may import its own layer and the layers before it, never one after it. The order
is read from ARCHITECTURE.md's `Layer order of ...` lines, so the document and the test cannot drift.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ORDER_LINE = re.compile(r"^Layer order of `(\w+)/`, bottom to top: (.+)$", re.MULTILINE)
#: Modules outside any layer folder: the package's entry points sit above every layer.
TOP = "(top)"


def layer_order(package: str) -> list[str]:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    found = {name: [part.strip(" `") for part in line.split("→")] for name, line in ORDER_LINE.findall(text)}
    assert package in found, f"ARCHITECTURE.md has no 'Layer order of `{package}/`, bottom to top: ...' line"
    return found[package]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str, order: list[str]) -> str | None:
    """The longest layer (`models/heads` before `models`) that holds `module`; TOP for entry points."""
    rest = module.split(".", 1)[1] if "." in module else ""
    path = rest.replace(".", "/")
    matches = [layer for layer in order if path == layer or path.startswith(layer + "/")]
    return max(matches, key=len) if matches else TOP


def imports_of(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module) for every import statement in `source`, the text of `module`."""
    tree = ast.parse(source)
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            # `from . import x` may name a submodule: check x as well as the package
            found += [(node.lineno, target)] + [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def file_imports(path: Path) -> list[tuple[int, str]]:
    return imports_of(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")


def files_of(package: str) -> list[Path]:
    return sorted(path for path in (ROOT / package).rglob("*.py") if "__pycache__" not in path.parts)


def second(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def violations(module: str, imports: list[tuple[int, str]], order: list[str]) -> list[str]:
    """Imports of `module` that reach a layer above its own, an entry point, or the test-data maker."""
    package = module.split(".")[0]
    rank = {layer: index for index, layer in enumerate(order)} | {TOP: len(order)}
    own = layer_of(module, order)
    aside = {"testing"}  # backend/testing makes test data: it may read any layer, and no layer may read it
    problems = []
    for line, target in imports:
        if target.split(".")[0] != package or target == package:
            continue
        their = layer_of(target, order)
        if second(target) in aside:
            if second(module) not in aside:
                problems.append(f"line {line}: imports {target} (test data only)")
        elif second(module) in aside:
            continue
        elif their == TOP:
            if own != TOP and (ROOT / package / f"{second(target)}.py").is_file():
                problems.append(f"line {line}: imports the entry point {target}")
        elif rank[their] > rank[own]:
            problems.append(f"line {line}: ({own}) imports {target} ({their}, a layer above)")
    return problems


@pytest.mark.parametrize("package", ["backend", "addon"])
def test_no_module_imports_a_layer_above_its_own(package: str) -> None:
    order = layer_order(package)
    problems = [f"{path.relative_to(ROOT)} {problem}" for path in files_of(package)
                for problem in violations(module_name(path), file_imports(path), order)]
    assert not problems, "\n".join(problems)


def test_the_check_catches_upward_and_test_data_imports() -> None:
    order = layer_order("backend")
    lazy_upward = "def f():\n    from ..pipeline import run\n    return run\n"
    assert violations("backend.geometry.camera", imports_of(lazy_upward, "backend.geometry.camera"), order) == [
        "line 2: (geometry) imports backend.pipeline (pipeline, a layer above)",
        "line 2: (geometry) imports backend.pipeline.run (pipeline, a layer above)"]
    sideways = "from ..testing.smpl_synth import write_smpl\nfrom .base import ModelOutput\n"
    assert violations("backend.models.tcmr", imports_of(sideways, "backend.models.tcmr"), order) == [
        "line 1: imports backend.testing.smpl_synth (test data only)",
        "line 1: imports backend.testing.smpl_synth.write_smpl (test data only)"]
    assert layer_of("backend.models.temporal.staf", order) == "models/temporal"
    assert layer_of("backend.models.registry", order) == "models"


def test_every_module_lives_in_a_stated_layer() -> None:
    """New code goes into a layer folder; only the entry points sit at the top of each package."""
    entry_points = {"backend/__init__.py", "backend/__main__.py", "addon/__init__.py", "addon/batch.py",
                    "addon/batch_many.py",
                    "addon/build_extension.py"}
    stray = []
    for package in ("backend", "addon"):
        order = layer_order(package)
        for path in files_of(package):
            relative = str(path.relative_to(ROOT))
            if relative in entry_points or relative.startswith("backend/testing/"):
                continue
            if layer_of(module_name(path), order) == TOP:
                stray.append(relative)
    assert not stray, f"modules outside the layer folders of ARCHITECTURE.md: {stray}"


def test_the_two_programs_share_no_imports() -> None:
    """The add-on runs the backend as a process, and the backend never needs Blender."""
    crossing = [f"{path.relative_to(ROOT)}:{line} imports {target}"
                for package, other in (("backend", ("addon", "bpy", "mathutils")), ("addon", ("backend",)))
                for path in files_of(package) for line, target in file_imports(path) if target.split(".")[0] in other]
    assert not crossing, "\n".join(crossing)
