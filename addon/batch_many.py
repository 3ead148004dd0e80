"""Headless import of many clips: `addon/batch.py --input FOLDER|MANIFEST --out-dir DIR`.

1. Runs `backend batch INPUT --out DIR/motions [run options]` (the backend's own pool: progress,
   `DIR/motions/batch.jsonl`, resume and per-clip failures are its rules).
2. Imports every converted clip onto a new SMPL armature in an empty scene (with --rig: retargets
   it onto the armature of a fresh copy of that file, checked before step 1) and writes
   `DIR/<clip>.blend` plus the `--formats` exports (fbx, bvh, glb) beside it, keeping the clip's
   sub-folders. `DIR/blender_batch.jsonl` gets one line per clip (status, code, message,
   seconds, outputs, the motion file's size and mtime); a clip whose outputs exist for the same
   motion file and import options is skipped, so a rerun resumes.

Exit status: 0 when every clip is ok, 10 when some failed (in either step), 130 when stopped
by SIGINT/SIGTERM (the backend batch is stopped too; finished clips stay).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import bpy

EXIT_SOME_FAILED = 10
EXIT_CANCELLED = 130
SUMMARY = "blender_batch.jsonl"
FORMATS = ("blend", "fbx", "bvh", "glb")


def formats(text: str) -> list[str]:
    kinds = [k.strip().lower() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in FORMATS]
    if bad or "blend" not in kinds:
        raise argparse.ArgumentTypeError(f"--formats {text}: use blend plus any of fbx, bvh, glb")
    return kinds


def backend_flags(args: argparse.Namespace, package: ModuleType) -> list[str]:
    """The run options of batch.py's command line as `backend batch` flags (defaults left out), by the
    add-on's run-options table (the same rows `backend run` and `backend batch` parse)."""
    run_options = importlib.import_module(".backend_client.run_options", package.__name__)
    return run_options.option_argv(run_options.RunOptions(video="", out="", **run_options.values_from(args)))


