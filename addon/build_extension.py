"""Build the installable extension zip: `python addon/build_extension.py [--output-dir dist]`.

Stages the manifest, the add-on package and the backend source (the `backend` package,
`install_deps.py` and its `requirements/`, under `backend_src/`, so Install Backend works from an
installed extension),
then runs Blender's own `blender_ext.py build` and `validate` (shipped in the bpy wheel and in
Blender; plain Python, no Blender binary needed). This file itself is not shipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ADDON_DIR = REPO_ROOT / "addon"
MANIFEST = REPO_ROOT / "blender_manifest.toml"
BACKEND_SOURCE_DIR = "backend_src"
NOT_SHIPPED = {"build_extension.py"}
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
BLENDER_EXT_ENV = "VIDEO_MOCAP_BLENDER_EXT"


def find_blender_ext() -> Path:
    """blender_ext.py from $VIDEO_MOCAP_BLENDER_EXT or the installed bpy wheel (found without importing it)."""
    if os.environ.get(BLENDER_EXT_ENV):
        return Path(os.environ[BLENDER_EXT_ENV])
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"blender_ext.py not found: install the bpy wheel or set {BLENDER_EXT_ENV}")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[-1]
    raise SystemExit(f"blender_ext.py not found in the bpy wheel; set {BLENDER_EXT_ENV}")


def stage(stage_dir: Path) -> None:
    """Lay out the extension: manifest and add-on at the top, the backend under backend_src/."""
    shutil.copy2(MANIFEST, stage_dir / MANIFEST.name)
    for entry in sorted(ADDON_DIR.iterdir()):
        if entry.name in NOT_SHIPPED or entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            shutil.copytree(entry, stage_dir / entry.name, ignore=IGNORED)
        elif entry.suffix == ".py":
            shutil.copy2(entry, stage_dir / entry.name)
    backend_dir = stage_dir / BACKEND_SOURCE_DIR
    shutil.copytree(REPO_ROOT / "backend", backend_dir / "backend", ignore=IGNORED)
    # install_deps.py reads its pins from requirements/ beside it.
    for extra in ("install_deps.py", "requirements"):
        source = REPO_ROOT / extra
        if source.is_dir():
            shutil.copytree(source, backend_dir / extra, ignore=IGNORED)
        elif source.is_file():
            shutil.copy2(source, backend_dir / extra)
        else:
            print(f"warning: {extra} not found at the repo root; Install Backend will not work", file=sys.stderr)


def build(output_dir: Path, validate: bool = True) -> Path:
    """Build (and validate) the zip; returns its path."""
    manifest = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))
    output_dir.mkdir(parents=True, exist_ok=True)
    zip_path = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    blender_ext = find_blender_ext()
    with tempfile.TemporaryDirectory(prefix="video_mocap_stage_") as tmp:
        stage_dir = Path(tmp) / manifest["id"]
        stage_dir.mkdir()
        stage(stage_dir)
        subprocess.run([sys.executable, str(blender_ext), "build", "--source-dir", str(stage_dir),
                        "--output-filepath", str(zip_path)], check=True)
    if validate:
        subprocess.run([sys.executable, str(blender_ext), "validate", str(zip_path)], check=True)
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=REPO_ROOT / "dist")
    parser.add_argument("--no-validate", action="store_true", help="skip blender_ext.py validate")
    args = parser.parse_args(argv)
    print(build(args.output_dir, validate=not args.no_validate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
