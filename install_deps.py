#!/usr/bin/env python3
"""Create the backend's virtual environment and install its pinned packages, idempotently.

    python3 install_deps.py            # .venv in this checkout, CPU torch, backend packages
    python3 install_deps.py --dev      # plus pytest, ruff, the bpy wheel and fake-bpy-module
    python3 install_deps.py --prefix DIR   # venv at DIR/venv (the add-on's per-user folder)
    python3 install_deps.py --check    # report what is missing; exit 1 if anything is

Standard library only, so it also runs under Blender's bundled Python. The venv itself is always
Python 3.11: bpy and mediapipe 0.10.21 publish cp311 wheels only. The pins live in
requirements/*.txt; a second run with everything in place changes nothing and takes about a second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REQUIREMENTS = ROOT / "requirements"
VENV_PYTHON = (3, 11)
#: Where the CPU and CUDA builds of torch come from when the configured pip sources lack them.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu128"
#: Distribution -> top-level module that must be importable afterwards.
BACKEND_MODULES = {"numpy": "numpy", "scipy": "scipy", "torch": "torch", "smplx": "smplx",
                   "opencv-contrib-python": "cv2", "mediapipe": "mediapipe", "av": "av"}
DEV_MODULES = {"pytest": "pytest", "ruff": "ruff", "bpy": "bpy"}
#: Other OpenCV distributions that would share (and, on uninstall, delete) mediapipe's cv2/ folder.
CONFLICTING_OPENCV = ("opencv-python", "opencv-python-headless", "opencv-contrib-python-headless")
OPENCV = "opencv-contrib-python"
PIP_FLAGS = ["--disable-pip-version-check", "--no-input"]

# Lists the venv's distributions and which modules are findable, without importing them (fast).
_INSPECT = """
import importlib.metadata as md, importlib.util as iu, json, re, sys
dists = {}
for d in md.distributions():
    name = d.metadata["Name"]
    if name:
        dists[re.sub(r"[-_.]+", "-", name).lower()] = d.version
mods = {m: iu.find_spec(m) is not None for m in sys.argv[1:]}
print(json.dumps({"python": list(sys.version_info[:3]), "dists": dists, "modules": mods}))
"""
# Imports every module for real, after an install, and reports the first that fails.
_VERIFY = """
import importlib, sys
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        sys.exit(f"import {name} failed: {type(exc).__name__}: {exc}")
if sys.argv[1] == "cuda":
    import torch
    if torch.version.cuda is None:
        sys.exit(f"torch {torch.__version__} is a CPU build; pass --torch-index with a CUDA wheel index")
"""


class SetupError(Exception):
    """A failure with a message that says what to do; `log` names the full pip log if there is one."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class Pin:
    name: str
    version: str

    @property
    def key(self) -> str:
        return normalize(self.name)

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


