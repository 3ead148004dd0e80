"""`backend batch`: many clips -> one motion file each, on a local process pool (or Ray, batch_ray.py).

Every clip runs as its own `python -m backend run` child process, so a crash, a corrupt video or a
cancel in one clip never touches the others, and both executors run byte-for-byte the same
conversion. The child writes into a scratch folder; the driver moves the finished file into
`DIR/<relative path>.npz` with one atomic rename, so an interrupted clip leaves no partial file.

`DIR/batch.jsonl` is the batch's journal: one JSON line is appended as each clip finishes, and
at the end of a run it is rewritten with exactly one line per clip (the last word on each). A clip
is skipped when its journal line says `ok`, its options hash and input signature (size, mtime)
are unchanged and the output exists; a clip that failed with the same options and input is not
retried unless `--retry-failed` is given (the failure is usually in the clip: NO_PERSON, a
corrupt file).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..core import cancel
from ..core.errors import EXIT_STATUS, BackendError, ErrorCode
from ..core.events import EventStream
from ..core.outputs import atomic_output

#: Video containers a folder scan picks up (anything else FFmpeg reads can go through a manifest).
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".ts", ".mts")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SUMMARY_NAME = "batch.jsonl"
SCRATCH_NAME = ".batch-scratch"
#: Manifest columns that are not run options.
MANIFEST_RESERVED = ("path", "out")
#: Run options that do not change the result, so they stay out of the options hash.
HASH_EXCLUDED = ("video", "out", "threads", "command", "log_level", "device", "weights_dir", "smpl_dir")
#: Exit status of a batch in which some clips failed (the counts are in the last JSON line).
EXIT_SOME_FAILED = 10


@dataclass
class Clip:
    """One input of the batch: a video file or an image-sequence folder, and its per-clip flags."""

    source: Path
    rel: str  # output path relative to DIR, posix, ending in .npz: the clip's stable name
    argv: list[str] = field(default_factory=list)  # per-clip run flags (manifest), after the global ones
    line: int = 0  # manifest line (0 = folder scan)


@dataclass
class ClipResult:
    """What one conversion returned; `data` is the motion file's bytes (None unless ok)."""

    status: str  # ok | failed | cancelled
    code: str = ""
    message: str = ""
    seconds: float = 0.0
    frames: int = 0
    data: bytes | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Job:
    """Everything a worker (local or remote) needs to convert one clip."""

    rel: str
    source: str
    argv: list[str]  # the full `run` flags after VIDEO (no --out)
    options_hash: str
    num_cpus: float = 1.0  # threads one clip uses (model card): the Ray task's CPU request
    num_gpus: float = 0.0  # GPUs one clip uses when the cluster has any (seed models)


def input_signature(path: Path) -> dict[str, int]:
    """Size and newest mtime (ns) of a clip; for an image folder, summed over its images."""
    if path.is_dir():
        files = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        stats = [p.stat() for p in files]
        return {"size": sum(s.st_size for s in stats), "mtime_ns": max((s.st_mtime_ns for s in stats), default=0),
                "files": len(files)}
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _is_sequence_folder(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in folder.iterdir())


def scan_folder(root: Path) -> list[Clip]:
    """Videos and image-sequence folders under `root`, sorted by path; sub-folders kept in the names.

    A folder that holds images is one image sequence (its sub-folders are not searched).
    """
    clips: list[Clip] = []

    def visit(folder: Path) -> None:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if _is_sequence_folder(entry):
                    clips.append(Clip(entry, entry.relative_to(root).as_posix() + ".npz"))
                else:
                    visit(entry)
            elif entry.suffix.lower() in VIDEO_SUFFIXES:
                clips.append(Clip(entry, entry.relative_to(root).with_suffix(".npz").as_posix()))

    visit(root)
    return clips


def _option_flag(name: str) -> str:
    return "--" + name.strip().replace("_", "-")


def _manifest_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "path" not in [f.strip() for f in reader.fieldnames]:
                raise BackendError(ErrorCode.BAD_ARGUMENT, f"manifest {path}: the first row must name the columns, "
                                   "one of them 'path' (then any of model, person, frames, fps, focal_length, ...)")
            for number, row in enumerate(reader, start=2):
                yield number, {k.strip(): v.strip() for k, v in row.items() if k and v is not None and v.strip()}
        return
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise BackendError(ErrorCode.BAD_ARGUMENT, f"manifest {path} line {number}: not JSON ({exc})") from None
            if not isinstance(row, dict):
                raise BackendError(ErrorCode.BAD_ARGUMENT, f"manifest {path} line {number}: expected a JSON object")
            yield number, row


