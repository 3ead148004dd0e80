"""install_deps.py: pins, the Python 3.11 search, the plan it makes, and fast runs against real venvs.

No test here downloads anything: the full install is what `.ci/run` does on a clean clone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import install_deps as deps

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "install_deps.py"
IN_VENV = sys.prefix != sys.base_prefix
posix_only = pytest.mark.skipif(os.name == "nt", reason="fake interpreters are shell scripts")


def fake_python(folder: Path, name: str, version: str) -> str:
    """An executable that answers the version query like a Python interpreter would."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return str(path)


def state(dists: dict[str, str], missing_modules: tuple[str, ...] = ()) -> dict:
    modules = {m: m not in missing_modules for m in [*deps.BACKEND_MODULES.values(), *deps.DEV_MODULES.values()]}
    return {"python": [3, 11, 7], "dists": dists, "modules": modules}


def complete(backend: list[deps.Pin], dev: list[deps.Pin], torch: str = "2.13.0+cpu") -> dict[str, str]:
    dists = {p.key: p.version for p in backend + dev}
    dists["torch"] = torch
    return dists


@pytest.fixture(scope="module")
def pins() -> tuple[list[deps.Pin], list[deps.Pin]]:
    return deps.read_pins(deps.REQUIREMENTS / "backend.txt"), deps.read_pins(deps.REQUIREMENTS / "dev.txt")


def test_pins_are_exact_and_consistent(pins: tuple[list[deps.Pin], list[deps.Pin]]) -> None:
    backend, dev = pins
    versions = {p.key: p.version for p in backend + dev}
    assert versions["torch"] == "2.13.0" and versions["mediapipe"] == "0.10.21"
    assert versions["numpy"].startswith("1.")  # mediapipe 0.10.21 and the bpy wheel both need numpy<2
    assert versions["jax"] == versions["jaxlib"] == "0.7.1"
    assert {"scipy", "smplx", "opencv-contrib-python", "protobuf"} <= versions.keys()
    assert {"pytest", "ruff", "bpy", "fake-bpy-module-4-5"} <= {p.key for p in dev}
    constraints = deps.read_pins(deps.REQUIREMENTS / "constraints.txt")
    assert not {p.key for p in constraints} & versions.keys(), "a direct pin is repeated in constraints.txt"
    every = {p.key for p in backend + dev + constraints}
    assert not every & set(deps.CONFLICTING_OPENCV), "a second OpenCV would share mediapipe's cv2/"


def test_read_pins_refuses_loose_versions(tmp_path: Path) -> None:
    path = tmp_path / "req.txt"
    path.write_text("# comment\nnumpy==1.26.4  # why\n\nscipy>=1.0\n")
    with pytest.raises(deps.SetupError, match=r"req.txt:4: expected 'name==version'"):
        deps.read_pins(path)


def test_cpu_torch_never_means_the_pypi_cuda_wheel_on_linux() -> None:
    assert deps.torch_requirement("2.13.0", cuda=False, system="Linux") == "torch==2.13.0+cpu"
    assert deps.torch_requirement("2.13.0", cuda=True, system="Linux") == "torch==2.13.0"
    assert deps.torch_requirement("2.13.0", cuda=False, system="Darwin") == "torch==2.13.0"
    torch = deps.Pin("torch", "2.13.0")
    assert deps.version_ok(torch, "2.13.0+cpu", cuda=False)
    assert deps.version_ok(torch, "2.13.0", cuda=False)  # a CUDA build is kept: it also runs on CPU
    assert not deps.version_ok(torch, "2.13.0+cpu", cuda=True)
    assert deps.version_ok(torch, "2.13.0+cu128", cuda=True)
    assert not deps.version_ok(torch, "2.12.1+cpu", cuda=False)
    assert not deps.version_ok(torch, None, cuda=False)


def test_current_python_311_is_used_as_is() -> None:
    def no_which(name: str) -> None:
        raise AssertionError("must not search PATH when the running Python is 3.11")

    assert deps.find_python311(current="/blender/python/bin/python3.11", current_version=(3, 11, 9),
                               which=no_which) == "/blender/python/bin/python3.11"


@posix_only
def test_other_python_finds_python311_on_path(tmp_path: Path) -> None:
    good = fake_python(tmp_path / "bin", "python3.11", "3 11 9")
    found = deps.find_python311(current="/usr/bin/python3.12", current_version=(3, 12, 1),
                                which=lambda name: good if name == "python3.11" else None)
    assert found == good


@posix_only
def test_no_python311_fails_with_what_to_do(tmp_path: Path) -> None:
    liar = fake_python(tmp_path / "bin", "python3.11", "3 10 2")  # a misnamed interpreter is not trusted
    for which in (lambda name: None, lambda name: liar if name == "python3.11" else None):
        with pytest.raises(deps.SetupError) as caught:
            deps.find_python311(current="/usr/bin/python3.13", current_version=(3, 13, 0), which=which)
        message = str(caught.value)
        assert "Python 3.11" in message and "3.13.0" in message and "--python" in message


