"""Headless import, for render farms and scripts.

    blender -b -P addon/batch.py -- --video V --model M [--window T] --out OUT.blend [--fbx F.fbx] [--bvh F.bvh]
    blender -b -P addon/batch.py -- --motion FILE.npz --out OUT.blend ...
    python addon/batch.py ...            (where the bpy wheel is installed)

Runs the backend with the same job code as the panel, imports into the open file (or an empty
one with --empty), saves, and exports with Blender's own FBX/BVH exporters. On failure it prints
the backend's message and exits non-zero, without saving anything.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType

import bpy

EXIT_FAILED = 1


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
    run_options.add_arguments(parser)
    parser.add_argument("--backend-python", default=None, help="the backend venv's interpreter (default: auto)")
    parser.add_argument("--root-motion", default="BONE", choices=["BONE", "OBJECT", "IN_PLACE"])
    parser.add_argument("--no-ground", action="store_true", help="the same as --ground off")
    parser.add_argument("--match-scene-fps", action="store_true", help="set the scene fps to the video's")
    parser.add_argument("--empty", action="store_true", help="start from an empty scene")
    parser.add_argument("--out", required=True, help="the .blend to write")
    parser.add_argument("--fbx", default=None, help="also export FBX here")
    parser.add_argument("--bvh", default=None, help="also export BVH here")
    parsed = parser.parse_args(args)
    if parsed.no_ground:
        parsed.ground = "off"
    return parsed


def submodule(package: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f".{name}", package.__name__)


def load_motion_for(args: argparse.Namespace, package: ModuleType) -> object:
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
    job = import_job.VideoImportJob(locations.backend_python(args.backend_python), locations.backend_source(),
                                    options, locations.runs_dir())
    job.start()
    reported: list[tuple[str, int]] = []

    def report_progress(progress: import_job.Progress) -> None:
        step = (progress.stage, progress.done)
        if progress.stage and (not reported or reported[-1] != step):
            reported.append(step)
            print(f"[{progress.stage}] {progress.done}/{progress.total}", file=sys.stderr)

    job.wait(on_progress=report_progress)
    for warning in job.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if job.state is not import_job.RunState.READY:
        _fail(job.message)
    return job.motion


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_FAILED)


def export(args: argparse.Namespace, armature: bpy.types.Object) -> None:
    import addon_utils

    view_layer = bpy.context.view_layer
    for obj in bpy.context.selected_objects:
        obj.select_set(False)
    armature.select_set(True)
    view_layer.objects.active = armature
    scene = bpy.context.scene
    if args.fbx:
        addon_utils.enable("io_scene_fbx", default_set=False)
        bpy.ops.export_scene.fbx(filepath=str(Path(args.fbx).resolve()), use_selection=True,
                                 object_types={"ARMATURE"}, add_leaf_bones=False, bake_anim=True,
                                 bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
                                 bake_anim_simplify_factor=0.0)
    if args.bvh:
        addon_utils.enable("io_anim_bvh", default_set=False)
        bpy.ops.export_anim.bvh(filepath=str(Path(args.bvh).resolve()), frame_start=scene.frame_start,
                                frame_end=scene.frame_end)


def main(argv: list[str] | None = None) -> int:
    package = addon_package()
    args = parse_args(script_args(argv), submodule(package, "backend_client.run_options"))
    scene_import = submodule(package, "blender.scene_import")
    motion = load_motion_for(args, package)
    if args.empty:
        bpy.ops.wm.read_homefile(use_empty=True)
    if bpy.context.object is not None and bpy.context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    options = scene_import.ImportOptions(root_motion=args.root_motion, ground=args.ground.upper(),
                                         match_scene_fps=args.match_scene_fps,
                                         name=scene_import.clip_name(args.video or args.motion, motion))
    try:
        result = scene_import.import_motion(bpy.context, motion, options)
    except scene_import.ImportProblem as exc:
        _fail(str(exc))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    bpy.ops.wm.save_as_mainfile(filepath=str(Path(args.out).resolve()))
    export(args, result.armature)
    first, last = result.frame_range
    print(f"imported {motion.frame_count} frames onto '{result.armature.name}' (frames {first}-{last}); "
          f"saved {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