def read_manifest(path: Path) -> list[Clip]:
    """Clips of a CSV or JSONL manifest: `path` (relative to the manifest's folder) plus run options.

    Option names are the `run` flags without dashes (`focal_length` or `focal-length`); values are
    their text (`frames: "0:40"`, `person: 1`). JSON `true` is a bare flag such as `official_batching`.
    An optional `out` column gives the output name (relative to DIR, .npz added when missing).
    """
    base = path.parent
    clips: list[Clip] = []
    for number, row in _manifest_rows(path):
        if not row.get("path"):
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"manifest {path} line {number}: no 'path'")
        source = Path(os.path.expanduser(str(row["path"])))
        source = source if source.is_absolute() else base / source
        if row.get("out"):
            rel = Path(str(row["out"]))
            rel = rel if rel.suffix == ".npz" else rel.with_name(rel.name + ".npz")
        else:
            try:
                rel = source.relative_to(base)
            except ValueError:
                rel = Path(source.name)
            rel = rel.with_suffix(".npz") if rel.suffix.lower() in VIDEO_SUFFIXES else rel.with_name(rel.name + ".npz")
        if rel.is_absolute() or ".." in rel.parts:
            raise BackendError(ErrorCode.BAD_ARGUMENT, f"manifest {path} line {number}: out {rel} must stay inside DIR")
        argv: list[str] = []
        for key, value in row.items():
            if key in MANIFEST_RESERVED or value is None or value is False:
                continue
            argv.append(_option_flag(key))
            if value is not True:
                argv.append(str(value))
        clips.append(Clip(source, rel.as_posix(), argv, number))
    if not clips:
        raise BackendError(ErrorCode.BAD_ARGUMENT, f"manifest {path} lists no clips")
    return clips


def collect_clips(input_path: Path) -> list[Clip]:
    """A folder (scanned), a .csv/.jsonl manifest, or one video; refuses two clips with one output name."""
    if not input_path.exists():
        raise BackendError(ErrorCode.VIDEO_NOT_FOUND, f"batch input {input_path} does not exist")
    if input_path.is_dir():
        clips = scan_folder(input_path)
        if not clips:
            raise BackendError(ErrorCode.VIDEO_UNREADABLE,
                               f"folder {input_path} holds no videos ({', '.join(VIDEO_SUFFIXES)}) and no "
                               "image-sequence folders; give a manifest (.csv/.jsonl) for other files")
    elif input_path.suffix.lower() in (".csv", ".jsonl"):
        clips = read_manifest(input_path)
    else:
        clips = [Clip(input_path, input_path.with_suffix(".npz").name)]
    seen: dict[str, Path] = {}
    for clip in clips:
        if clip.rel in seen:
            raise BackendError(ErrorCode.BAD_ARGUMENT,
                               f"{seen[clip.rel]} and {clip.source} would both be written to {clip.rel}; rename one "
                               "(or give them distinct 'out' names in a manifest)")
        seen[clip.rel] = clip.source
    return clips


def options_hash(run_values: dict[str, Any]) -> str:
    """16 hex digits over the options that change the result, and the backend's version."""
    kept = {k: v for k, v in sorted(run_values.items()) if k not in HASH_EXCLUDED}
    text = json.dumps({"backend": __version__, "options": kept}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_summary(path: Path) -> dict[str, dict[str, Any]]:
    """The last journal line of each clip (by output name); unreadable lines are ignored."""
    records: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return records
    for text in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError, TypeError, KeyError):
            record = json.loads(text)
            records[str(record["clip"])] = record
    return records


def decide(record: dict[str, Any] | None, options: str, signature: dict[str, int], out: Path,
           retry_failed: bool) -> str:
    """'skip' (done, unchanged), 'failed' (failed before, unchanged, not retried) or 'run'."""
    if record is None or record.get("options_hash") != options or record.get("input") != signature:
        return "run"
    if record.get("status") == "ok" and out.is_file():
        return "skip"
    if record.get("status") == "failed" and not retry_failed:
        return "failed"
    return "run"


def clip_resources(model: str) -> tuple[int, float]:
    """(CPU threads, GPUs) one clip of `model` uses, from its model card.

    Cards may state `threads_per_clip` / `gpus_per_clip`; otherwise: MediaPipe + IK (no torch
    backbone) keeps about one core busy; a torch model uses two threads and asks for a GPU.
    """
    try:
        from ..models import registry

        getter = getattr(registry, "get_card", None) or registry.get_spec
        card = getter(model)
    except BackendError:
        return 1, 0.0  # an unknown model fails in its clip, with the run's own message
    threads = getattr(card, "threads_per_clip", None) or (1 if card.backbone is None else 2)
    gpus = getattr(card, "gpus_per_clip", None)
    gpus = (0.0 if card.backbone is None else 1.0) if gpus is None else float(gpus)
    return int(threads), gpus


