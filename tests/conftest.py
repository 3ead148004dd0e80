"""Shared test helpers: repository paths and a runner for the backend CLI as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SINGLE = SAMPLES / "single_person_demo.mp4"
MULTI = SAMPLES / "multi_person_demo.mp4"


@dataclass
class BackendResult:
    returncode: int
    events: list[dict]
    stdout: str
    stderr: str

    def last_error(self) -> dict | None:
        errors = [e for e in self.events if e.get("event") == "error"]
        return errors[-1] if errors else None


def parse_events(stdout: str) -> list[dict]:
    """Every stdout line must be a JSON object with an `event` key (the contract)."""
    events = []
    for line in stdout.splitlines():
        event = json.loads(line)
        assert isinstance(event, dict) and "event" in event, line
        events.append(event)
    return events


def backend_env(tmp_cache: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    if tmp_cache is not None:
        env["VIDEO_MOCAP_CACHE_DIR"] = str(tmp_cache)
    return env


def run_backend(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> BackendResult:
    """Run `python -m backend ARGS`; `run`'s stdout must be JSON event lines only (parsed here)."""
    proc = subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env or backend_env(), check=False)
    human_output = args and args[0] in ("--help", "models", "doctor")
    events = [] if human_output else parse_events(proc.stdout)
    return BackendResult(proc.returncode, events, proc.stdout, proc.stderr)


def signal_after_first_event(args: list[str], sig: int) -> tuple[dict, list[dict], int]:
    """Start `python -m backend ARGS`, send `sig` once its first JSON event is out, and return
    (first event, every later event, exit status). The child is killed if it outlives the test."""
    proc = subprocess.Popen([sys.executable, "-m", "backend", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=backend_env())
    try:
        first = json.loads(proc.stdout.readline())
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return first, [json.loads(line) for line in rest.splitlines()], proc.returncode


def process_alive(pid: int) -> bool:
    """Running: neither gone nor a zombie waiting for a parent that never reaps it (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def process_gone(pid: int) -> bool:
    """True once no process has this id (a cancelled child must not outlive its job)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="session")
def samples() -> dict[str, Path]:
    for path in (SINGLE, MULTI):
        assert path.is_file(), f"sample video missing: {path}"
    return {"single": SINGLE, "multi": MULTI}


def make_empty_venv(python: str | Path, where: Path) -> Path:
    """A venv with no packages at all, as an interrupted install leaves it; returns its interpreter."""
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    return where / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
