"""`backend batch` on a local process pool, with real clips (the samples, cut to 8 frames).

One module-scoped batch of six clips (videos in sub-folders and an image sequence) plus a
corrupt file is shared by the folder, skip, retry and Ray tests (tests/backend/test_batch_ray.py
imports the fixture), so the whole file converts about a dozen 8-frame clips.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from backend.core.motion_file import load_motion_file
from backend.pipeline.batch import SUMMARY_NAME, read_manifest, summary_record_fields
from tests.conftest import MULTI, REPO, SINGLE, backend_env, parse_events, run_backend

FRAMES = 8
SIX = ["deep/x/walk_c.npz", "group/multi_a.npz", "group/multi_b.npz", "seq.npz", "walk_a.npz", "walk_b.npz"]


def make_six_clips(root: Path) -> Path:
    """Six real clips (four videos in sub-folders, a .mov copy, a PNG sequence) and one corrupt file."""
    import av
    import cv2

    clips = root / "clips"
    (clips / "group").mkdir(parents=True)
    (clips / "deep" / "x").mkdir(parents=True)
    (clips / "seq").mkdir()
    for src, dst in ((SINGLE, "walk_a.mp4"), (SINGLE, "walk_b.mov"), (MULTI, "group/multi_a.mp4"),
                     (MULTI, "group/multi_b.mp4"), (SINGLE, "deep/x/walk_c.mp4")):
        (clips / dst).write_bytes(src.read_bytes())
    with av.open(str(SINGLE)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= FRAMES:
                break
            cv2.imwrite(str(clips / "seq" / f"frame{index + 1}.png"), frame.to_ndarray(format="bgr24"))
    (clips / "broken.mp4").write_bytes(SINGLE.read_bytes()[:4000])  # the header only: FFmpeg cannot decode it
    return clips


def batch_env() -> dict[str, str]:
    """The backend's test environment; Ray's token auth off on both ends, whatever ~/.ray holds
    (a local `ray.init()` elsewhere on the machine turns it on for later `ray start`s)."""
    return dict(backend_env(), RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")


def run_batch(*args: str, timeout: float = 900) -> tuple[int, list[dict], float]:
    started = time.monotonic()
    result = run_backend("batch", *args, timeout=timeout, env=batch_env())
    return result.returncode, result.events, time.monotonic() - started


def summary(out: Path) -> dict[str, dict]:
    lines = (out / SUMMARY_NAME).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    by_clip = {r["clip"]: r for r in records}
    assert len(by_clip) == len(records), "batch.jsonl must hold one line per clip after a run"
    return by_clip


def started(events: list[dict]) -> set[str]:
    return {e["clip"] for e in events if e.get("event") == "clip" and e.get("status") in ("started", "submitted")}


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]


@pytest.fixture(scope="module")
def local_batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("batch")
    clips = make_six_clips(root)
    out = root / "out"
    code, events, _ = run_batch(str(clips), "--out", str(out), "--workers", "2", "--frames", f"0:{FRAMES}")
    return {"clips": clips, "out": out, "code": code, "events": events}


def test_six_clips_convert_and_the_corrupt_one_fails_alone(local_batch: dict) -> None:
    out, events = local_batch["out"], local_batch["events"]
    assert local_batch["code"] == 10, events[-3:]  # some clips failed: the distinct status
    records = summary(out)
    assert sorted(records) == sorted([*SIX, "broken.npz"])
    assert records["broken.npz"]["status"] == "failed" and records["broken.npz"]["code"] == "VIDEO_UNREADABLE"
    assert "broken.mp4" in records["broken.npz"]["message"] and records["broken.npz"]["output"] is None
    assert set(summary_record_fields()) <= set(records["walk_a.npz"])
    hashes = {records[rel]["options_hash"] for rel in SIX}
    assert len(hashes) == 1
    for rel in SIX:
        record = records[rel]
        assert record["status"] == "ok", record
        assert record["output"] == str(out / rel) and record["seconds"] > 0 and record["frames_per_s"] > 0
        motion = load_motion_file(out / rel)
        assert motion["poses"].shape == (FRAMES, 24, 3)
        assert list(motion["frame_ids"]) == list(range(FRAMES))
    done = [e for e in events if e.get("event") == "batch_done"]
    assert done and done[-1]["ok"] == 6 and done[-1]["failed"] == 1 and done[-1]["total"] == 7
    overall = [e for e in events if e.get("event") == "batch_progress"]
    assert overall[-1]["done"] == overall[-1]["total"] == 7 and overall[-1]["eta_s"] == 0
    assert any(e.get("event") == "clip_progress" and e["stage"] == "detect" for e in events)
    assert events[-1]["event"] == "error" and events[-1]["code"] == "BATCH_FAILED" and "1 of 7" in events[-1]["message"]
    assert not leftovers(out)


def test_a_batch_output_equals_a_single_run_of_that_clip(local_batch: dict, tmp_path: Path) -> None:
    single = tmp_path / "single.npz"
    result = run_backend("run", str(local_batch["clips"] / "group" / "multi_a.mp4"), "--out", str(single),
                         "--frames", f"0:{FRAMES}")
    assert result.returncode == 0, result.stderr[-2000:]
    ours, theirs = load_motion_file(local_batch["out"] / "group" / "multi_a.npz"), load_motion_file(single)
    for key in theirs:
        if key != "meta":
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_second_run_skips_all_six_and_retry_failed_reruns_only_failures(local_batch: dict) -> None:
    clips, out = local_batch["clips"], local_batch["out"]
    mtimes = {rel: (out / rel).stat().st_mtime_ns for rel in SIX}
    code, events, wall = run_batch(str(clips), "--out", str(out), "--workers", "2", "--frames", f"0:{FRAMES}")
    assert code == 10  # the corrupt clip is still failed (not retried without --retry-failed)
    assert started(events) == set()
    assert {e["clip"] for e in events if e.get("status") == "skipped"} == set(SIX)
    done = events[-2]
    assert done["event"] == "batch_done" and done["skipped"] == 6 and done["seconds"] < 2.0, done
    assert {rel: (out / rel).stat().st_mtime_ns for rel in SIX} == mtimes
    print(f"second run: batch {done['seconds']} s, process wall {wall:.1f} s")

    # Touching one input changes its signature: it reruns; --retry-failed adds the failure only.
    os.utime(clips / "walk_b.mov")
    code, events, _ = run_batch(str(clips), "--out", str(out), "--workers", "2", "--frames", f"0:{FRAMES}",
                                "--retry-failed")
    assert code == 10
    assert started(events) == {"broken.npz", "walk_b.npz"}
    assert summary(out)["walk_b.npz"]["status"] == "ok"
    # Other options are another hash: everything would rerun (checked on the hash, not by running).
    assert summary(out)["walk_a.npz"]["options_hash"] == summary(out)["walk_b.npz"]["options_hash"]


def test_sigterm_mid_batch_then_rerun_converts_every_clip_exactly_once(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    names = [f"c{i}.mp4" for i in range(4)]
    for name in names:
        (clips / name).write_bytes(SINGLE.read_bytes())
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "backend", "batch", str(clips), "--out", str(out), "--workers", "2",
            "--frames", f"0:{FRAMES}"]
    proc = subprocess.Popen(argv, cwd=REPO, env=backend_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    first_run: list[dict] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        first_run.append(event)
        if event.get("event") == "clip" and event.get("status") == "ok":
            running = started(first_run) - {e["clip"] for e in first_run if e.get("status") == "ok"}
            assert running, "another clip must be mid-conversion when the stop comes"
            proc.send_signal(signal.SIGTERM)
            break
    first_run += parse_events(proc.stdout.read())
    assert proc.wait(timeout=120) == 130
    assert first_run[-1]["event"] == "error" and first_run[-1]["code"] == "CANCELLED"
    ok_first = {e["clip"] for e in first_run if e.get("event") == "clip" and e.get("status") == "ok"}
    assert ok_first and len(ok_first) < 4
    assert sorted(p.name for p in out.glob("*.npz")) == sorted(ok_first)  # no partial file of a stopped clip
    assert not leftovers(out)
    assert {r["status"] for rel, r in summary(out).items() if rel not in ok_first} == {"cancelled"}
    time.sleep(0.5)
    assert not _processes_mentioning(str(clips)), "a clip's process outlived the stop"

    code, second_run, _ = run_batch(str(clips), "--out", str(out), "--workers", "2", "--frames", f"0:{FRAMES}")
    assert code == 0, second_run[-3:]
    ok_second = {e["clip"] for e in second_run if e.get("event") == "clip" and e.get("status") == "ok"}
    assert ok_first.isdisjoint(ok_second) and ok_first | ok_second == {n.replace(".mp4", ".npz") for n in names}
    assert all(r["status"] == "ok" for r in summary(out).values())
    assert not leftovers(out)


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


def test_manifest_per_clip_options_are_honoured(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "one.mp4").write_bytes(SINGLE.read_bytes())
    (tmp_path / "two.mp4").write_bytes(MULTI.read_bytes())
    manifest = tmp_path / "list.csv"
    manifest.write_text("path,frames\nv/one.mp4,0:6\nv/one.mp4,0:4\n", encoding="utf-8")
    # The third row names the same clip as the first: refused before anything runs.
    code, events, _ = run_batch(str(manifest), "--out", str(tmp_path / "out"))
    assert code == 2 and "v/one.npz" in events[-1]["message"]

    manifest.write_text("path,frames,person,focal_length,model,out\n"
                        "v/one.mp4,0:6,,,,\n"
                        "two.mp4,2:10,1,1500,,\n"
                        "v/one.mp4,0:4,,,nosuch,bad_model\n", encoding="utf-8")
    out = tmp_path / "out"
    code, events, _ = run_batch(str(manifest), "--out", str(out), "--workers", "2", "--export", "bvh,amass,csv")
    assert code == 10
    records = summary(out)
    assert records["bad_model.npz"]["status"] == "failed" and records["bad_model.npz"]["code"] == "BAD_ARGUMENT"
    assert "nosuch" in records["bad_model.npz"]["message"]
    one, two = load_motion_file(out / "v" / "one.npz"), load_motion_file(out / "two.npz")
    assert list(one["frame_ids"]) == list(range(6))
    assert list(two["frame_ids"]) == list(range(2, 10))
    assert json.loads(str(two["meta"]))["person_id"] == 1 and float(two["focal_length"]) == 1500.0
    assert json.loads(str(one["meta"]))["person_id"] == 0
    assert records["v/one.npz"]["options_hash"] != records["two.npz"]["options_hash"]
    # --export writes the three exports beside each converted clip, and none for the failed one.
    assert "Frames: 8" in (out / "two.bvh").read_text()
    assert len((out / "v" / "one.csv").read_text().splitlines()) == 1 + 6
    with np.load(out / "two_amass.npz") as amass:
        assert amass["poses"].shape == (8, 72)
    assert not (out / "bad_model.bvh").exists() and not (out / "bad_model.npz").exists()


def test_jsonl_manifest_rows_become_run_flags(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "a.mp4", "person": 1, "focal-length": 900, "official_batching": true}\n\n'
                        '{"path": "/abs/b.mp4", "fps": 25, "out": "x/b"}\n', encoding="utf-8")
    first, second = read_manifest(manifest)
    assert first.source == tmp_path / "a.mp4" and first.rel == "a.npz"
    assert first.argv == ["--person", "1", "--focal-length", "900", "--official-batching"]
    assert second.source == Path("/abs/b.mp4") and second.rel == "x/b.npz" and second.argv == ["--fps", "25"]
    manifest.write_text('{"path": "a.mp4", "out": "../escape"}\n', encoding="utf-8")
    with pytest.raises(Exception, match="inside DIR"):
        read_manifest(manifest)


# ---- Ray: a real local head on 127.0.0.1 --------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ray_processes(temp_dir: str) -> list[str]:
    return [c for c in _processes_mentioning("") if temp_dir in c or c.startswith("ray::")]


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """`ray start --head` on 127.0.0.1 with its own temp folder; stopped afterwards, leaving no process."""
    pytest.importorskip("ray", reason="Ray is an optional extra: python3 install_deps.py --ray")
    import tempfile

    ray_cli = str(Path(sys.executable).with_name("ray"))
    temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths have a length limit
    address = f"127.0.0.1:{_free_port()}"
    env = batch_env()
    command = [ray_cli, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", address.split(":")[1],
               "--num-cpus", "2", "--temp-dir", temp_dir, "--include-dashboard", "false", "--disable-usage-stats"]
    for _attempt in range(2):  # on an overloaded machine the GCS can miss Ray's start-up deadline once
        started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        if started.returncode == 0:
            break
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120, check=False)
    try:
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        yield address
    finally:
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120, check=False)
        deadline = time.monotonic() + 30
        while _ray_processes(temp_dir) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _ray_processes(temp_dir)
        import shutil

        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"Ray processes left behind: {left}"


def _same_motion(a: Path, b: Path) -> None:
    """Bit-identical arrays; meta identical except the run's own wall time (`seconds`)."""
    first, second = load_motion_file(a), load_motion_file(b)
    assert sorted(first) == sorted(second)
    for key in first:
        if key == "meta":
            meta_a, meta_b = json.loads(str(first[key])), json.loads(str(second[key]))
            meta_a.pop("seconds"), meta_b.pop("seconds")
            assert meta_a == meta_b
        else:
            assert first[key].dtype == second[key].dtype and first[key].tobytes() == second[key].tobytes(), key