# ---------------------------------------------------------------------------------------------
# One clip, in a child process (shared by the local pool and the Ray tasks)

def _parent_death_signal() -> Callable[[], None] | None:
    """On Linux, a child gets SIGKILL when the thread that started it dies (a worker killed by -9)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: the child only calls it

    def arm() -> None:
        prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL

    return arm


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # the folder that holds `backend/`
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def convert_clip(job: Job, on_event: Callable[[dict[str, Any]], None] | None = None,
                 register: Callable[[subprocess.Popen | None], None] | None = None) -> ClipResult:
    """Run `python -m backend run` on one clip in a scratch folder; return the file's bytes.

    `register(proc)` is called with the child (and with None when it ended) so the caller can
    stop it on cancel; `on_event` gets each JSON line the child prints.
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vm-clip-") as scratch:
        out = Path(scratch) / "motion.npz"
        stderr_path = Path(scratch) / "stderr.log"
        argv = [sys.executable, "-m", "backend", "run", job.source, "--out", str(out), *job.argv]
        last_error: dict[str, Any] | None = None
        warnings: list[str] = []
        frames = 0
        with stderr_path.open("wb") as stderr:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                                    env=_child_env(), preexec_fn=_parent_death_signal())  # noqa: PLW1509
            if register:
                register(proc)
            try:
                assert proc.stdout is not None
                for raw in proc.stdout:
                    try:
                        event = json.loads(raw)
                    except json.JSONDecodeError:
                        continue
                    if event.get("event") == "error":
                        last_error = event
                    elif event.get("event") == "warning":
                        warnings.append(f"{event.get('code')}: {event.get('message')}")
                    elif event.get("event") == "progress" and event.get("stage") == "detect":
                        frames = int(event.get("done", 0))
                    if on_event:
                        on_event(event)
                code = proc.wait()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                if register:
                    register(None)
        seconds = round(time.monotonic() - started, 3)
        if code == 0 and out.is_file():
            return ClipResult("ok", seconds=seconds, frames=frames, data=out.read_bytes(), warnings=warnings)
        if code == EXIT_STATUS[ErrorCode.CANCELLED] or (last_error or {}).get("code") == "CANCELLED":
            return ClipResult("cancelled", "CANCELLED", "stopped before it finished; the next run redoes it",
                              seconds, frames)
        if last_error is not None:
            return ClipResult("failed", str(last_error.get("code")), str(last_error.get("message")), seconds, frames)
        if code < 0:
            return ClipResult("failed", ErrorCode.INTERNAL.value, f"backend run was killed by signal {-code} "
                              "(out of memory?); --retry-failed reruns it", seconds, frames)
        tail = stderr_path.read_text(errors="replace").strip().splitlines()[-3:]
        return ClipResult("failed", ErrorCode.INTERNAL.value,
                          f"backend run exited {code} without an error line: {' | '.join(tail) or 'no output'}",
                          seconds, frames)


# ---------------------------------------------------------------------------------------------
# The batch driver

@dataclass
class BatchPlan:
    out_dir: Path
    clips: list[Clip]
    jobs: dict[str, Job]  # rel -> job, only the clips to run
    records: dict[str, dict[str, Any]]  # rel -> journal record (existing, or the failure of a bad clip)
    skipped: list[str]
    kept_failed: list[str]


class Journal:
    """Appends clip records to DIR/batch.jsonl as they finish (thread-safe), compacts at the end."""

    def __init__(self, path: Path, records: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self.records = dict(records)
        self._lock = threading.Lock()

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.records[record["clip"]] = record
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())

    def compact(self, order: Sequence[str]) -> None:
        """Rewrite with one line per clip of this batch, in input order (atomically)."""
        with self._lock:
            lines = [json.dumps(self.records[rel], sort_keys=True) for rel in order if rel in self.records]
            with atomic_output(self.path) as handle:
                handle.write(("\n".join(lines) + "\n").encode() if lines else b"")


