"""The process runner and the import job against a stand-in backend: events, errors, cancel, kill."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from addon.backend_client.backend_paths import RunOptions, backend_argv, backend_env
from addon.backend_client.backend_runner import BackendProcess, BackendStartError, parse_line
from addon.backend_client.import_job import VideoImportJob
from addon.backend_client.run_state import RunState
from tests.conftest import process_alive, process_gone

STAND_IN = Path(__file__).resolve().parent / "stand_in"
HELPERS = Path(__file__).resolve().parents[1] / "blender"


def stand_in_env(tmp: Path | None = None) -> dict[str, str]:
    env = backend_env(STAND_IN, tmp)
    env["STAND_IN_HELPERS"] = str(HELPERS)
    return env


def run_stand_in(tmp_path: Path, kind: str, grace_s: float = 2.0) -> BackendProcess:
    argv = backend_argv(sys.executable, "run", str(tmp_path / f"{kind}.mp4"), "--out", str(tmp_path / "m.npz"))
    process = BackendProcess(argv, env=stand_in_env(tmp_path), grace_s=grace_s)
    process.start()
    return process


def wait_for_progress(process: BackendProcess, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while process.collected.progress.done < 1:
        process.poll()
        assert time.monotonic() < deadline, "no progress line from the stand-in"
        time.sleep(0.01)


def test_parse_line_kinds() -> None:
    assert parse_line('{"event": "done", "out": "/x.npz"}\n') == {"event": "done", "out": "/x.npz"}
    assert parse_line('{"models": []}') == {"event": "data", "data": {"models": []}}
    assert parse_line("[ok] numpy 1.26\n") == {"event": "line", "text": "[ok] numpy 1.26"}
    assert parse_line("{broken json") == {"event": "line", "text": "{broken json"}


def test_success_collects_progress_warnings_and_done(tmp_path: Path) -> None:
    outcome = run_stand_in(tmp_path, "ok").wait(timeout=30)
    assert outcome.state is RunState.SUCCEEDED and outcome.out == str(tmp_path / "m.npz")


def test_error_event_message_is_the_outcome(tmp_path: Path) -> None:
    outcome = run_stand_in(tmp_path, "error").wait(timeout=30)
    assert outcome.state is RunState.FAILED and outcome.error_code == "NO_PERSON"
    assert outcome.message.startswith("no person found in") and outcome.returncode == 5


def test_crash_without_event_reports_status_and_stderr(tmp_path: Path) -> None:
    outcome = run_stand_in(tmp_path, "crash").wait(timeout=30)
    assert outcome.state is RunState.FAILED
    assert "status 70" in outcome.message and "something broke" in outcome.message


def test_cancel_terminates_and_the_child_cleans_up(tmp_path: Path) -> None:
    process = run_stand_in(tmp_path, "slow")
    wait_for_progress(process)
    assert list(tmp_path.glob("stand_in_*")), "the stand-in should hold a temp file while running"
    started = time.monotonic()
    process.cancel()
    outcome = process.wait(timeout=30)
    assert outcome.state is RunState.CANCELLED and outcome.returncode == 130
    assert time.monotonic() - started < 1.5  # SIGTERM was enough; no grace period spent
    assert process_gone(process.pid) and not list(tmp_path.glob("stand_in_*"))


def test_cancel_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    process = run_stand_in(tmp_path, "stubborn", grace_s=0.5)
    wait_for_progress(process)
    process.cancel()
    outcome = process.wait(timeout=30)
    assert outcome.state is RunState.CANCELLED and outcome.returncode == -9
    assert process_gone(process.pid)


def test_poll_never_blocks(tmp_path: Path) -> None:
    process = run_stand_in(tmp_path, "slow")
    wait_for_progress(process)
    started = time.perf_counter()
    for _ in range(100):
        process.poll()
    assert (time.perf_counter() - started) / 100 < 0.005
    process.stop()


def test_missing_interpreter_is_a_start_error(tmp_path: Path) -> None:
    process = BackendProcess([str(tmp_path / "no-python"), "-m", "backend"])
    with pytest.raises(BackendStartError, match="cannot start"):
        process.start()
    # A file that is not executable (a script picked as the Backend Python) says what is wanted.
    script = tmp_path / "activate"
    script.write_text("# not an interpreter\n")
    with pytest.raises(BackendStartError, match=r"activate: Permission denied; it must be an executable Python "
                                                r"interpreter, such as a venv's bin/python"):
        BackendProcess([str(script), "-m", "backend"]).start()


def job(tmp_path: Path, kind: str, python: Path | None = Path(sys.executable)) -> VideoImportJob:
    options = RunOptions(video=str(tmp_path / f"{kind}.mp4"), out="")
    os.environ["STAND_IN_HELPERS"] = str(HELPERS)
    return VideoImportJob(python, STAND_IN, options, tmp_path / "runs", grace_s=1.0)


def test_job_loads_and_checks_the_motion_and_removes_its_folder(tmp_path: Path) -> None:
    ok = job(tmp_path, "ok")
    ok.start()
    assert ok.wait(timeout=30) is RunState.READY and ok.motion is not None and ok.motion.frame_count == 3
    assert ok.warnings == ["frame 1 interpolated"]
    assert list((tmp_path / "runs").iterdir()) == []


def test_job_reports_a_malformed_motion_file(tmp_path: Path) -> None:
    bad = job(tmp_path, "malformed")
    bad.start()
    assert bad.wait(timeout=30) is RunState.FAILED and bad.motion is None
    assert "bad motion file" in bad.message and "'poses' has shape [3, 23, 3]" in bad.message


def test_job_cancel_leaves_no_files_and_no_process(tmp_path: Path) -> None:
    slow = job(tmp_path, "slow")
    slow.start()
    wait_for_progress(slow.process)
    slow.cancel()
    assert slow.wait(timeout=30) is RunState.CANCELLED
    assert process_gone(slow.process.pid) and list((tmp_path / "runs").iterdir()) == []


def test_job_without_backend_python_fails_with_instructions(tmp_path: Path) -> None:
    missing = job(tmp_path, "ok", python=tmp_path / "venv" / "bin" / "python")
    missing.start()
    assert missing.state is RunState.FAILED and "backend Python not found at" in missing.message
    assert "Install backend" in missing.message


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and /proc: POSIX")
def test_stopping_the_installer_stops_pip_and_its_children(tmp_path: Path) -> None:
    """Install Backend's cancel/disable/quit path: the installer's helpers ignore SIGTERM, and none
    is left 2 s after `stop()` returns (it once ended install_deps.py alone; pip kept installing)."""
    pid_file = tmp_path / "pids"
    process = BackendProcess([sys.executable, str(STAND_IN / "installer.py"), str(pid_file)], grace_s=1.0)
    process.start()
    deadline = time.monotonic() + 20
    while not pid_file.is_file() or len(pid_file.read_text().split()) < 2:
        assert time.monotonic() < deadline, "the stand-in installer did not start its helpers"
        process.poll()
        time.sleep(0.05)
    pids = [process.pid, *map(int, pid_file.read_text().split())]
    assert all(process_alive(pid) for pid in pids)
    stopping = time.monotonic()
    outcome = process.stop()
    stop_s = time.monotonic() - stopping
    assert outcome is not None and outcome.state is RunState.CANCELLED
    assert stop_s < process.grace_s + 3.0, f"stop() took {stop_s:.1f} s (waited for the helpers to end by themselves)"
    time.sleep(2.0)
    assert [pid for pid in pids if process_alive(pid)] == []


def test_the_run_state_machine_allows_only_its_transitions() -> None:
    from addon.backend_client.run_state import TERMINAL, TRANSITIONS, InvalidTransition, advance

    assert RunState.READY is RunState.SUCCEEDED and set(TRANSITIONS) == set(RunState)
    assert advance(RunState.IDLE, RunState.RUNNING) is RunState.RUNNING
    assert advance(RunState.CANCELLING, RunState.CANCELLED) is RunState.CANCELLED
    for state in TERMINAL:
        for new in RunState:
            with pytest.raises(InvalidTransition, match=f"{state.name} cannot become {new.name}"):
                advance(state, new)
    with pytest.raises(InvalidTransition):
        advance(RunState.IDLE, RunState.CANCELLING)  # nothing to cancel before the start


def test_a_job_walks_the_machine(tmp_path: Path) -> None:
    """Cancel before the start ends the job at once; a second cancel of a finished job changes nothing."""
    job = VideoImportJob(None, STAND_IN, RunOptions(video=str(tmp_path / "ok.mp4"), out=""), tmp_path / "runs")
    assert job.state is RunState.IDLE
    job.cancel()
    assert job.state is RunState.CANCELLED and job.finished
    job.cancel()
    assert job.state is RunState.CANCELLED
