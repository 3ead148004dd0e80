"""Headless import, for render farms and scripts.

    blender -b -P addon/batch.py -- --video V --model M [--window T] --out OUT.blend [--fbx F.fbx] [--bvh F.bvh]
    blender -b -P addon/batch.py -- --motion FILE.npz --out OUT.blend ...
    python addon/batch.py ...            (where the bpy wheel is installed)

Runs the backend with the same job code as the panel, imports into the open file (or an empty
one with --empty), saves, and exports with Blender's own FBX/BVH exporters. On failure it prints
the backend's message and exits non-zero, without saving anything. SIGINT (Ctrl-C) or SIGTERM
cancels: the backend is stopped (it exits 130, CANCELLED), the run folder is removed, one
"cancelled" line is printed and the exit status is 130; nothing is saved.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import bpy

EXIT_FAILED = 1
EXIT_CANCELLED = 130  # the shell's status for a run ended by SIGINT, and the backend's CANCELLED


class Interrupts:
    """SIGINT/SIGTERM set a flag instead of raising in the middle of whatever runs (no traceback,
    no orphaned backend): the wait loop sees it, cancels the job and lets it clean up."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Interrupts:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            # None: the handler was installed from C (Blender's own), which Python cannot put back.
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)  # type: ignore[arg-type]

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum

    def check(self) -> None:
        """Exit 130 with one line if a signal came (call where nothing is half-done)."""
        if self.received is not None:
            _cancelled(signal.Signals(self.received).name)


def _cancelled(signal_name: str) -> None:
    print(f"cancelled ({signal_name}): the backend was stopped, its run folder removed, nothing saved",
          file=sys.stderr)
    raise SystemExit(EXIT_CANCELLED)


def script_args(argv: list[str] | None = None) -> list[str]:
    """Arguments after `--` (blender -b -P x.py -- args), else everything after the script (python x.py args)."""
    argv = sys.argv if argv is None else argv
    if "--" in argv:
        return argv[argv.index("--") + 1:]
    return [] if bpy.app.binary_path else argv[1:]


def addon_package() -> ModuleType:
    """The package this script belongs to: the enabled extension if it is this folder, else imported by path."""
    here = Path(__file__).resolve().parent
    for name, module in list(sys.modules.items()):
        module_file = getattr(module, "__file__", None)
        if module_file and Path(module_file).resolve() == here / "__init__.py":
            return importlib.import_module(name)
    if str(here.parent) not in sys.path:
        sys.path.insert(0, str(here.parent))
    return importlib.import_module(here.name)


def parse_args(args: list[str], run_options: ModuleType) -> argparse.Namespace:
    """The batch's own options plus every `backend run` option of the add-on's run_options table."""
    parser = argparse.ArgumentParser(prog="batch.py", description="Video Mocap headless import")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", help="video to run the backend on")
    source.add_argument("--motion", help="existing motion file (.npz) to import instead of running the backend")
    source.add_argument("--input", help="a folder of clips or a .csv/.jsonl manifest (with --out-dir; batch_many.py)")
    run_options.add_arguments(parser)
    parser.add_argument("--keep-undetected-ends", action="store_true",
                        help="also key the frames before the first and after the last detection")
    parser.add_argument("--backend-python", default=None, help="the backend venv's interpreter (default: auto)")
    parser.add_argument("--root-motion", default="BONE", choices=["BONE", "ROOT", "OBJECT", "IN_PLACE"],
                        help="ROOT: horizontal travel on the rig's root bone, the rest on the hips")
    parser.add_argument("--rig", default=None, help="a .blend with the armature to retarget onto (opened first; "
                        "the result is saved to --out, the rig file itself is never written)")
    parser.add_argument("--armature", default=None, help="the target armature's object name (default: the only "
                        "armature with a recognised mapping in --rig or the open file)")
    parser.add_argument("--preset", default="auto", help="rig preset name or 'auto' (detected from bone names)")
    parser.add_argument("--mapping", default=None,
                        help="a mapping JSON file (saved from the panel) instead of a preset")
    parser.add_argument("--accept-partial", action="store_true", help="retarget even when mapped bones are missing")
    parser.add_argument("--scale", default="LEG", choices=["LEG", "METRES"],
                        help="root travel scaled by the leg-length ratio (LEG) or kept in metres")
    parser.add_argument("--no-ground", action="store_true", help="the same as --ground off")
    parser.add_argument("--match-scene-fps", action="store_true", help="set the scene fps to the video's")
    parser.add_argument("--whole-frames", action="store_true",
                        help="bake one key per whole scene frame when the rates differ")
    parser.add_argument("--save-motion", default=None,
                        help="also keep the backend's motion file (.npz) here, for --motion later")
    parser.add_argument("--keep-frame-range", action="store_true", help="leave the scene's start/end frames")
    parser.add_argument("--empty", action="store_true", help="start from an empty scene")
    parser.add_argument("--out", default=None, help="the .blend to write (one clip)")
    parser.add_argument("--out-dir", default=None, help="with --input: one .blend (and --formats) per clip here")
    parser.add_argument("--formats", default="blend", help="with --input: blend plus any of fbx, bvh, glb")
    parser.add_argument("--fbx", default=None, help="also export FBX here")
    parser.add_argument("--bvh", default=None, help="also export BVH here")
    parsed = parser.parse_args(args)
    if parsed.no_ground:
        parsed.ground = "off"
    if (parsed.input is None) == (parsed.out is None) or (parsed.input is None) != (parsed.out_dir is None):
        parser.error("give --out with --video/--motion, or --out-dir with --input")
    return parsed