def make_record(job: Job | Clip, out_dir: Path, result: ClipResult, signature: dict[str, int] | None,
                options: str, executor: str) -> dict[str, Any]:
    """One batch.jsonl line; `frames_per_s` counts the clip's whole time (process start included)."""
    rel = job.rel
    fps = round(result.frames / result.seconds, 3) if result.seconds > 0 and result.frames else 0.0
    return {
        "clip": rel, "input": signature, "source": str(job.source), "status": result.status,
        "code": result.code or None, "message": result.message or None, "seconds": result.seconds,
        "frames": result.frames, "frames_per_s": fps, "options_hash": options,
        "output": str(out_dir / rel) if result.status == "ok" else None, "executor": executor,
        "warnings": result.warnings, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def store_output(out_dir: Path, rel: str, data: bytes) -> Path:
    """Atomic: the motion file appears complete or not at all."""
    dst = out_dir / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dst) as handle:
        handle.write(data)
    return dst


class Progress:
    """Overall JSON-line progress: clips done / total with an ETA from the batch's pace so far."""

    def __init__(self, events: EventStream, total: int, to_run: int) -> None:
        self.events, self.total, self.to_run = events, total, to_run
        self.counts = {"ok": 0, "failed": 0, "skipped": 0, "cancelled": 0}
        self.started = time.monotonic()
        self.finished_run = 0

    def emit(self) -> None:
        done = sum(self.counts.values())
        elapsed = time.monotonic() - self.started
        remaining = self.to_run - self.finished_run
        eta = round(elapsed / self.finished_run * remaining, 1) if self.finished_run else None
        self.events.emit({"event": "batch_progress", "done": done, "total": self.total, **self.counts,
                          "elapsed_s": round(elapsed, 2), "eta_s": eta})


def run_local(jobs: list[Job], workers: int, events: EventStream,
              finish: Callable[[Job, ClipResult], None]) -> None:
    """Run jobs on `workers` child processes at a time; a cancel stops every running child."""
    running: dict[str, subprocess.Popen] = {}
    lock = threading.Lock()

    def one(job: Job) -> ClipResult:
        if cancel.requested():
            return ClipResult("cancelled", "CANCELLED", "not started: the batch was stopped")

        def register(proc: subprocess.Popen | None) -> None:
            with lock:
                if proc is None:
                    running.pop(job.rel, None)
                else:
                    running[job.rel] = proc
                    if cancel.requested():
                        proc.terminate()

        def relay(event: dict[str, Any]) -> None:
            if event.get("event") == "progress":
                events.emit({"event": "clip_progress", "clip": job.rel, "stage": event.get("stage"),
                             "done": event.get("done"), "total": event.get("total")}, throttle=job.rel)

        events.emit({"event": "clip", "clip": job.rel, "status": "started"})
        result = convert_clip(job, relay, register)
        if result.status == "failed" and cancel.requested():
            # stopped by us (a child can die of SIGTERM before its own handlers are installed)
            return ClipResult("cancelled", "CANCELLED", "stopped before it finished; the next run redoes it",
                              result.seconds, result.frames)
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="clip") as pool:
        pending: dict[Future, Job] = {pool.submit(one, job): job for job in jobs}
        stopping = False
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            if cancel.requested() and not stopping:
                stopping = True  # children get SIGTERM: each removes its temp files and exits 130
                with lock:
                    for proc in running.values():
                        with contextlib.suppress(OSError):
                            proc.terminate()
            for future in done:
                job = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - one clip's bug must not stop the others
                    result = ClipResult("failed", ErrorCode.INTERNAL.value, f"{type(exc).__name__}: {exc}")
                finish(job, result)


def plan_batch(input_path: Path, out_dir: Path, run_argv: list[str], retry_failed: bool,
               parse_run: Callable[[list[str]], dict[str, Any]]) -> tuple[BatchPlan, list[dict[str, Any]]]:
    """Clips, what to do with each, and per-clip failures found before running (bad manifest options)."""
    clips = collect_clips(input_path)
    previous = read_summary(out_dir / SUMMARY_NAME)
    jobs: dict[str, Job] = {}
    skipped: list[str] = []
    kept_failed: list[str] = []
    early: list[dict[str, Any]] = []
    for clip in clips:
        argv = [*run_argv, *clip.argv]
        try:
            values = parse_run([str(clip.source), *argv])
            signature = input_signature(clip.source) if clip.source.exists() else None
        except BackendError as exc:
            result = ClipResult("failed", exc.code.value, f"{clip.source}: {exc.message}")
            early.append(make_record(clip, out_dir, result, None, "", "none"))
            continue
        digest = options_hash(values)
        threads, gpus = clip_resources(str(values.get("model", "blazepose")))
        if not values.get("threads"):
            argv = [*argv, "--threads", str(threads)]  # each clip gets its share, not the whole machine
        if signature is None:
            result = ClipResult("failed", ErrorCode.VIDEO_NOT_FOUND.value, f"{clip.source} does not exist")
            early.append(make_record(clip, out_dir, result, None, digest, "none"))
            continue
        choice = decide(previous.get(clip.rel), digest, signature, out_dir / clip.rel, retry_failed)
        if choice == "skip":
            skipped.append(clip.rel)
        elif choice == "failed":
            kept_failed.append(clip.rel)
        else:
            jobs[clip.rel] = Job(clip.rel, str(clip.source), argv, digest, threads, gpus)
    return BatchPlan(out_dir, clips, jobs, previous, skipped, kept_failed), early