def run_backend_batch(python: Path, source: Path | None, input_path: str, motions: Path, flags: list[str],
                      stopped: Callable[[], bool]) -> int:
    """`backend batch` as a child; its JSON progress goes to stderr; a stop request stops it."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen([str(python), "-m", "backend", "batch", input_path, "--out", str(motions), *flags],
                            stdout=sys.stderr, stdin=subprocess.DEVNULL, env=env)
    terminated = False
    while proc.poll() is None:
        if stopped() and not terminated:
            proc.terminate()  # the backend batch stops its clips and exits 130
            terminated = True
        time.sleep(0.1)
    return proc.returncode


def _signature(path: Path, import_options: dict[str, Any]) -> str:
    stat = path.stat()
    text = json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "options": import_options}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_jsonl(path: Path) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
                record = json.loads(line)
                records[str(record["clip"])] = record
    return records


def import_clip(package: ModuleType, motion_path: Path, outputs: dict[str, Path], args: argparse.Namespace,
                export: Callable[..., None]) -> None:
    """One clip into an empty scene (or a fresh copy of --rig's file, retargeted onto its armature),
    saved and exported; raises on any failure."""
    motion_data = importlib_sub(package, "core.motion_data")
    scene_import = importlib_sub(package, "blender.scene_import")
    motion = motion_data.load_motion(str(motion_path))
    if getattr(args, "rig", None):
        bpy.ops.wm.open_mainfile(filepath=str(Path(args.rig).resolve()))
    else:
        bpy.ops.wm.read_homefile(use_empty=True)
    extra = {"start_at_detection": not args.keep_undetected_ends} if hasattr(args, "keep_undetected_ends") else {}
    options = scene_import.ImportOptions(root_motion=args.root_motion, ground=args.ground_mode.upper(),
                                         match_scene_fps=args.match_scene_fps, **extra,
                                         whole_frames=getattr(args, "whole_frames", False),
                                         **getattr(args, "target_options", {}),
                                         name=scene_import.clip_name(str(motion_path), motion))
    result = scene_import.import_motion(bpy.context, motion, options)
    outputs["blend"].parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(outputs["blend"]))
    per_clip = argparse.Namespace(fbx=outputs.get("fbx"), bvh=outputs.get("bvh"))
    export(per_clip, result.armature, motion, package)
    if "glb" in outputs:
        bpy.ops.export_scene.gltf(filepath=str(outputs["glb"]), export_format="GLB", export_animations=True)


def importlib_sub(package: ModuleType, name: str) -> ModuleType:
    import importlib

    return importlib.import_module(f".{name}", package.__name__)


def run(args: argparse.Namespace, package: ModuleType, stopped: Callable[[], bool],
        export: Callable[..., None]) -> int:
    """The whole folder/manifest batch; returns the exit status."""
    locations = importlib_sub(package, "blender.locations")
    out_dir = Path(args.out_dir).resolve()
    motions = out_dir / "motions"
    motions.mkdir(parents=True, exist_ok=True)
    python = locations.backend_python(args.backend_python)
    if python is None:
        print("error: no backend Python found; pass --backend-python or install the backend", file=sys.stderr)
        return 1
    code = run_backend_batch(python, locations.backend_source(), str(Path(args.input).resolve()), motions,
                             backend_flags(args, package), stopped)
    if code not in (0, EXIT_SOME_FAILED):
        if stopped() or code == EXIT_CANCELLED:
            print("cancelled: the backend batch was stopped; finished clips stay; run again to resume",
                  file=sys.stderr)
            return EXIT_CANCELLED
        print(f"error: backend batch exited {code} (its error is above)", file=sys.stderr)
        return code
    converted = _read_jsonl(motions / "batch.jsonl")
    summary_path = out_dir / SUMMARY
    previous = _read_jsonl(summary_path)
    import_options = {"root_motion": args.root_motion, "ground": args.ground_mode, "formats": args.formats,
                      "match_scene_fps": args.match_scene_fps}
    if getattr(args, "whole_frames", False):
        import_options["whole_frames"] = True
    if getattr(args, "rig", None):  # a changed rig file or mapping redoes the clips
        rig = Path(args.rig).resolve()
        import_options["rig"] = {"path": str(rig), "mtime_ns": rig.stat().st_mtime_ns, "armature": args.armature,
                                 "preset": args.preset, "mapping": args.mapping, "scale": args.scale,
                                 "accept_partial": args.accept_partial}
    records: list[dict[str, Any]] = []
    failed = 0
    for rel, record in converted.items():
        stem = Path(rel).with_suffix("")
        outputs = {kind: out_dir / stem.with_suffix(f".{kind}") for kind in args.formats}
        line: dict[str, Any] = {"clip": rel, "outputs": {k: str(v) for k, v in outputs.items()}}
        if record.get("status") != "ok":
            failed += 1
            records.append({**line, "status": "failed", "code": record.get("code"), "message": record.get("message"),
                            "step": "backend"})
            continue
        motion_path = motions / rel
        signature = _signature(motion_path, import_options)
        old = previous.get(rel)
        if old and old.get("status") == "ok" and old.get("signature") == signature and all(
                p.is_file() for p in outputs.values()):
            records.append(old)
            print(f"skipped {rel} (done)", file=sys.stderr)
            continue
        if stopped():
            print("cancelled: stopped between clips; finished clips stay; run again to resume", file=sys.stderr)
            _write_summary(summary_path, records, previous, converted)
            return EXIT_CANCELLED
        started = time.monotonic()
        try:
            import_clip(package, motion_path, outputs, args, export)
            status, code_text, message = "ok", None, None
        except Exception as exc:  # noqa: BLE001 - one clip's failure must not stop the others
            status, code_text, message = "failed", "IMPORT_FAILED", f"{type(exc).__name__}: {exc}"
            failed += 1
            for path in outputs.values():  # no half set of outputs
                with contextlib.suppress(OSError):
                    path.unlink()
        records.append({**line, "status": status, "code": code_text, "message": message, "signature": signature,
                        "seconds": round(time.monotonic() - started, 3), "step": "import"})
        print(f"{status} {rel}" + (f": {message}" if message else ""), file=sys.stderr)
        for warning in record.get("warnings") or ():  # the backend's, kept in batch.jsonl too
            print(f"warning: {rel}: {warning}", file=sys.stderr)
    _write_summary(summary_path, records, previous, converted)
    ok = sum(1 for r in records if r["status"] == "ok")
    print(f"done: {ok} ok, {failed} failed of {len(records)}; summary {summary_path}", file=sys.stderr)
    return EXIT_SOME_FAILED if failed else 0


def _write_summary(path: Path, records: list[dict[str, Any]], previous: dict[str, dict[str, Any]],
                   converted: dict[str, dict[str, Any]]) -> None:
    done = {r["clip"] for r in records}
    kept = [r for rel, r in previous.items() if rel not in done and rel in converted]
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in [*records, *kept])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