def normalize(name: str) -> str:
    """PEP 503 name, so `typing_extensions` and `typing-extensions` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> list[Pin]:
    """Read `name==version` lines; anything looser is refused, because loose pins make pip backtrack."""
    pins = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!_-]+)", line)
        if not match:
            raise SetupError(f"{path}:{number}: expected 'name==version', got {raw.strip()!r}")
        pins.append(Pin(match.group(1), match.group(2)))
    return pins


def torch_requirement(version: str, cuda: bool, system: str | None = None) -> str:
    """On Linux the plain PyPI wheel is the CUDA build, so CPU installs ask for the `+cpu` local version."""
    system = platform.system() if system is None else system
    if cuda or system != "Linux":
        return f"torch=={version}"
    return f"torch=={version}+cpu"


def version_ok(pin: Pin, have: str | None, cuda: bool) -> bool:
    """Compare the public version (`2.13.0+cpu` satisfies `2.13.0`); with --cuda a `+cpu` torch does not."""
    if have is None or have.split("+", 1)[0] != pin.version.split("+", 1)[0]:
        return False
    return not (cuda and pin.key == "torch" and have.endswith("+cpu"))


def python_version(executable: str) -> tuple[int, int, int] | None:
    """The version of another interpreter, or None if it does not run."""
    try:
        result = subprocess.run([executable, "-c", "import sys; print(*sys.version_info[:3])"],
                                capture_output=True, text=True, timeout=30, env=clean_env())
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    try:
        major, minor, micro = (int(p) for p in result.stdout.split())
    except ValueError:
        return None
    return major, minor, micro


def find_python311(explicit: str | None = None, current: str | None = None,
                   current_version: tuple[int, ...] | None = None, which=shutil.which) -> str:
    """The interpreter the venv is made from: --python, else this one if it is 3.11, else python3.11 on PATH."""
    current = sys.executable if current is None else current
    current_version = tuple(sys.version_info[:3]) if current_version is None else current_version
    wanted = ".".join(map(str, VENV_PYTHON))
    if explicit:
        found = python_version(explicit)
        if found is None:
            raise SetupError(f"--python {explicit}: cannot run it; give the path of a Python {wanted} interpreter")
        if found[:2] != VENV_PYTHON:
            raise SetupError(f"--python {explicit} is Python {'.'.join(map(str, found))}; the backend venv needs "
                             f"Python {wanted} (bpy and mediapipe 0.10.21 ship cp311 wheels only)")
        return explicit
    if tuple(current_version[:2]) == VENV_PYTHON and current:
        return current
    candidates = [f"python{wanted}"] + (["py"] if os.name == "nt" else [])
    for name in candidates:
        path = which(name)
        if not path:
            continue
        if name == "py":  # Windows launcher: ask it where 3.11 lives
            try:
                result = subprocess.run([path, f"-{wanted}", "-c", "import sys; print(sys.executable)"],
                                        capture_output=True, text=True, timeout=30)
            except (OSError, subprocess.SubprocessError):
                continue
            path = result.stdout.strip() if result.returncode == 0 else ""
            if not path:
                continue
        found = python_version(path)
        if found is not None and found[:2] == VENV_PYTHON:
            return path
    running = ".".join(map(str, current_version[:3]))
    raise SetupError(f"the backend venv needs Python {wanted} (bpy and mediapipe 0.10.21 ship cp311 wheels only), "
                     f"but this is Python {running} and no python{wanted} was found on PATH; install Python {wanted} "
                     f"(e.g. `apt install python{wanted} python{wanted}-venv`, pyenv, or python.org) and run again, "
                     f"or pass --python /path/to/python{wanted}")


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def clean_env() -> dict[str, str]:
    """The environment for child interpreters: Blender sets PYTHONHOME/PYTHONPATH for its own Python."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def inspect_venv(python: Path, modules: list[str]) -> dict:
    """Installed distributions, Python version and findable modules of a venv, in one quick child process."""
    result = subprocess.run([str(python), "-c", _INSPECT, *modules], capture_output=True, text=True,
                            timeout=120, env=clean_env())
    if result.returncode != 0:
        raise SetupError(f"cannot run the venv's Python {python}: {result.stderr.strip()[-500:]}; "
                         f"remove the venv folder or run again with --recreate")
    return json.loads(result.stdout)


@dataclass
class Plan:
    """What the venv lacks, per install step; empty lists mean the step has nothing to do."""

    torch: list[str]
    backend: list[str]
    dev: list[str]
    conflicts: list[str]  # other OpenCV distributions sharing cv2/
    broken: list[str]  # distributions listed as installed whose module is gone

    @property
    def problems(self) -> list[str]:
        return (self.torch + self.backend + self.dev
                + [f"{name} is installed next to {OPENCV}; both own cv2/ (one must go)" for name in self.conflicts]
                + [f"{name} is listed as installed but its module cannot be found" for name in self.broken])


def describe(pin: Pin, dists: dict[str, str], cuda: bool) -> str | None:
    have = dists.get(pin.key)
    if version_ok(pin, have, cuda):
        return None
    if have is None:
        return f"{pin.name} {pin.version} is not installed"
    if cuda and pin.key == "torch" and have.endswith("+cpu"):
        return f"torch {have} is the CPU build; --cuda wants the CUDA build of {pin.version}"
    return f"{pin.name} is {have}, want {pin.version}"


