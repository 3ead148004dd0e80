"""Render the ground-truth clips of the accuracy harness with Cycles (the bpy wheel) and write their truth.

Usage: .venv/bin/python bench/make_truth_clips.py [--clips NAME ...] [--out bench/truth] [--samples 6] [--bounces 1]
       [--frames N] [--still FRAME]   (--still renders one PNG per clip, for checking the figure)

For each clip of `truth_motions.CLIPS` it writes `OUT/<clip>/video.mp4` and `OUT/<clip>/truth.npz`.
The person is procedural (no third-party asset): one mesh per body segment (shirt, trousers,
skin, shoes, hair, a face with eyes, nose, mouth and ears), each rigidly carried by its joint's
global transform from `truth_motions.forward_kinematics`, with spheres at the joints so the body
stays closed when it bends. The truth joints are therefore exact by construction; the script
checks its own projection against Blender's (`world_to_camera_view`) on every frame.
Deterministic: fixed Cycles seed, CPU, fixed samples; the mp4 is written by OpenCV (mp4v).

truth.npz (numpy, allow_pickle=False), N frames, 24 joints in SMPL order (`joint_names`):
  joints_cam [N,24,3] float64   camera frame (x right, y down, z forward), metres
  joints_world [N,24,3]         Blender world (Z up), metres
  joints_2d [N,24,2]            pixels (origin top-left)
  soles_cam [N,2,2,3]           heel and toe sole points of the left and right foot, camera frame
  intrinsics [3,3]; extrinsics [3,4] = [R | t], x_cam = R x_world + t; image_size [2] (w, h); fps
  floor_cam [4]                 floor plane in the camera frame: n . x + d = 0, n unit, pointing up
  joint_names [24] str; eval14 [14] int (SMPL indices of the 14 evaluation joints); parents [24] int
  stature_m                     the person's height, floor to the top of the hair (rest pose, metres)
  clip, description, motion: str
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # bpy is imported late, after its environment variables are set
    import bmesh
    import bpy
    from mathutils import Matrix

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import truth_motions as tm  # noqa: E402

SKIN = (0.80, 0.57, 0.45)
HAIR = (0.09, 0.06, 0.04)
SHOES = (0.05, 0.05, 0.05)


def _setup_env() -> None:
    cache = Path(tempfile.gettempdir()) / "video_mocap_truth_blender"
    os.environ.setdefault("BLENDER_USER_RESOURCES", str(cache / "user"))
    os.environ.setdefault("XDG_CACHE_HOME", str(cache / "cache"))


def _material(name: str, colour: tuple[float, float, float], roughness: float = 0.7) -> bpy.types.Material:
    import bpy

    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*colour, 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    return mat


class BodyBuilder:
    """Collects meshes per (joint, material) and turns each into one object parented to nothing."""

    def __init__(self) -> None:
        import bmesh

        self.bmesh = bmesh
        self.parts: dict[tuple[int, str], bmesh.types.BMesh] = {}
        self.materials: dict[str, bpy.types.Material] = {}

    def _bm(self, joint: int, material: str) -> bmesh.types.BMesh:
        key = (joint, material)
        if key not in self.parts:
            self.parts[key] = self.bmesh.new()
        return self.parts[key]

    def ellipsoid(self, joint: int, material: str, centre: Sequence[float], radii: Sequence[float],
                  rotation: Matrix | None = None) -> None:
        """An ellipsoid at world `centre` (rest pose) with semi-axes `radii`, optionally rotated (3x3)."""
        from mathutils import Matrix, Vector

        bm = self._bm(joint, material)
        rest = Vector(tm.REST_JOINTS[joint])
        rot = Matrix.Identity(4) if rotation is None else rotation.to_4x4()
        mat = Matrix.Translation(Vector(centre) - rest) @ rot @ Matrix.Diagonal((*radii, 1.0))
        self.bmesh.ops.create_uvsphere(bm, u_segments=20, v_segments=12, radius=1.0, matrix=mat)

    def capsule(self, joint: int, material: str, a: Sequence[float], b: Sequence[float], ra: float, rb: float,
                flat: float = 1.0) -> None:
        """A tapered limb from world point a to b (rest pose) with radii ra, rb; `flat` squashes along Y."""
        from mathutils import Matrix, Vector

        a, b = Vector(a), Vector(b)
        axis = b - a
        rest = Vector(tm.REST_JOINTS[joint])
        rot = Vector((0, 0, 1)).rotation_difference(axis.normalized()).to_matrix().to_4x4()
        mat = (Matrix.Translation((a + b) / 2 - rest) @ Matrix.Diagonal((1.0, flat, 1.0, 1.0)) @ rot)
        bm = self._bm(joint, material)
        self.bmesh.ops.create_cone(bm, cap_ends=True, segments=20, radius1=ra, radius2=rb, depth=axis.length,
                                   matrix=mat)
        # rounded ends
        for point, radius in ((a, ra), (b, rb)):
            end = Matrix.Translation(point - rest) @ Matrix.Diagonal((radius, radius * flat, radius, 1.0))
            self.bmesh.ops.create_uvsphere(bm, u_segments=16, v_segments=10, radius=1.0, matrix=end)

    def build(self, colours: dict[str, tuple[float, float, float]]) -> list[tuple[int, bpy.types.Object]]:
        import bpy

        objects = []
        for (joint, material), bm in self.parts.items():
            if material not in self.materials:
                self.materials[material] = _material(material, colours[material],
                                                     0.45 if material in ("eye_white", "pupil") else 0.75)
            mesh = bpy.data.meshes.new(f"{tm.JOINT_NAMES[joint]}_{material}")
            bm.to_mesh(mesh)
            bm.free()
            for poly in mesh.polygons:
                poly.use_smooth = True
            mesh.materials.append(self.materials[material])
            obj = bpy.data.objects.new(mesh.name, mesh)
            bpy.context.scene.collection.objects.link(obj)
            obj.rotation_mode = "QUATERNION"
            objects.append((joint, obj))
        return objects


def build_person(shirt: tuple[float, float, float],
                 trousers: tuple[float, float, float]) -> list[tuple[int, bpy.types.Object]]:
    """The procedural person in the rest pose; returns (joint index, object) pairs."""
    r = tm.REST_JOINTS
    b = BodyBuilder()
    from mathutils import Euler

    # torso: pelvis (trousers), belly and chest (shirt), shoulders
    b.ellipsoid(0, "trousers", (0, 0.0, 0.93), (0.165, 0.11, 0.11))
    b.ellipsoid(3, "shirt", (0, 0.0, 1.08), (0.15, 0.10, 0.12))
    b.ellipsoid(6, "shirt", (0, 0.0, 1.20), (0.16, 0.105, 0.13))
    b.ellipsoid(9, "shirt", (0, 0.0, 1.34), (0.175, 0.11, 0.13))
    for side in (13, 14):
        b.capsule(side, "shirt", (0, 0, 1.42), r[side + 3], 0.07, 0.06, flat=0.9)
    # neck and head
    b.capsule(12, "skin", r[12] - (0, 0, 0.04), r[15] - (0, 0, 0.02), 0.05, 0.045)
    head = np.array(r[15]) + (0, 0.0, 0.04)
    b.ellipsoid(15, "skin", head, (0.082, 0.10, 0.115))
    b.ellipsoid(15, "skin", head + (0, -0.035, -0.075), (0.06, 0.06, 0.05))  # jaw and chin
    b.ellipsoid(15, "hair", head + (0, 0.012, 0.028), (0.087, 0.10, 0.10))
    for sx in (1, -1):
        eye = head + (sx * 0.032, -0.086, 0.012)
        b.ellipsoid(15, "eye_white", eye, (0.014, 0.008, 0.009))
        b.ellipsoid(15, "pupil", eye + (0, -0.006, 0), (0.006, 0.004, 0.006))
        b.ellipsoid(15, "hair", eye + (0, -0.004, 0.022), (0.018, 0.006, 0.004))  # eyebrow
        b.ellipsoid(15, "skin", head + (sx * 0.083, 0.0, -0.005), (0.012, 0.022, 0.03))  # ear
    b.ellipsoid(15, "skin", head + (0, -0.098, -0.02), (0.013, 0.022, 0.028), Euler((0.35, 0, 0)).to_matrix())
    b.ellipsoid(15, "lips", head + (0, -0.088, -0.062), (0.022, 0.008, 0.007))
    for hip, knee, ankle, foot, shoulder, elbow, wrist, hand in ((1, 4, 7, 10, 16, 18, 20, 22),
                                                                  (2, 5, 8, 11, 17, 19, 21, 23)):
        b.capsule(hip, "trousers", r[hip], r[knee], 0.075, 0.055)
        b.capsule(knee, "trousers", r[knee], r[ankle] + (0, 0, 0.03), 0.053, 0.042)
        b.capsule(ankle, "shoes", r[ankle] + (0, 0.03, -0.03), r[foot] + (0, -0.03, -0.003), 0.045, 0.035,
                  flat=1.0)
        b.capsule(shoulder, "shirt", r[shoulder], r[elbow], 0.048, 0.04)
        b.capsule(elbow, "skin", r[elbow], r[wrist], 0.038, 0.03)
        b.ellipsoid(wrist, "skin", (np.array(r[wrist]) + r[hand]) / 2 - (0, 0, 0.02), (0.022, 0.045, 0.065))
    colours = {"shirt": shirt, "trousers": trousers, "skin": SKIN, "hair": HAIR, "shoes": SHOES,
               "eye_white": (0.9, 0.9, 0.88), "pupil": (0.05, 0.04, 0.03), "lips": (0.55, 0.25, 0.25)}
    return b.build(colours)


def build_scene(spec: tm.ClipSpec, samples: int,
                bounces: int = 1) -> tuple[bpy.types.Scene, list[tuple[int, bpy.types.Object]]]:
    import bpy
    from mathutils import Matrix

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.seed = 0
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = bounces
    scene.cycles.caustics_reflective = scene.cycles.caustics_refractive = False
    scene.cycles.use_adaptive_sampling = False
    scene.render.use_persistent_data = True
    scene.render.threads_mode = "FIXED"
    scene.render.threads = 2
    scene.render.resolution_x, scene.render.resolution_y = spec.camera.width, spec.camera.height
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.fps = int(tm.FPS)
    scene.view_settings.view_transform = "Standard"

    world = bpy.data.worlds.new("world")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.55, 0.6, 0.65, 1.0)
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.8
    scene.world = world

    floor_mesh = bpy.data.meshes.new("floor")
    size = 40.0
    floor_mesh.from_pydata([(-size, -size, 0), (size, -size, 0), (size, size, 0), (-size, size, 0)], [],
                           [(0, 1, 2, 3)])
    floor_mat = bpy.data.materials.new("floor")
    floor_mat.use_nodes = True
    nodes = floor_mat.node_tree.nodes
    checker = nodes.new("ShaderNodeTexChecker")
    checker.inputs["Scale"].default_value = 40.0
    checker.inputs["Color1"].default_value = (0.42, 0.40, 0.36, 1)
    checker.inputs["Color2"].default_value = (0.36, 0.34, 0.31, 1)
    coords = nodes.new("ShaderNodeTexCoord")
    floor_mat.node_tree.links.new(coords.outputs["Generated"], checker.inputs["Vector"])
    floor_mat.node_tree.links.new(checker.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    floor_mesh.materials.append(floor_mat)
    scene.collection.objects.link(bpy.data.objects.new("floor", floor_mesh))

    sun = bpy.data.lights.new("sun", "SUN")
    sun.energy = 3.0
    sun.angle = np.radians(10.0)
    sun_obj = bpy.data.objects.new("sun", sun)
    sun_obj.rotation_euler = (np.radians(40), np.radians(15), np.radians(30))
    scene.collection.objects.link(sun_obj)

    cam = spec.camera
    cam_data = bpy.data.cameras.new("camera")
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = 36.0
    cam_data.lens = cam.focal_px * 36.0 / cam.width
    cam_data.clip_start, cam_data.clip_end = 0.05, 200.0
    cam_obj = bpy.data.objects.new("camera", cam_data)
    # Blender's camera looks down its -Z with +Y up: its axes are (x, -y, -z) of the OpenCV frame.
    axes = cam.rotation.T @ np.diag([1.0, -1.0, -1.0])
    world_from_cam = Matrix.Identity(4)
    for i in range(3):
        for k in range(3):
            world_from_cam[i][k] = float(axes[i, k])
        world_from_cam[i][3] = float(cam.position[i])
    cam_obj.matrix_world = world_from_cam
    scene.collection.objects.link(cam_obj)
    scene.camera = cam_obj
    return scene, build_person(spec.shirt, spec.trousers)


def pose_person(parts: list[tuple[int, bpy.types.Object]], joints: np.ndarray, glob: np.ndarray) -> None:
    """Place every part by its joint's global transform for one frame (joints [24,3], glob [24,3,3])."""
    from mathutils import Matrix

    for joint, obj in parts:
        mat = Matrix.Identity(4)
        for i in range(3):
            for k in range(3):
                mat[i][k] = float(glob[joint, i, k])
            mat[i][3] = float(joints[joint, i])
        obj.matrix_world = mat