def output_problem(args: argparse.Namespace) -> str | None:
    """Why one of the single-clip outputs (--out, --fbx, --bvh, --save-motion) cannot be written, else None.

    Checked before the backend runs: a typo in a folder name must not cost a whole run, nor leave the
    .blend written and the FBX missing (the batch writes all of its outputs or none)."""
    for flag in ("out", "fbx", "bvh", "save_motion"):
        value = getattr(args, flag)
        if not value:
            continue
        path = Path(value).resolve()
        option = "--" + flag.replace("_", "-")
        if path.is_dir():
            return f"cannot write {path}: it is a folder; give {option} a file name"
        if not path.parent.is_dir():
            return f"cannot write {path}: folder {path.parent} does not exist; create it or choose another {option}"
        if not os.access(path.parent, os.W_OK):
            return f"cannot write {path}: folder {path.parent} is not writable; choose another {option}"
    return None


def submodule(package: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f".{name}", package.__name__)


def load_motion_for(args: argparse.Namespace, package: ModuleType, interrupts: Interrupts | None = None) -> object:
    """The motion to import: from --motion, or from a backend run on --video. Raises SystemExit on failure."""
    motion_data = submodule(package, "core.motion_data")
    if args.motion:
        try:
            return motion_data.load_motion(args.motion)
        except motion_data.MotionFileError as exc:
            _fail(str(exc))
    locations, run_options, import_job = (
        submodule(package, name)
        for name in ("blender.locations", "backend_client.run_options", "backend_client.import_job"))
    options = run_options.RunOptions(video=str(Path(args.video).resolve()), out="", **run_options.values_from(args))
    python = locations.backend_python(args.backend_python)
    if python is None or not python.is_file():
        where = f" at {python}" if python is not None else ""
        _fail(f"backend Python not found{where}: pass --backend-python /path/to/venv/bin/python or set "
              "VIDEO_MOCAP_BACKEND_PYTHON (`python3 install_deps.py` makes the venv .venv in the checkout)")
    job = import_job.VideoImportJob(python, locations.backend_source(), options, locations.runs_dir())
    if args.save_motion:
        job.save_motion_to = Path(args.save_motion).resolve()
    job.start()
    reported: list[tuple[str, int]] = []

    def report_progress(progress: import_job.Progress) -> None:
        if interrupts is not None and interrupts.received is not None and job.state is import_job.RunState.RUNNING:
            job.cancel()  # SIGTERM to the backend; killed after the grace period; the run folder goes
        step = (progress.stage, progress.done)
        if progress.stage and (not reported or reported[-1] != step):
            reported.append(step)
            print(f"[{progress.stage}] {progress.done}/{progress.total}", file=sys.stderr)

    job.wait(on_progress=report_progress)
    if interrupts is not None:
        interrupts.check()
    for warning in job.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if job.state is not import_job.RunState.READY:
        _fail(job.message)
    return job.motion


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_FAILED)


def export(args: argparse.Namespace, armature: bpy.types.Object, motion: object, package: ModuleType) -> None:
    """FBX and BVH with every captured pose (exports.export_timeline), BVH Y-up."""
    if not (args.fbx or args.bvh):
        return
    exports = submodule(package, "blender.exports")
    context = bpy.context
    with exports.export_timeline(context.scene, armature, motion.times, motion.fps) as (rate, first, last):
        if args.fbx:
            exports.export_fbx(context, armature, Path(args.fbx).resolve())
        if args.bvh:
            exports.export_bvh(context, armature, Path(args.bvh).resolve(), first, last)
    print(f"exported {last - first + 1} frames at {rate:g} fps", file=sys.stderr)


