"""Baking keys onto whole scene frames (no bpy).

When the clip's rate and the scene's differ, keys placed by time land on sub-frames (a 30 fps
clip in a 24 fps scene: 32 of 40 keys). Some exporters and users want one key per whole frame;
this resamples the F-curve values there: rotations by slerp (shortest arc, unit quaternions),
translations linearly, between the two source keys around each frame. A whole frame that
coincides with a source key (within 1e-6 frames) takes that key's values unchanged, so every
source pose whose time falls on a frame is kept exactly.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .retarget import BoneChannels

EXACT = 1e-6  # frames: closer than this to a source key counts as on it


def whole_frames(frames: np.ndarray) -> np.ndarray:
    """Every whole frame from the first key to the last, as floats; shape [M]."""
    first = math.ceil(float(frames[0]) - EXACT)
    last = math.floor(float(frames[-1]) + EXACT)
    return np.arange(first, last + 1, dtype=np.float64)


def _brackets(frames: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each target: (index of the source key at or before it, of the one after it, weight of the latter)."""
    frames = np.asarray(frames, dtype=np.float64)
    upper = np.clip(np.searchsorted(frames, targets - EXACT, side="left"), 0, len(frames) - 1)
    on_key = np.abs(frames[upper] - targets) <= EXACT
    lower = np.where(on_key, upper, np.clip(upper - 1, 0, len(frames) - 1))
    span = frames[upper] - frames[lower]
    weight = np.where(on_key | (span <= 0), 0.0, (targets - frames[lower]) / np.where(span > 0, span, 1.0))
    lower = np.where(on_key, upper, lower)
    return lower, upper, np.clip(weight, 0.0, 1.0)


def slerp(q0: np.ndarray, q1: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Shortest-arc spherical interpolation of unit quaternions [..., 4] (w, x, y, z); weight [...]."""
    dot = np.sum(q0 * q1, axis=-1)
    q1 = np.where(dot[..., None] < 0, -q1, q1)
    dot = np.abs(dot)
    w = weight[..., None]
    theta = np.arccos(np.clip(dot, -1.0, 1.0))[..., None]
    sin_theta = np.sin(theta)
    small = sin_theta < 1e-8
    a = np.where(small, 1.0 - w, np.sin((1.0 - w) * theta) / np.where(small, 1.0, sin_theta))
    b = np.where(small, w, np.sin(w * theta) / np.where(small, 1.0, sin_theta))
    out = a * q0 + b * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def resample_channels(channels: BoneChannels, frames: np.ndarray, targets: np.ndarray) -> BoneChannels:
    """`channels` keyed at `frames` [N] (increasing), evaluated at `targets` [M] inside their range."""
    lower, upper, weight = _brackets(frames, targets)
    per_bone = np.repeat(weight[:, None], channels.rotations.shape[1], axis=1)
    rotations = slerp(channels.rotations[lower], channels.rotations[upper], per_bone)
    exact = weight == 0.0
    rotations[exact] = channels.rotations[lower[exact]]  # bit-exact where a source key lands on the frame

    def lerp(values: np.ndarray) -> np.ndarray:
        out = values[lower] * (1.0 - weight[:, None]) + values[upper] * weight[:, None]
        out[exact] = values[lower[exact]]
        return out

    return replace(channels, rotations=rotations, root_location=lerp(channels.root_location),
                   object_location=None if channels.object_location is None else lerp(channels.object_location))