def check_projection(scene: bpy.types.Scene, joints_world: np.ndarray, pixels: np.ndarray) -> float:
    """Largest distance (px) between our projection and Blender's camera for one frame's joints."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    w, h = scene.render.resolution_x, scene.render.resolution_y
    worst = 0.0
    for point, pixel in zip(joints_world, pixels):
        ndc = world_to_camera_view(scene, scene.camera, Vector(point))
        blender_px = np.array([ndc.x * w, (1.0 - ndc.y) * h])
        worst = max(worst, float(np.linalg.norm(blender_px - pixel)))
    return worst


def stature(parts: list[tuple[int, bpy.types.Object]]) -> float:
    """Floor-to-crown height (m) of the built person in its rest pose (the meshes' highest vertex)."""
    top = 0.0
    for joint, obj in parts:
        for vertex in obj.data.vertices:
            top = max(top, vertex.co.z + float(tm.REST_JOINTS[joint][2]))
    return top


def truth_arrays(spec: tm.ClipSpec, frames: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    motion = tm.MOTIONS[spec.motion](frames)
    _, joints, glob = tm.settle(motion)
    cam = spec.camera
    soles = tm.sole_points(joints, glob)
    rotation, t = cam.rotation, -cam.rotation @ cam.position
    arrays = {
        "joints_cam": cam.to_camera(joints), "joints_world": joints, "joints_2d": cam.project(joints),
        "soles_cam": cam.to_camera(soles), "intrinsics": cam.intrinsics,
        "extrinsics": np.concatenate([rotation, t[:, None]], axis=1),
        "image_size": np.array([cam.width, cam.height], np.int32), "fps": np.float64(tm.FPS),
        "floor_cam": cam.floor_plane(), "joint_names": np.array(tm.JOINT_NAMES),
        "eval14": np.array(tm.EVAL14, np.int32), "parents": np.array(tm.PARENTS, np.int32),
        "clip": np.array(spec.name), "description": np.array(spec.description), "motion": np.array(spec.motion),
    }
    return arrays, joints, glob


def render_clip(spec: tm.ClipSpec, out_dir: Path, samples: int, frames: int, still: int | None,
                bounces: int = 1) -> None:
    import bpy
    import cv2

    arrays, joints, glob = truth_arrays(spec, frames)
    scene, parts = build_scene(spec, samples, bounces)
    arrays["stature_m"] = np.float64(stature(parts))
    clip_dir = out_dir / spec.name
    clip_dir.mkdir(parents=True, exist_ok=True)
    wanted = [still] if still is not None else list(range(frames))
    with tempfile.TemporaryDirectory() as tmp:
        worst = 0.0
        for frame in wanted:
            pose_person(parts, joints[frame], glob[frame])
            worst = max(worst, check_projection(scene, joints[frame], arrays["joints_2d"][frame]))
            scene.render.filepath = str(Path(tmp) / f"{frame:04d}.png")
            bpy.ops.render.render(write_still=True)
            print(f"{spec.name}: frame {frame + 1}/{frames}", flush=True)
        if worst > 0.05:
            raise RuntimeError(f"{spec.name}: our projection differs from Blender's by {worst:.3f} px")
        if still is not None:
            shutil.copy(Path(tmp) / f"{still:04d}.png", clip_dir / f"still_{still:04d}.png")
            return
        first = cv2.imread(str(Path(tmp) / "0000.png"))
        h, w = first.shape[:2]
        video_tmp = clip_dir / "video.tmp.mp4"
        writer = cv2.VideoWriter(str(video_tmp), cv2.VideoWriter_fourcc(*"mp4v"), tm.FPS, (w, h))
        for frame in range(frames):
            writer.write(cv2.imread(str(Path(tmp) / f"{frame:04d}.png")))
        writer.release()
        os.replace(video_tmp, clip_dir / "video.mp4")
    np.savez_compressed(clip_dir / "truth.npz", **arrays)
    print(f"{spec.name}: wrote {clip_dir / 'video.mp4'} and truth.npz (projection check {worst:.4f} px)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", default=[c.name for c in tm.CLIPS])
    parser.add_argument("--out", type=Path, default=HERE / "truth")
    parser.add_argument("--samples", type=int, default=6, help="Cycles samples per pixel (no denoiser)")
    parser.add_argument("--bounces", type=int, default=1, help="Cycles light bounces")
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--still", type=int, default=None, help="render only this frame as a PNG per clip")
    parser.add_argument("--truth-only", action="store_true", help="write truth.npz without rendering")
    args = parser.parse_args()
    _setup_env()
    for name in args.clips:
        spec = tm.clip_spec(name)
        if args.truth_only:
            arrays, _, _ = truth_arrays(spec, args.frames)
            _, parts = build_scene(spec, args.samples, args.bounces)
            arrays["stature_m"] = np.float64(stature(parts))
            (args.out / name).mkdir(parents=True, exist_ok=True)
            np.savez_compressed(args.out / name / "truth.npz", **arrays)
            continue
        render_clip(spec, args.out, args.samples, args.frames, args.still, args.bounces)


if __name__ == "__main__":
    main()