def pick_armature(args: argparse.Namespace, package: ModuleType) -> str:
    """The target armature's name ('' for a new SMPL armature): --armature, else the only armature of
    --rig (or of the open file when --preset/--mapping ask for a retarget)."""
    if args.armature:
        obj = bpy.data.objects.get(args.armature)
        if obj is None or obj.type != "ARMATURE":
            _fail(f"no armature object '{args.armature}' in {args.rig or 'the open file'}")
        return args.armature
    if not (args.rig or args.mapping or args.preset != "auto"):
        return ""
    armatures = [obj for obj in bpy.data.objects if obj.type == "ARMATURE"]
    if len(armatures) == 1:
        return armatures[0].name
    presets = submodule(package, "core.rig_presets")
    found = {obj.name: presets.find_preset(list(obj.data.bones.keys())) for obj in armatures}
    recognised = [name for name, preset in found.items() if preset is not None]
    # A Rigify file holds the metarig (the template) and the rig generated from it: animate the rig.
    animatable = [name for name in recognised if found[name].name != "rigify_metarig"]
    if len(recognised) == 1 or len(animatable) == 1:
        chosen = recognised[0] if len(recognised) == 1 else animatable[0]
        if len(armatures) > 1:
            print(f"note: target armature '{chosen}' ({found[chosen].title}); choose another with --armature",
                  file=sys.stderr)
        return chosen
    names = ", ".join(obj.name for obj in armatures) or "none"
    _fail(f"choose the target with --armature NAME ({len(armatures)} armatures in "
          f"{args.rig or 'the open file'}: {names})")
    return ""


def target_options(args: argparse.Namespace, package: ModuleType) -> dict[str, object]:
    """The retarget target as `ImportOptions` fields, from --rig (opened here), --armature, --preset,
    --mapping, --accept-partial and --scale; exits with the reason when the mapping file is bad."""
    if args.rig:
        if not Path(args.rig).is_file():
            _fail(f"rig file not found: {args.rig}")
        bpy.ops.wm.open_mainfile(filepath=str(Path(args.rig).resolve()))
    elif args.empty:
        bpy.ops.wm.read_homefile(use_empty=True)
    if bpy.context.object is not None and bpy.context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    target = pick_armature(args, package)
    presets = submodule(package, "core.rig_presets")
    mapping = None
    if args.mapping:
        try:
            mapping = presets.load_mapping_file(args.mapping)
        except presets.MappingError as exc:
            _fail(str(exc))
    return {"target": "EXISTING" if target else "NEW", "target_object": target, "bone_preset": args.preset,
            "mapping": mapping, "accept_partial": args.accept_partial, "scale": args.scale}


def check_target_or_exit(package: ModuleType, options: object) -> None:
    """Refuse a bad target before the backend runs (milliseconds): missing bones, bad preset."""
    scene_import = submodule(package, "blender.scene_import")
    presets = submodule(package, "core.rig_presets")
    try:
        scene_import.check_target(options)
    except (scene_import.ImportProblem, presets.MappingError) as exc:
        _fail(str(exc))


def main(argv: list[str] | None = None) -> int:
    with Interrupts() as interrupts:
        return _main(argv, interrupts)


def _main(argv: list[str] | None, interrupts: Interrupts) -> int:
    package = addon_package()
    args = parse_args(script_args(argv), submodule(package, "backend_client.run_options"))
    scene_import = submodule(package, "blender.scene_import")
    if args.input:  # a folder or manifest: the backend's batch, then one import per clip
        batch_many = importlib.import_module(".batch_many", package.__name__)
        args.formats, args.ground_mode = batch_many.formats(args.formats), args.ground
        args.target_options = {}
        if args.rig:  # every clip starts from the rig file; its target is checked before the backend runs
            args.target_options = target_options(args, package)
            check_target_or_exit(package, scene_import.ImportOptions(**args.target_options,
                                                                     root_motion=args.root_motion))
        elif args.armature or args.mapping or args.preset != "auto":
            _fail("--armature/--preset/--mapping with --input need --rig FILE.blend (each clip starts from it)")
        return batch_many.run(args, package, lambda: interrupts.received is not None, export)
    problem = output_problem(args)
    if problem:
        _fail(problem)
    options = scene_import.ImportOptions(
        **target_options(args, package), root_motion=args.root_motion,
        ground=args.ground.upper(), start_at_detection=not args.keep_undetected_ends,
        match_scene_fps=args.match_scene_fps, whole_frames=args.whole_frames,
        keep_frame_range=args.keep_frame_range)
    check_target_or_exit(package, options)
    motion = load_motion_for(args, package, interrupts)
    interrupts.check()
    options = replace(options, name=scene_import.clip_name(args.video or args.motion, motion))
    try:
        result = scene_import.import_motion(bpy.context, motion, options)
    except scene_import.ImportProblem as exc:
        _fail(str(exc))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    interrupts.check()
    bpy.ops.wm.save_as_mainfile(filepath=str(Path(args.out).resolve()))
    export(args, result.armature, motion, package)
    first, last = result.frame_range
    print(f"imported {motion.frame_count} frames onto '{result.armature.name}' (frames {first}-{last}); "
          f"saved {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    exit_status = main()
    if not bpy.app.binary_path:
        # The bpy 4.2 wheel can crash (SIGSEGV) in its interpreter teardown after a batch of imports and
        # glTF exports; every file is written and closed by now, so leave without that teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_status)
    sys.exit(exit_status)
