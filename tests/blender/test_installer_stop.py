"""Install Backend stops for real: Cancel, disabling the add-on and quitting each end the installer's
whole process group (pip and what pip started), not only `install_deps.py`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import process_alive

HERE = Path(__file__).resolve().parent
STAND_IN = HERE.parent / "addon" / "stand_in" / "installer.py"


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and /proc: POSIX")
@pytest.mark.parametrize("mode", ["cancel", "disable", "quit"])
def test_no_installer_process_left_2s_after_stop(extension_zip: Path, tmp_path: Path, mode: str) -> None:
    pid_file = tmp_path / "pids"
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, str(HERE / "stop_installer_script.py"), mode, str(extension_zip),
                             str(STAND_IN), str(pid_file)], capture_output=True, text=True, env=env, timeout=120,
                            check=False)
    assert result.returncode == 0 and f"{mode}: stopped" in result.stdout, result.stdout[-2000:] + result.stderr[-3000:]
    stop_s = float(result.stdout.split(f"{mode}: stopped in ")[1].split()[0])
    assert stop_s < 6.0, f"'{mode}' took {stop_s:.1f} s: it waited for pip instead of stopping it"
    pids = [int(pid) for pid in pid_file.read_text().split()]
    assert len(pids) == 3  # install_deps.py stand-in, pip stand-in, pip's child
    time.sleep(2.0)
    assert [pid for pid in pids if process_alive(pid)] == [], f"still running 2 s after '{mode}'"