@posix_only
def test_explicit_python_is_checked(tmp_path: Path) -> None:
    good = fake_python(tmp_path, "py311", "3 11 4")
    wrong = fake_python(tmp_path, "py312", "3 12 0")
    assert deps.find_python311(good, current_version=(3, 12, 0)) == good
    with pytest.raises(deps.SetupError, match=r"--python .*py312 is Python 3\.12\.0"):
        deps.find_python311(wrong)
    with pytest.raises(deps.SetupError, match="cannot run it"):
        deps.find_python311(str(tmp_path / "nope"))


def test_where_the_venv_goes(tmp_path: Path) -> None:
    assert deps.venv_dir(deps.parse_args([])) == ROOT / ".venv"
    assert deps.venv_dir(deps.parse_args(["--prefix", str(tmp_path)])) == tmp_path.resolve() / "venv"
    assert deps.venv_dir(deps.parse_args(["--venv", str(tmp_path / "v")])) == tmp_path.resolve() / "v"
    with pytest.raises(SystemExit):
        deps.parse_args(["--prefix", "a", "--venv", "b"])
    args = deps.parse_args(["--dev", "--cuda", "--check", "--python", "/x/python3.11"])
    assert args.dev and args.cuda and args.check and args.python == "/x/python3.11"


def test_plan_only_lists_what_is_missing(pins: tuple[list[deps.Pin], list[deps.Pin]]) -> None:
    backend, dev = pins
    full = complete(backend, dev)
    assert deps.make_plan(state(full), backend, dev, want_dev=True, cuda=False).problems == []

    partial = dict(full)
    del partial["bpy"]
    partial["numpy"] = "2.1.0"
    plan = deps.make_plan(state(partial), backend, dev, want_dev=True, cuda=False)
    assert plan.torch == [] and plan.backend == ["numpy is 2.1.0, want 1.26.4"]
    assert plan.dev == ["bpy 4.5.15 is not installed"]
    assert deps.make_plan(state(partial), backend, dev, want_dev=False, cuda=False).dev == []

    plan = deps.make_plan(state(full), backend, dev, want_dev=True, cuda=True)
    assert plan.torch and "CPU build" in plan.torch[0]

    clash = {**full, "opencv-python-headless": "4.11.0.86"}
    plan = deps.make_plan(state(clash, missing_modules=("cv2",)), backend, dev, want_dev=False, cuda=False)
    assert plan.conflicts == ["opencv-python-headless"]
    assert plan.broken == ["opencv-contrib-python"]


def run_script(*args: str, env: dict[str, str] | None = None, python: str = sys.executable,
               timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run([python, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                            env=env, cwd=ROOT)
    return result, time.monotonic() - started


def test_check_reports_a_missing_venv(tmp_path: Path) -> None:
    result, _ = run_script("--check", "--prefix", str(tmp_path))
    assert result.returncode == 1
    assert f"no venv at {tmp_path.resolve() / 'venv'}" in result.stdout


@pytest.mark.skipif(not IN_VENV, reason="the tests are not running in a venv")
def test_check_then_second_run_on_this_venv_is_a_fast_no_op() -> None:
    """The venv running these tests was made by install_deps.py --dev; a second run must change nothing."""
    result, _ = run_script("--check", "--dev", "--venv", sys.prefix)
    assert result.returncode == 0, result.stdout + result.stderr
    backend, dev = deps.read_pins(deps.REQUIREMENTS / "backend.txt"), deps.read_pins(deps.REQUIREMENTS / "dev.txt")
    assert f"ok: all {len({p.key for p in backend + dev})} pinned packages present" in result.stdout
    result, seconds = run_script("--dev", "--venv", sys.prefix)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("already installed") == 3 and "nothing changed" in result.stdout
    assert "[7/7]" in result.stdout
    assert seconds < 15, f"a no-op run took {seconds:.1f} s"


@pytest.mark.skipif(not IN_VENV, reason="the tests are not running in a venv")
@pytest.mark.parametrize("other", ["python3.12", "python3.13"])
def test_runs_under_other_pythons(other: str) -> None:
    """Stdlib only and no 3.11-only syntax: the add-on may start it with whatever Blender bundles."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(other), *sorted(map(str, pyenv.glob(f"{other[6:]}*/bin/{other}")))]
    runnable = [c for c in candidates if c and subprocess.run([c, "-c", "1"], capture_output=True).returncode == 0]
    if not runnable:
        pytest.skip(f"no {other} here")
    python = runnable[0]
    result, _ = run_script("--check", "--dev", "--venv", sys.prefix, python=python)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_failed_step_names_itself_and_its_log(tmp_path: Path) -> None:
    """With no package source at all, the torch step fails; the message says which step and where the log is."""
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "requirements", checkout / "requirements")
    shutil.copy2(SCRIPT, checkout / "install_deps.py")
    empty = tmp_path / "no_wheels"
    empty.mkdir()
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(empty), "PIP_CONFIG_FILE": os.devnull}
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(checkout / "install_deps.py"), "--venv", str(tmp_path / "v")],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1
    assert "[4/6] installing torch 2.13.0 (CPU)" in result.stdout
    assert "step [4/6] 'installing torch 2.13.0 (CPU)' failed: pip could not install torch==2.13.0" in result.stderr
    log = tmp_path / "v" / "install_deps.log"
    assert f"full log: {log}" in result.stderr and "No matching distribution" in log.read_text()
    assert time.monotonic() - started < 120
