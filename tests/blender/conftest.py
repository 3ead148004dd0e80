"""Add-on tests in real Blender (the bpy wheel), in-process.

Blender's user folders go to a temp dir before `import bpy`, the extension zip is built and
installed through Blender's extension system once per session, and every test starts from
`read_homefile(use_empty=True)` (which keeps add-ons enabled). The backend is the real one:
its Python is $VIDEO_MOCAP_BACKEND_PYTHON, else the checkout's .venv, else this interpreter.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="video_mocap_tests_"))
os.environ["BLENDER_USER_RESOURCES"] = str(_SESSION_ROOT / "blender_user")
os.environ["XDG_CACHE_HOME"] = str(_SESSION_ROOT / "xdg_cache")

sys.path.insert(0, str(Path(__file__).resolve().parent))  # helpers beside this file (importlib import mode)

import bpy  # noqa: E402 - Blender's user folders above must be set before bpy is imported
import pytest  # noqa: E402
from blender_helpers import MODULE, REPO, SINGLE_PERSON, backend_python, submodule  # noqa: E402


@pytest.fixture(scope="session")
def extension_zip() -> Path:
    from addon.build_extension import build

    return build(_SESSION_ROOT / "dist")


@pytest.fixture(scope="session")
def ext(extension_zip: Path) -> Iterator[ModuleType]:
    """The installed, enabled extension package, with its preferences pointing at the real backend."""
    result = bpy.ops.extensions.package_install_files(filepath=str(extension_zip), repo="user_default",
                                                      enable_on_install=True)
    assert result == {"FINISHED"}
    module = importlib.import_module(MODULE)
    bpy.context.preferences.addons[MODULE].preferences.backend_python = str(backend_python())
    yield module
    shutil.rmtree(_SESSION_ROOT, ignore_errors=True)


@pytest.fixture
def clean_scene(ext: ModuleType) -> ModuleType:
    bpy.ops.wm.read_homefile(use_empty=True)
    submodule(ext, "blender.session").SESSION.imports.tell("INFO", "")
    return ext


@pytest.fixture(scope="session")
def real_motion_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real backend's output on single_person_demo (run once per session)."""
    import subprocess

    out = tmp_path_factory.mktemp("real") / "single_person_demo.npz"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [str(backend_python()), "-P", "-m", "backend", "run", str(SINGLE_PERSON), "--model", "blazepose",
               "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def rigify_file(tmp_path_factory: pytest.TempPathFactory, ext: ModuleType) -> Path:
    """The Human metarig and the rig Blender's bundled Rigify generates from it, saved once."""
    from rig_builders import generate_rigify

    generate_rigify()
    path = tmp_path_factory.mktemp("rigify") / "rigify.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


#: The 4.x wheels do not always get through their own interpreter teardown: 4.2 can segfault, and 4.5
#: waits forever on an audio thread that is never stopped once any reference to bpy survives (Rigify's
#: exec'd rig UI script keeps one; so, in a whole-suite run, does something held in C we could not find).
_WHEEL_TEARDOWN_UNRELIABLE = bpy.app.version < (5, 0, 0)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    # Every result is reported by now: 4.x runs leave with pytest's own status instead of risking the
    # wheel's teardown (a segfault on 4.2, a hang on 4.5). Products that import bpy do the same
    # (addon/batch.py leaves with os._exit in bpy-module mode).
    if _WHEEL_TEARDOWN_UNRELIABLE and _EXIT_STATUS in config.stash:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[_EXIT_STATUS])


_EXIT_STATUS = pytest.StashKey[int]()