def run_batch(plan: BatchPlan, early: list[dict[str, Any]], events: EventStream,
              executor: Callable[[list[Job], Callable[[Job, ClipResult], None]], None], executor_name: str,
              exports: Sequence[str] = ()) -> int:
    """Run the plan's jobs with `executor`, journal every result; returns the exit status."""
    out_dir = plan.out_dir
    scratch = out_dir / SCRATCH_NAME
    shutil.rmtree(scratch, ignore_errors=True)  # left by a driver that was killed; nothing in it is kept
    journal = Journal(out_dir / SUMMARY_NAME, plan.records)
    order = [clip.rel for clip in plan.clips]
    progress = Progress(events, len(order), len(plan.jobs))
    signatures = {clip.rel: input_signature(clip.source) for clip in plan.clips if clip.rel in plan.jobs}
    for record in early:
        journal.add(record)
        progress.counts["failed"] += 1
        events.emit({"event": "clip", "clip": record["clip"], "status": "failed", "code": record["code"],
                     "message": record["message"]})
    for rel in plan.skipped:
        progress.counts["skipped"] += 1
        events.emit({"event": "clip", "clip": rel, "status": "skipped"})
    for rel in plan.kept_failed:
        progress.counts["failed"] += 1
        record = plan.records[rel]
        events.emit({"event": "clip", "clip": rel, "status": "failed", "code": record.get("code"),
                     "message": f"failed before with the same options and input (use --retry-failed): "
                                f"{record.get('message')}"})
    progress.emit()

    def finish(job: Job, result: ClipResult) -> None:
        if result.status == "ok" and result.data is not None:
            try:
                written = store_output(out_dir, job.rel, result.data)
                if exports:
                    from .exports import write_exports

                    write_exports(written, exports)
            except (ValueError, BackendError) as exc:
                result = ClipResult("failed", getattr(exc, "code", ErrorCode.INTERNAL).value if isinstance(
                    exc, BackendError) else ErrorCode.INTERNAL.value, f"export of {out_dir / job.rel} failed: {exc}",
                    result.seconds, result.frames)
            except OSError as exc:
                result = ClipResult("failed", ErrorCode.OUT_NOT_WRITABLE.value,
                                    f"cannot write {out_dir / job.rel}: {exc.strerror or exc}", result.seconds,
                                    result.frames)
        record = make_record(job, out_dir, result, signatures.get(job.rel), job.options_hash, executor_name)
        journal.add(record)
        progress.counts[result.status] = progress.counts.get(result.status, 0) + 1
        progress.finished_run += 1
        events.emit({"event": "clip", "clip": job.rel, "status": result.status, "code": record["code"],
                     "message": record["message"], "seconds": result.seconds, "frames_per_s": record["frames_per_s"],
                     "output": record["output"]})
        progress.emit()

    try:
        executor(list(plan.jobs.values()), finish)
    finally:
        journal.compact(order)
        shutil.rmtree(scratch, ignore_errors=True)
    counts = dict(progress.counts)
    summary = {"event": "batch_done", "total": len(order), **counts, "summary": str(journal.path),
               "seconds": round(time.monotonic() - progress.started, 2), "executor": executor_name}
    events.emit(summary)
    if counts.get("cancelled") or cancel.requested():
        events.error(ErrorCode.CANCELLED.value, f"batch stopped: {counts['ok']} ok, {counts['skipped']} skipped, "
                     f"{counts['failed']} failed, {counts['cancelled']} not finished; run the same command to resume")
        return EXIT_STATUS[ErrorCode.CANCELLED]
    if counts["failed"]:
        events.error("BATCH_FAILED", f"{counts['failed']} of {len(order)} clips failed ({counts['ok']} ok, "
                     f"{counts['skipped']} skipped); see {journal.path}; `--retry-failed` reruns them")
        return EXIT_SOME_FAILED
    events.done(str(out_dir), **{k: counts[k] for k in ("ok", "skipped")}, total=len(order))
    return 0


def summary_record_fields() -> list[str]:
    """The keys of each batch.jsonl line (documentation and tests)."""
    return list(make_record(Job("a.npz", "a.mp4", [], ""), Path("."), ClipResult("ok"), None, "", "").keys())

