"""Camera models: the stated full-image pinhole camera, and conversion from the seed models' crop camera.

Stated camera model (used by every model and by `preview`): pinhole, square pixels, principal
point at the image centre, focal length `max(width, height)` pixels (about 53 degrees across the
long side, a typical phone or camcorder field of view) unless the user passes `--focal-length`.
Positions are in the camera frame: x right, y down, z forward, metres.
"""

from __future__ import annotations

import numpy as np


def default_focal_length(width: int, height: int) -> float:
    return float(max(width, height))


def project(points: np.ndarray, focal_length: float, image_size: tuple[int, int]) -> np.ndarray:
    """[..., 3] camera-frame points -> [..., 2] pixel coordinates."""
    width, height = image_size
    z = np.maximum(points[..., 2:3], 1e-6)
    return points[..., :2] / z * focal_length + np.array([width / 2.0, height / 2.0])


def weak_perspective_to_translation(cam: np.ndarray, bboxes: np.ndarray, crop_scale: float,
                                    focal_length: float, image_size: tuple[int, int]) -> np.ndarray:
    """Seed models' crop camera (s, tx, ty) -> SMPL `transl` in metres for the full-image pinhole.

    In the crop, a model point X projects to u = cx + (s*c/2)(X + tx) with c the crop side in
    pixels (box side times the scale actually used to crop). A pinhole at depth Tz gives the same
    image scale when f / Tz = s*c/2, so Tz = 2f/(s*c), and the offsets follow from the box centre.
    """
    width, height = image_size
    s = np.maximum(cam[:, 0], 1e-6)
    side = np.maximum(bboxes[:, 2], bboxes[:, 3]) * crop_scale
    tz = 2.0 * focal_length / (s * side)
    tx = cam[:, 1] + (bboxes[:, 0] - width / 2.0) * 2.0 / (s * side)
    ty = cam[:, 2] + (bboxes[:, 1] - height / 2.0) * 2.0 / (s * side)
    return np.stack([tx, ty, tz], axis=-1)


def solve_translation(points: np.ndarray, pixels: np.ndarray, weights: np.ndarray,
                      focal_length: float, image_size: tuple[int, int]) -> np.ndarray:
    """Per frame, the translation t that best projects `points + t` onto `pixels` (linear least squares).

    points [N, K, 3] camera-frame offsets, pixels [N, K, 2], weights [N, K]. For each point,
    f (X + tx) = (u - cx)(Z + tz) and likewise for y, which is linear in t.
    """
    width, height = image_size
    centred = pixels - np.array([width / 2.0, height / 2.0])
    n, k = points.shape[:2]
    a = np.zeros((n, k, 2, 3))
    b = np.zeros((n, k, 2))
    a[..., 0, 0] = focal_length
    a[..., 0, 2] = -centred[..., 0]
    a[..., 1, 1] = focal_length
    a[..., 1, 2] = -centred[..., 1]
    b[..., 0] = centred[..., 0] * points[..., 2] - focal_length * points[..., 0]
    b[..., 1] = centred[..., 1] * points[..., 2] - focal_length * points[..., 1]
    w = np.sqrt(np.clip(weights, 0.0, None))[..., None]
    a = (a * w[..., None]).reshape(n, 2 * k, 3)
    b = (b * w).reshape(n, 2 * k)
    ata = np.einsum("nki,nkj->nij", a, a) + 1e-9 * np.eye(3)
    atb = np.einsum("nki,nk->ni", a, b)
    return np.linalg.solve(ata, atb[..., None])[..., 0]


def translation_to_weak_perspective(transl: np.ndarray, bboxes: np.ndarray, focal_length: float,
                                    image_size: tuple[int, int]) -> np.ndarray:
    """Full-image pinhole translation -> the equivalent crop camera (s, tx, ty) for a crop = the bbox.

    Exact inverse of `weak_perspective_to_translation` at crop scale 1.
    """
    width, height = image_size
    side = np.maximum(np.maximum(bboxes[:, 2], bboxes[:, 3]), 1.0)
    depth = np.maximum(transl[:, 2], 1e-3)
    s = 2.0 * focal_length / (depth * side)
    tx = transl[:, 0] - (bboxes[:, 0] - width / 2.0) * 2.0 / (s * side)
    ty = transl[:, 1] - (bboxes[:, 1] - height / 2.0) * 2.0 / (s * side)
    return np.stack([s, tx, ty], axis=-1)


def view_ray_rotation(pixels: np.ndarray, focal_length: float, image_size: tuple[int, int]) -> np.ndarray:
    """[N, 2] pixel centres -> [N, 3, 3] rotations taking the optical axis onto each pixel's viewing ray.

    A pose estimated from a crop is oriented as the crop "sees" it: straight down the crop's axis.
    Off the image centre the camera looks at the person along a tilted ray, so the crop-aligned
    pose must be turned by this rotation to sit correctly in the full camera frame.
    """
    from .skeleton import rotation_between

    width, height = image_size
    rays = np.concatenate([(pixels - np.array([width / 2.0, height / 2.0])) / focal_length,
                           np.ones((len(pixels), 1))], axis=-1)
    return rotation_between(np.broadcast_to(np.array([0.0, 0.0, 1.0]), rays.shape), rays)
