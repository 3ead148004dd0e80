"""Source frame rate -> scene frames, by time (no bpy).

A source row i shows video frame `frame_ids[i]` at time frame_ids[i] / source_fps. It is keyed
at the scene frame that shows the same time, which is fractional when the rates do not divide
(a 30 fps clip in a 24 fps scene keys at 1, 1.8, 2.6, ...). Blender plays keys at fractional
frames and interpolates between them, so timing stays right without resampling and without
dropping or duplicating source frames. `render_fps_for` is for the "match scene fps" option,
which sets the scene to the source rate instead, so that every key lands on a whole frame.
"""

from __future__ import annotations

import math

import numpy as np


def scene_frames_for(frame_ids: np.ndarray, source_fps: float, scene_fps: float, first_frame: float) -> np.ndarray:
    """Scene frame of each source row; row 0 lands on `first_frame`."""
    if source_fps <= 0 or scene_fps <= 0:
        raise ValueError(f"frame rates must be positive (source {source_fps}, scene {scene_fps})")
    ids = np.asarray(frame_ids, dtype=np.float64)
    return first_frame + (ids - ids[0]) * (scene_fps / source_fps)


def frame_range_for(frames: np.ndarray) -> tuple[int, int]:
    """The whole-frame scene range that contains every key."""
    return math.floor(float(frames[0]) + 1e-6), math.ceil(float(frames[-1]) - 1e-6)


def render_fps_for(fps: float) -> tuple[int, float]:
    """Blender's (render.fps, render.fps_base) for a rate, e.g. 29.97 -> (30, 1.001)."""
    if fps <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    whole = max(1, round(fps))
    return whole, whole / fps
