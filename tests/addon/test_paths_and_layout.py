"""Backend discovery, command lines, the armature layout, and that pure modules never import bpy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from synthetic_motion import SMPL_REST_JOINTS

from addon.backend_client import backend_paths as bp
from addon.core import smpl
from addon.core.rig_layout import smpl_bone_layout

REPO = Path(__file__).resolve().parents[2]
#: Folders of the add-on that must run without Blender (ARCHITECTURE.md): every module in them, found by folder.
PURE_FOLDERS = ("core", "backend_client")


def pure_modules() -> list[str]:
    return sorted(".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
                  for folder in PURE_FOLDERS for path in (REPO / "addon" / folder).rglob("*.py"))


def test_pure_folders_do_not_import_bpy() -> None:
    modules = pure_modules()
    assert "addon.core.rotations" in modules and "addon.backend_client.backend_paths" in modules
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import importlib\n"
            "for name in sys.argv[2:]: importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('bpy', 'mathutils', 'bmesh')))")
    result = subprocess.run([sys.executable, "-c", code, str(REPO), *modules],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_run_argv_is_a_list_with_every_option() -> None:
    options = bp.RunOptions(video="/v/my clip; rm -rf ~.mp4", out="/o/m.npz", model="tcmr", window=16, person=2,
                            frames="10:50", smooth=0.5, device="cuda", weights_dir="/w", smpl_dir="/s")
    argv = bp.run_argv("/venv/bin/python", options)
    assert argv == ["/venv/bin/python", "-P", "-m", "backend", "run", "/v/my clip; rm -rf ~.mp4", "--out", "/o/m.npz",
                    "--model", "tcmr", "--window", "16", "--person", "2", "--frames", "10:50", "--smooth", "0.5",
                    "--device", "cuda", "--weights-dir", "/w", "--smpl-dir", "/s"]
    defaults = bp.run_argv("py", bp.RunOptions(video="v.mp4", out="o.npz"))
    assert defaults == ["py", "-P", "-m", "backend", "run", "v.mp4", "--out", "o.npz"]


def make_python(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    return path


def test_python_discovery_order(tmp_path: Path) -> None:
    user_dir, checkout = tmp_path / "user", tmp_path / "checkout"
    assert bp.find_backend_python("", user_dir, checkout, environ={}) is None
    checkout_python = make_python(bp.venv_python(checkout / ".venv"))
    assert bp.find_backend_python("", user_dir, checkout, environ={}) == checkout_python
    installed = make_python(bp.venv_python(user_dir / "venv"))
    assert bp.find_backend_python("", user_dir, checkout, environ={}) == installed
    from_env = make_python(tmp_path / "env" / "python")
    assert bp.find_backend_python("", user_dir, checkout, {bp.BACKEND_PYTHON_ENV: str(from_env)}) == from_env
    chosen = tmp_path / "typed" / "python"  # does not exist: still returned, so the error names it
    assert bp.find_backend_python(str(chosen), user_dir, checkout, {bp.BACKEND_PYTHON_ENV: str(from_env)}) == chosen


def test_backend_source_bundled_or_checkout(tmp_path: Path) -> None:
    addon_dir = tmp_path / "ext" / "video_mocap"
    addon_dir.mkdir(parents=True)
    assert bp.find_backend_source(addon_dir) is None
    (tmp_path / "ext" / "backend").mkdir()
    (tmp_path / "ext" / "backend" / "__init__.py").write_text("")
    assert bp.find_backend_source(addon_dir) == tmp_path / "ext"          # a checkout: repo root
    (addon_dir / "backend_src" / "backend").mkdir(parents=True)
    (addon_dir / "backend_src" / "backend" / "__init__.py").write_text("")
    assert bp.find_backend_source(addon_dir) == addon_dir / "backend_src"  # the installed extension wins


def test_backend_env_isolates_the_child(tmp_path: Path) -> None:
    env = bp.backend_env(tmp_path / "src", tmp_path / "tmp", base={"PYTHONHOME": "/blender/python",
                                                                   "PYTHONPATH": "/other", "PATH": "/bin"})
    assert "PYTHONHOME" not in env and env["PATH"] == "/bin"
    assert env["PYTHONPATH"].split(":")[0] == str(tmp_path / "src") and env["TMPDIR"] == str(tmp_path / "tmp")


def test_parse_models() -> None:
    models = bp.parse_models({"models": [
        {"name": "blazepose", "windows": [], "default_window": None, "ready": True, "missing": []},
        {"name": "tcmr", "title": "TCMR", "windows": [16, 32], "default_window": 16, "ready": False,
         "missing": ["tcmr_demo_model.pth.tar"], "status": "missing weights"}]})
    assert [m.name for m in models] == ["blazepose", "tcmr"]
    assert not models[0].has_window and models[1].windows == (16, 32) and models[1].default_window == 16
    with pytest.raises(TypeError):
        bp.parse_models({"nope": 1})


def test_bone_layout_points_along_limbs_with_sensible_rolls() -> None:
    layout = {bone.name: bone for bone in smpl_bone_layout(SMPL_REST_JOINTS)}
    assert list(layout) == list(smpl.JOINT_NAMES)
    for bone in layout.values():
        assert np.linalg.norm(bone.tail - bone.head) >= 0.02
    np.testing.assert_allclose(layout["left_knee"].tail, layout["left_ankle"].head)
    assert layout["left_ankle"].connected and not layout["left_hip"].connected
    assert layout["head"].tail[2] > layout["head"].head[2]  # the head bone points up
    assert list(layout["left_elbow"].roll_axis) == [0.0, -1.0, 0.0]  # Z towards the front (-Y)
    assert list(layout["left_ankle"].roll_axis) == [0.0, 0.0, 1.0]   # the foot points forward: Z up


def test_a_pasted_path_loses_its_quotes_and_blanks() -> None:
    pasted_path = bp.pasted_path
    assert pasted_path('"C:\\clips\\walk.mp4"') == "C:\\clips\\walk.mp4"
    assert pasted_path("  '/home/me/my clip.mp4' \n") == "/home/me/my clip.mp4"
    assert pasted_path("/clips/it's here.mp4") == "/clips/it's here.mp4"  # quotes inside stay
    assert pasted_path('"/clips/a.mp4\'') == '"/clips/a.mp4\''  # unmatched: left as typed
    assert pasted_path('""') == "" and pasted_path('"') == '"'
    assert pasted_path("//clip.mp4") == "//clip.mp4"