def make_plan(state: dict, backend: list[Pin], dev: list[Pin], want_dev: bool, cuda: bool) -> Plan:
    dists = state["dists"]
    modules = {**BACKEND_MODULES, **(DEV_MODULES if want_dev else {})}
    return Plan(
        torch=[m for p in backend if p.key == "torch" and (m := describe(p, dists, cuda))],
        backend=[m for p in backend if p.key != "torch" and (m := describe(p, dists, cuda))],
        dev=[m for p in dev if (m := describe(p, dists, cuda))] if want_dev else [],
        conflicts=[name for name in CONFLICTING_OPENCV if name in dists],
        broken=[dist for dist, mod in modules.items() if dist in dists and not state["modules"].get(mod, False)],
    )


class Progress:
    """Numbered step lines on stdout, so a user (or the add-on) sees where a long install is."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.number = 0
        self.current = ""
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        self.number += 1
        self.current = text
        self.started = time.monotonic()
        print(f"[{self.number}/{self.total}] {text}", flush=True)

    def done(self, text: str = "done") -> None:
        print(f"      {text} ({time.monotonic() - self.started:.1f} s)", flush=True)


def run_logged(command: list[str], log: Path) -> int:
    """Run a child with its output appended to the log; returns its exit status."""
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"\n$ {' '.join(command)}\n")
        handle.flush()
        return subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=clean_env()).returncode


def fail_step(progress: Progress, log: Path, detail: str) -> SetupError:
    tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:] if log.exists() else []
    shown = "\n".join("    " + line for line in tail)
    return SetupError(f"step [{progress.number}/{progress.total}] '{progress.current}' failed: {detail}\n"
                      f"  last lines of the log:\n{shown}", log=log)


def pip_install(python: Path, requirements: list[str], log: Path, extra: list[str] | None = None) -> int:
    command = [str(python), "-m", "pip", "install", *PIP_FLAGS, "--progress-bar", "off",
               "-c", str(REQUIREMENTS / "constraints.txt"), *(extra or []), *requirements]
    return run_logged(command, log)


def create_venv(base_python: str, venv: Path, log: Path, progress: Progress) -> None:
    status = run_logged([base_python, "-m", "venv", str(venv)], log)
    if status != 0 or not venv_python(venv).exists():
        raise fail_step(progress, log, f"`{base_python} -m venv {venv}` exited {status}; on Debian/Ubuntu "
                                       f"install the venv module (`apt install python3.11-venv`)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="install_deps.py",
        description="Create the Video Mocap backend venv (Python 3.11) and install its pinned packages. "
                    "Safe to run again: only what is missing or at the wrong version is installed.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--prefix", metavar="DIR", help="put the venv at DIR/venv (the add-on's per-user folder)")
    where.add_argument("--venv", metavar="DIR", help="put the venv exactly at DIR (default: .venv in this checkout)")
    parser.add_argument("--dev", action="store_true", help="also install pytest, ruff, bpy and fake-bpy-module")
    parser.add_argument("--ray", action="store_true",
                        help="also install Ray (requirements/ray.txt) for `backend batch --ray` on a cluster")
    parser.add_argument("--cuda", action="store_true",
                        help="install the CUDA build of torch (needs an NVIDIA GPU and driver; several GB)")
    parser.add_argument("--torch-index", metavar="URL",
                        help=f"wheel index for torch (default: pip's configured sources, then {TORCH_CPU_INDEX}; "
                             f"with --cuda {TORCH_CUDA_INDEX})")
    parser.add_argument("--python", metavar="PATH", help="the Python 3.11 interpreter to make the venv from")
    parser.add_argument("--check", action="store_true", help="only report what is missing; exit 1 if anything is")
    parser.add_argument("--recreate", action="store_true", help="delete the venv first and build it from scratch")
    return parser.parse_args(argv)


def venv_dir(args: argparse.Namespace) -> Path:
    if args.prefix:
        return Path(args.prefix).expanduser().resolve() / "venv"
    if args.venv:
        return Path(args.venv).expanduser().resolve()
    return ROOT / ".venv"


def check(args: argparse.Namespace, venv: Path, backend: list[Pin], dev: list[Pin]) -> int:
    """--check: report, change nothing."""
    python = venv_python(venv)
    rerun = "python3 install_deps.py" + (" --dev" if args.dev else "") + (" --cuda" if args.cuda else "")
    if not python.exists():
        print(f"missing: no venv at {venv}; run: {rerun}")
        return 1
    modules = list(BACKEND_MODULES.values()) + (list(DEV_MODULES.values()) if args.dev else [])
    state = inspect_venv(python, modules)
    version = ".".join(map(str, state["python"]))
    problems = []
    if tuple(state["python"][:2]) != VENV_PYTHON:
        problems.append(f"the venv is Python {version}, not {'.'.join(map(str, VENV_PYTHON))}; use --recreate")
    problems += make_plan(state, backend, dev, args.dev, args.cuda).problems
    broken = subprocess.run([str(python), "-m", "pip", "check", *PIP_FLAGS], capture_output=True, text=True,
                            env=clean_env())
    if broken.returncode != 0:
        problems += [f"pip check: {line}" for line in broken.stdout.splitlines() if line.strip()]
    print(f"venv {venv} (Python {version})")
    for problem in problems:
        print(f"missing: {problem}")
    if problems:
        print(f"{len(problems)} problem(s); run: {rerun}")
        return 1
    print(f"ok: all {len(backend) + (len(dev) if args.dev else 0)} pinned packages present")
    return 0


def install(args: argparse.Namespace, venv: Path, backend: list[Pin], dev: list[Pin]) -> None:
    progress = Progress(total=6 + (1 if args.dev else 0) + (1 if args.ray else 0))
    progress.step(f"finding Python {'.'.join(map(str, VENV_PYTHON))}")
    python = venv_python(venv)
    base = None
    if args.recreate or not python.exists():
        base = find_python311(args.python)
        progress.done(f"using {base}")
    else:
        progress.done(f"reusing the venv's own {python}")

    progress.step(f"creating the venv at {venv}")
    if args.recreate and venv.exists():
        if not (venv / "pyvenv.cfg").exists():
            raise SetupError(f"--recreate: {venv} exists but is not a venv (no pyvenv.cfg); not deleting it")
        shutil.rmtree(venv)
    venv.mkdir(parents=True, exist_ok=True)
    log = venv / "install_deps.log"
    if base is not None:
        create_venv(base, venv, log, progress)
        progress.done()
    else:
        progress.done("already there")

    progress.step("checking installed packages")
    modules = list(BACKEND_MODULES.values()) + (list(DEV_MODULES.values()) if args.dev else [])
    state = inspect_venv(python, modules)
    if tuple(state["python"][:2]) != VENV_PYTHON:
        raise SetupError(f"{venv} is a Python {'.'.join(map(str, state['python']))} venv; the backend needs "
                         f"{'.'.join(map(str, VENV_PYTHON))}. Run again with --recreate to rebuild it")
    plan = make_plan(state, backend, dev, args.dev, args.cuda)
    installed_any = False
    if not plan.problems and subprocess.run([str(python), "-m", "pip", "check", *PIP_FLAGS],
                                            capture_output=True, env=clean_env()).returncode != 0:
        plan.backend.append("pip check reports broken requirements")
    progress.done(f"{len(plan.problems)} to fix" if plan.problems else "everything is in place")

    torch_pin = next(p for p in backend if p.key == "torch")
    torch_req = torch_requirement(torch_pin.version, args.cuda)
    progress.step(f"installing torch {torch_pin.version} ({'CUDA' if args.cuda else 'CPU'})")
    if plan.torch or "torch" in plan.broken:
        if args.cuda and shutil.which("nvidia-smi") is None:
            print("      note: no nvidia-smi on PATH; the CUDA build only helps with an NVIDIA GPU and driver",
                  flush=True)
        if args.torch_index:
            attempts = [["--extra-index-url", args.torch_index]]
        elif args.cuda:
            attempts = [["--extra-index-url", TORCH_CUDA_INDEX]]
        elif torch_req.endswith("+cpu"):  # pip's configured sources may already hold it (a local wheel folder)
            attempts = [[], ["--extra-index-url", TORCH_CPU_INDEX]]
        else:
            attempts = [[]]
        force = ["--force-reinstall", "--no-deps"] if not plan.torch else []
        if args.cuda and plan.torch:  # `torch==X` is already met by X+cpu; --upgrade picks the CUDA build
            force = ["--upgrade"]
        if not any(pip_install(python, [torch_req], log, extra + force) == 0 for extra in attempts):
            raise fail_step(progress, log, f"pip could not install {torch_req}")
        installed_any = True
        progress.done()
    else:
        progress.done("already installed")

    # torch is pinned by its public version from here on, which the installed build (CPU or CUDA)
    # satisfies, so these steps never swap it for another build.
    others = [str(p) for p in backend]
    progress.step(f"installing backend packages ({', '.join(str(p) for p in backend if p.key != 'torch')})")
    needed = bool(plan.backend or plan.conflicts or set(plan.broken) - {"torch"})
    if needed:
        repair(python, plan, backend + dev, log, progress)
    installed_any |= pip_step(python, needed, others, log, progress, "pip could not install the backend packages")

    if args.dev:
        progress.step(f"installing dev tools ({', '.join(map(str, dev))})")
        installed_any |= pip_step(python, bool(plan.dev), [*others, *map(str, dev)], log, progress,
                                  "pip could not install the dev tools")

    if args.ray:
        ray_pins = read_pins(REQUIREMENTS / "ray.txt")
        progress.step(f"installing the Ray extra ({', '.join(map(str, ray_pins))})")
        if pip_step(python, any(describe(p, state["dists"], args.cuda) for p in ray_pins),
                    [*others, *map(str, ray_pins)], log, progress, "pip could not install Ray"):
            installed_any = True
            modules.append("ray")

    progress.step("verifying the environment")
    if installed_any:
        command = [str(python), "-c", _VERIFY, "cuda" if args.cuda else "cpu", *modules]
        if run_logged(command, log) != 0:
            raise fail_step(progress, log, "the packages installed but do not import")
        if run_logged([str(python), "-m", "pip", "check", *PIP_FLAGS], log) != 0:
            raise fail_step(progress, log, "pip check reports broken requirements")
        progress.done("imports work, pip check is clean")
    else:
        progress.done("nothing changed")
    print(f"ready: {python}", flush=True)


def pip_step(python: Path, needed: bool, packages: list[str], log: Path, progress: Progress, failure: str) -> bool:
    """Finish the current step: `pip install packages` when `needed` (else "already installed").

    Returns whether it installed anything; raises `fail_step(failure)` (the log's tail) when pip fails.
    """
    if not needed:
        progress.done("already installed")
        return False
    if pip_install(python, packages, log) != 0:
        raise fail_step(progress, log, failure)
    progress.done()
    return True


def repair(python: Path, plan: Plan, pins: list[Pin], log: Path, progress: Progress) -> None:
    """Remove extra OpenCV distributions and reinstall what lost its files.

    Uninstalling any OpenCV distribution deletes the cv2/ folder they share, so the pinned one is
    reinstalled afterwards; `pip install` alone would consider it present and skip it.
    """
    if plan.conflicts:
        command = [str(python), "-m", "pip", "uninstall", "-y", *PIP_FLAGS, *plan.conflicts]
        if run_logged(command, log) != 0:
            raise fail_step(progress, log, f"could not uninstall {', '.join(plan.conflicts)}")
    force = set(plan.broken) | ({OPENCV} if plan.conflicts else set())
    requirements = [str(p) for p in pins if p.key in force and p.key != "torch"]  # torch: its own step
    if requirements:
        command = [str(python), "-m", "pip", "install", *PIP_FLAGS, "--force-reinstall", "--no-deps",
                   *requirements]
        if run_logged(command, log) != 0:
            raise fail_step(progress, log, f"could not reinstall {', '.join(requirements)}")


def main(argv: list[str] | None = None) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - say so plainly when started by an old python3
        print(f"install_deps: needs Python >= 3.11 to run (this is {platform.python_version()})", file=sys.stderr)
        return 2
    args = parse_args(argv)
    started = time.monotonic()
    try:
        backend = read_pins(REQUIREMENTS / "backend.txt")
        dev = read_pins(REQUIREMENTS / "dev.txt")
        venv = venv_dir(args)
        if args.check:
            return check(args, venv, backend, dev)
        install(args, venv, backend, dev)
    except SetupError as exc:
        print(f"install_deps: {exc}", file=sys.stderr)
        if exc.log is not None:
            print(f"install_deps: full log: {exc.log}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("install_deps: interrupted; run it again to finish", file=sys.stderr)
        return 130
    print(f"install_deps: finished in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
