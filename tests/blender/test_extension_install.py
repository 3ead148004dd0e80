"""The zip builds, validates, installs and enables through the extension system, and unregisters cleanly."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import addon_utils
import bpy
from blender_helpers import MODULE, REPO, submodule

CLASS_NAMES = ("VIDEO_MOCAP_AP_preferences", "VIDEO_MOCAP_PG_settings", "VIDEO_MOCAP_OT_import_video",
               "VIDEO_MOCAP_OT_cancel_import", "VIDEO_MOCAP_OT_select_video", "VIDEO_MOCAP_OT_import_motion_file",
               "VIDEO_MOCAP_OT_refresh_models", "VIDEO_MOCAP_OT_install_backend", "VIDEO_MOCAP_OT_check_backend",
               "VIDEO_MOCAP_PT_main")


def registered_class_names() -> set[str]:
    found = set()
    for base in (bpy.types.Operator, bpy.types.Panel, bpy.types.AddonPreferences, bpy.types.PropertyGroup):
        found |= {name for name in CLASS_NAMES if base.bl_rna_get_subclass_py(name) is not None}
    return found


def test_zip_contents_and_manifest_validation(extension_zip: Path) -> None:
    with zipfile.ZipFile(extension_zip) as archive:
        names = set(archive.namelist())
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
    assert {"__init__.py", "batch.py", "core/motion_data.py", "ui/registration.py", "backend_src/backend/__main__.py",
            "backend_src/backend/commands/cli.py"} <= names
    assert "build_extension.py" not in names and not any("__pycache__" in n for n in names)
    assert manifest["id"] == "video_mocap" and manifest["version"] == "0.1.0"
    assert manifest["blender_version_min"] == "4.2.0" and manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert manifest["permissions"]["files"]
    from addon.build_extension import find_blender_ext

    result = subprocess.run([sys.executable, str(find_blender_ext()), "validate", str(extension_zip)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_enabled_with_its_ui_and_preferences(ext: ModuleType) -> None:
    assert MODULE in bpy.context.preferences.addons
    prefs = bpy.context.preferences.addons[MODULE].preferences
    assert type(prefs).bl_idname == MODULE == ext.__name__
    assert registered_class_names() == set(CLASS_NAMES)
    assert bpy.types.VIDEO_MOCAP_PT_main.bl_category == "Mocap"
    assert hasattr(bpy.types.Scene, "video_mocap")
    locations = submodule(ext, "blender.locations")
    assert (locations.ADDON_DIR / "backend_src" / "backend" / "__init__.py").is_file()
    assert locations.backend_source() == locations.ADDON_DIR / "backend_src"
    user_dir = locations.user_dir()
    assert user_dir.is_dir() and locations.ADDON_DIR not in user_dir.parents  # data never in the add-on folder


def test_unregister_leaves_no_classes_handlers_timers_or_children(ext: ModuleType) -> None:
    tasks = submodule(ext, "blender.tasks")
    session = submodule(ext, "blender.session").SESSION
    task = session.tasks.start(tasks.BackgroundTask("probe", [sys.executable, "-c", "import time; time.sleep(30)"]))
    assert bpy.app.timers.is_registered(task._timer)
    handlers_before = {name: len(getattr(bpy.app.handlers, name)) for name in dir(bpy.app.handlers)
                       if isinstance(getattr(bpy.app.handlers, name), list)}
    started = time.monotonic()
    addon_utils.disable(MODULE, default_set=True)
    try:
        assert time.monotonic() - started < 10
        assert MODULE not in bpy.context.preferences.addons
        assert registered_class_names() == set()
        assert not hasattr(bpy.types.Scene, "video_mocap")
        assert not bpy.app.timers.is_registered(task._timer)
        assert task.process.returncode is not None  # the child was ended, not orphaned
        for name, count in handlers_before.items():
            left = [h for h in getattr(bpy.app.handlers, name) if "video_mocap" in getattr(h, "__module__", "")]
            assert left == [] and len(getattr(bpy.app.handlers, name)) <= count
    finally:
        addon_utils.enable(MODULE, default_set=True)
        bpy.context.preferences.addons[MODULE].preferences.backend_python = str(_backend_python())
    assert registered_class_names() == set(CLASS_NAMES)


def _backend_python() -> Path:
    from blender_helpers import backend_python

    return backend_python()


def test_build_script_runs_as_plain_python(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "addon" / "build_extension.py"), "--output-dir",
                             str(tmp_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "video_mocap-0.1.0.zip").is_file()
