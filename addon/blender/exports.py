"""FBX and BVH exports with Blender's own exporters, carrying every captured pose.

Blender's exporters sample the scene at whole frames of the scene's rate, so a 120 fps clip keyed
at fractional frames of a 24 fps scene would export 9 poses of 40. `export_timeline` therefore
moves the keys (temporarily) onto the export rate from `motion_schema.export_rate` (the source's nominal
rate or above), where every pose has a whole frame of its own, and puts everything back afterwards.

BVH is Y-up by convention (and by the default of Blender's importer, which turns Y-up into Z-up);
Blender's exporter writes armature space, which is Z-up. `export_bvh` exports a temporary copy of
the armature whose rest pose is turned Z-up -> Y-up, so the file re-imports standing where the
.blend has it; non-root joints get 3 rotation channels (`root_transform_only`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from ..core.motion_schema import export_rate
from ..core.timing import render_fps_for
from .keyframe_writer import action_fcurves

#: Blender (Z up, -Y forward) -> BVH (Y up, +Z forward): (x, y, z) -> (x, z, -y); the inverse of the
#: BVH importer's default axis conversion (forward -Z, up Y).
Z_UP_TO_Y_UP = Matrix.Rotation(-math.pi / 2, 4, "X")


def _retime(fcurves: list[bpy.types.FCurve], first: float, factor: float) -> None:
    """Stretch key times about `first` by `factor` (handles too), then let Blender recompute handles."""
    for fcurve in fcurves:
        points = fcurve.keyframe_points
        for prop in ("co", "handle_left", "handle_right"):
            values = np.empty(2 * len(points), np.float64)
            points.foreach_get(prop, values)
            values[0::2] = first + (values[0::2] - first) * factor
            points.foreach_set(prop, values)
        fcurve.update()


@contextmanager
def export_timeline(scene: bpy.types.Scene, armature: bpy.types.Object, times: np.ndarray,
                    nominal_fps: float) -> Iterator[tuple[float, int, int]]:
    """Within the block, the scene runs at the export rate with a key on a whole frame per pose.

    `times` [N] seconds of the rows that were keyed from `scene.frame_start`. Yields
    (export fps, first frame, last frame); restores the scene's rate, range, frame and the keys.
    """
    rate = export_rate(times, nominal_fps)
    saved = (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end, scene.frame_current)
    scene_fps = scene.render.fps / scene.render.fps_base
    first = scene.frame_start
    action = armature.animation_data.action if armature.animation_data else None
    fcurves = action_fcurves(action) if action is not None else []
    factor = rate / scene_fps
    _retime(fcurves, first, factor)
    try:
        scene.render.fps, scene.render.fps_base = render_fps_for(rate)
        last = first + round(float(times[-1] - times[0]) * rate)
        scene.frame_start, scene.frame_end = first, max(first, last)
        yield rate, first, max(first, last)
    finally:
        _retime(fcurves, first, 1.0 / factor)
        scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end = saved[:4]
        scene.frame_set(saved[4])


def _select_only(context: bpy.types.Context, obj: bpy.types.Object) -> None:
    for other in context.selected_objects:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj


def export_fbx(context: bpy.types.Context, armature: bpy.types.Object, path: Path) -> None:
    """The armature and its action as FBX: one key per export frame (no simplification)."""
    import addon_utils

    addon_utils.enable("io_scene_fbx", default_set=False)
    _select_only(context, armature)
    # bake_anim_use_all_actions stays at its default (True): with it off (and NLA strips off) the exporter
    # writes the scene's stack one frame late, so Blender's importer keys frames 2..N+1 (2.8-10 cm off).
    bpy.ops.export_scene.fbx(filepath=str(path), use_selection=True, object_types={"ARMATURE"},
                             add_leaf_bones=False, bake_anim=True, bake_anim_use_nla_strips=False,
                             bake_anim_step=1.0, bake_anim_simplify_factor=0.0)


def export_bvh(context: bpy.types.Context, armature: bpy.types.Object, path: Path, frame_start: int,
               frame_end: int) -> None:
    """A Y-up BVH of the armature's animation (metres), from a temporary Y-up copy of the rig."""
    import addon_utils

    addon_utils.enable("io_anim_bvh", default_set=False)
    copy = armature.copy()
    copy.data = armature.data.copy()
    context.scene.collection.objects.link(copy)
    try:
        # Rotation and placement only: BVH offsets and root positions are in the rig's own units.
        world = armature.matrix_world.normalized()
        copy.data.transform(Z_UP_TO_Y_UP @ world)
        copy.matrix_world = Matrix.Identity(4)
        context.view_layer.update()
        _select_only(context, copy)
        bpy.ops.export_anim.bvh(filepath=str(path), frame_start=frame_start, frame_end=frame_end,
                                root_transform_only=True)
    finally:
        data = copy.data
        bpy.data.objects.remove(copy)
        bpy.data.armatures.remove(data)
    _select_only(context, armature)
