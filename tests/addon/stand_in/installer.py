"""Stands in for `install_deps.py`: starts a pip-like child that starts its own child (as pip runs
builds), writes every pid to argv[1], then waits. The helpers ignore SIGTERM, as a process busy in
a build can, so only a kill of the whole process group ends them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
HELPER = (IGNORE_TERM + "import subprocess, sys; "
          f"print(subprocess.Popen([sys.executable, '-c', {IGNORE_TERM + 'time.sleep(60)'!r}], "
          "stdout=subprocess.DEVNULL).pid, flush=True); time.sleep(60)")


def main() -> None:
    pid_file = Path(sys.argv[1])
    pip = subprocess.Popen([sys.executable, "-c", HELPER], stdout=subprocess.PIPE, text=True)
    grandchild = pip.stdout.readline().strip()
    pid_file.write_text(f"{pip.pid}\n{grandchild}\n")
    print("[1/3] installing torch", flush=True)
    time.sleep(60)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the installer itself stops at once, as it does
    main()
