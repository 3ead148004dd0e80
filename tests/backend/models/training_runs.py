"""`backend train MODEL` as a user runs it, for the STR and TAR training tests: one run, and the resume check."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tests.conftest import REPO, backend_env, parse_events


def train_argv(model: str, data: Path, val: Path, run_dir: Path, out: Path, smpl_dir: Path, epochs: int, iters: int,
               *extra: str) -> list[str]:
    """The command line of `backend train MODEL` on converted folders `data` and `val`, without SPIN/ReFit weights
    (an empty weights folder under `run_dir`), `epochs` x `iters` steps; `extra`: the model's own test flags."""
    return [sys.executable, "-m", "backend", "train", model, "--data", str(data), "--val", str(val), "--run-dir",
            str(run_dir), "--out", str(out), "--smpl-dir", str(smpl_dir), "--weights-dir", str(run_dir / "no_weights"),
            "--epochs", str(epochs), "--iters-per-epoch", str(iters), *extra]


def run_training(argv: list[str], run_dir: Path, out: Path, timeout: float) -> dict[str, Any]:
    """Run a training to its end (fails the test, with its stderr, if it does not exit 0).

    Returns {events, out, run_dir, seconds (wall clock), state (RUN_DIR/last.pt, read with weights_only)}.
    """
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=backend_env(), timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"events": parse_events(proc.stdout), "out": out, "run_dir": run_dir,
            "seconds": time.monotonic() - started, "state": torch.load(run_dir / "last.pt", weights_only=True)}


def check_run_and_loss(trained: dict[str, Any], steps: int, epochs: int) -> tuple[float, float]:
    """Check a finished run (`run_training`'s dict): `steps` losses in its history, a `train` progress line per
    step with epoch, loss, eta_s and lr, one `epoch` line per epoch, and `done` naming --out. Returns the mean
    loss of the first 10 steps and of the last 20."""
    history = np.array(trained["state"]["history"])
    assert len(history) == steps
    events = trained["events"]
    lines = [e for e in events if e.get("stage") == "train"]
    assert lines and all({"epoch", "loss", "eta_s", "lr"} <= set(e) for e in lines)
    assert [e["done"] for e in events if e.get("stage") == "epoch"] == list(range(1, epochs + 1))
    assert events[-1]["event"] == "done" and events[-1]["out"] == str(trained["out"])
    return float(history[:10].mean()), float(history[-20:].mean())


def _history(run_dir: Path) -> np.ndarray:
    """The per-step loss curve [steps] stored in RUN_DIR/last.pt."""
    return np.array(torch.load(run_dir / "last.pt", weights_only=True)["history"])


def check_resume_after_sigterm(argv_for: Callable[[Path, Path], list[str]], folder: Path, epochs: int, iters: int,
                               kill_at: int, timeout: float, stop_timeout: float, label: str) -> list[str]:
    """Train `epochs` x `iters` steps uninterrupted; train the same again, SIGTERM it at step `kill_at` (in epoch 2),
    then `--resume` it: the two loss curves must be equal (<= 1e-6), the killed run must exit 130 with a
    CANCELLED error that says --resume, keep epoch 1's checkpoint, and the resumed run must start at step
    iters + 1. `argv_for(run_dir, out)` gives the model's command line; `timeout` (s) bounds each full run and
    `stop_timeout` the killed run's exit. Returns the killed run's argv.
    """
    reference_dir = folder / "run_short"
    done = subprocess.run(argv_for(reference_dir, folder / "short.pth.tar"), cwd=REPO, capture_output=True,
                          text=True, env=backend_env(), timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    reference = _history(reference_dir)

    run_dir = folder / "run_killed"
    argv = argv_for(run_dir, folder / "killed.pth.tar")
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=backend_env())
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            event = json.loads(line)
            if event.get("stage") == "train" and event["done"] >= kill_at:
                proc.send_signal(signal.SIGTERM)
                break
        rest = proc.communicate(timeout=stop_timeout)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, rest[-2000:]
    error = parse_events(rest)[-1]
    assert error["code"] == "CANCELLED" and "--resume" in error["message"]
    saved = torch.load(run_dir / "last.pt", weights_only=True)
    assert saved["epoch"] == 1 and saved["step"] == iters
    resumed = subprocess.run([*argv, "--resume"], cwd=REPO, capture_output=True, text=True, env=backend_env(),
                             timeout=timeout)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert next(e["done"] for e in parse_events(resumed.stdout) if e.get("stage") == "train") == iters + 1
    curve = _history(run_dir)
    assert curve.shape == reference.shape == (epochs * iters,)
    worst = float(np.abs(curve - reference).max())
    print(f"\n{label} resumed loss curve vs uninterrupted: max |diff| {worst:.2e} over {len(curve)} steps")
    assert worst <= 1e-6
    return argv
