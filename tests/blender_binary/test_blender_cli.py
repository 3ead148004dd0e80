"""`blender -b -P addon/batch.py -- ...` with a real Blender executable, when one is installed.

The bpy wheel has no executable, so this is the only test of Blender's own command line (argument
passing after `--`, `--python-exit-code`, exporters). `.ci/run` installs Debian's Blender for it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SINGLE

BLENDER = shutil.which("blender")
pytestmark = pytest.mark.skipif(BLENDER is None, reason="no `blender` executable on PATH")


def blender_batch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BLENDER, "-b", "--factory-startup", "--python-exit-code", "1",
                           "-P", str(REPO / "addon" / "batch.py"), "--", *args],
                          capture_output=True, text=True, timeout=600, check=False, cwd=REPO)


def test_video_to_blend_fbx_bvh(tmp_path: Path) -> None:
    out = tmp_path / "clip.blend"
    result = blender_batch("--video", str(SINGLE), "--backend-python", sys.executable, "--out", str(out),
                           "--fbx", str(tmp_path / "clip.fbx"), "--bvh", str(tmp_path / "clip.bvh"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name in ("clip.blend", "clip.fbx", "clip.bvh"):
        assert (tmp_path / name).stat().st_size > 1000
    bvh = (tmp_path / "clip.bvh").read_text()
    assert "ROOT pelvis" in bvh and "JOINT right_hand" in bvh
    frames = int(bvh.split("Frames:")[1].split()[0])
    assert frames >= 40


def test_failure_exits_non_zero_with_the_backends_message(tmp_path: Path) -> None:
    missing = tmp_path / "missing.mp4"
    result = blender_batch("--video", str(missing), "--backend-python", sys.executable,
                           "--out", str(tmp_path / "x.blend"))
    assert result.returncode != 0
    assert f"video not found: {missing}" in result.stdout + result.stderr
    assert not (tmp_path / "x.blend").exists()


def test_sigint_cancels_blender_batch_with_exit_130_and_nothing_left(tmp_path: Path) -> None:
    """Ctrl-C on `blender -b -P addon/batch.py`: one "cancelled" line, exit 130, no run folder, no child."""
    import os
    import signal
    import time

    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    process = subprocess.Popen([BLENDER, "-b", "--factory-startup", "--python-exit-code", "1",
                                "-P", str(REPO / "addon" / "batch.py"), "--",
                                "--video", str(REPO / "tests" / "data" / "field" / "long_loop.mp4"),
                                "--backend-python", sys.executable, "--out", str(tmp_path / "never.blend")],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not any((tmp_path / "user").rglob("motion.npz*")) and not list((tmp_path / "user").rglob("run-*")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(3)  # the backend is decoding and detecting
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output[-3000:]
    assert sum("cancelled" in line for line in output.splitlines()) == 1 and "Traceback" not in output
    assert not list((tmp_path / "user").rglob("run-*")) and not (tmp_path / "never.blend").exists()
    alive = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _mentions(p, str(tmp_path / "user"))]
    assert alive == []


def _mentions(proc: Path, text: str) -> bool:
    try:
        return text.encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False


def readme_batch_lines() -> list[str]:
    """The command lines of the README's first code block under "Headless / batch", as written there."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Headless / batch", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_batch_section_runs_verbatim(tmp_path: Path) -> None:
    """Each README line, unchanged, in a folder laid out like the checkout's root with `clip.mp4` in it."""
    for name in ("addon", ".venv"):
        (tmp_path / name).symlink_to(REPO / name)
    shutil.copyfile(SINGLE, tmp_path / "clip.mp4")
    lines = readme_batch_lines()
    assert len(lines) == 2 and all("--python-exit-code 1" in line for line in lines)
    for line in lines:
        result = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                                check=False)
        assert result.returncode == 0, line + "\n" + result.stdout[-2000:] + result.stderr[-3000:]
    for name in ("clip.blend", "clip.fbx", "clip.bvh", "clip.npz", "clip_again.blend"):
        assert (tmp_path / name).stat().st_size > 1000, name


def test_a_missing_backend_python_points_at_the_flag_and_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "no_venv" / "bin" / "python"
    result = blender_batch("--video", str(SINGLE), "--backend-python", str(missing), "--out", str(tmp_path / "x.blend"))
    assert result.returncode == 1
    assert f"backend Python not found at {missing}: pass --backend-python" in result.stderr
    assert "VIDEO_MOCAP_BACKEND_PYTHON" in result.stderr and "Preferences" not in result.stderr
    assert not (tmp_path / "x.blend").exists()