def test_ray_batch_gives_the_local_pools_outputs(local_batch: dict, ray_head: str, tmp_path: Path) -> None:
    out = tmp_path / "ray_out"
    code, events, _ = run_batch(str(local_batch["clips"]), "--out", str(out), "--ray", ray_head,
                                "--frames", f"0:{FRAMES}")
    assert code == 10, events[-3:]
    records = summary(out)
    assert records["broken.npz"]["code"] == "VIDEO_UNREADABLE"
    for rel in SIX:
        assert records[rel]["status"] == "ok" and records[rel]["executor"] == f"ray:{ray_head}", records[rel]
        assert records[rel]["options_hash"] == summary(local_batch["out"])[rel]["options_hash"]
        _same_motion(out / rel, local_batch["out"] / rel)
    assert not leftovers(out)


def test_ray_worker_killed_mid_clip_is_retried(local_batch: dict, ray_head: str, tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("k1.mp4", "k2.mp4"):
        (clips / name).write_bytes(SINGLE.read_bytes())
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "backend", "batch", str(clips), "--out", str(out), "--ray", ray_head,
            "--frames", f"0:{FRAMES}"]
    proc = subprocess.Popen(argv, cwd=REPO, env=batch_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        for worker_pid, clip_pid in _ray_workers_running_a_clip(str(clips), proc.pid):
            os.kill(worker_pid, signal.SIGKILL)  # the worker process dies mid-clip
            killed = (worker_pid, clip_pid)
            break
        time.sleep(0.1)
    if killed is None:
        proc.kill()
        stdout, _ = proc.communicate(timeout=60)
        raise AssertionError(f"no Ray worker was seen converting a clip; the batch printed: {stdout[-2000:]}")
    stdout, _ = proc.communicate(timeout=600)
    events = parse_events(stdout)
    assert proc.returncode == 0, events[-3:]
    assert all(r["status"] == "ok" for r in summary(out).values()) and len(summary(out)) == 2
    for name in ("k1.npz", "k2.npz"):
        a, b = load_motion_file(out / name), load_motion_file(local_batch["out"] / "walk_a.npz")
        for key in a:
            if key != "meta":
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert not Path(f"/proc/{killed[1]}").exists(), "the killed worker's clip process outlived it"
    assert not leftovers(out)


def _ray_workers_running_a_clip(clip_folder: str, driver: int) -> list[tuple[int, int]]:
    """(Ray worker pid, its `backend run` child pid) for clips under `clip_folder`.

    The worker is the child's parent: a `ray::` process (its title while it runs a task), or any
    process but the batch driver while the title is being set.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "backend run" not in cmdline or clip_folder not in cmdline:
                continue
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            parent_cmd = Path(f"/proc/{parent}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if parent_cmd.startswith("ray::") or (parent != driver and "raylet" not in parent_cmd):
            found.append((parent, int(entry.name)))
    return found
