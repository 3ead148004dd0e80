"""Source times -> scene frames (no bpy).

Row i of a motion file is shown at `times[i]` seconds (the container's presentation time, so
variable-frame-rate phone clips stay in sync; frame_ids / fps for constant-rate clips, whatever the
stride). It is keyed at the scene frame that shows the same time, which is fractional when the rates do not divide
(a 30 fps clip in a 24 fps scene keys at 1, 1.8, 2.6, ...). Blender plays keys at fractional
frames and interpolates between them, so timing stays right without resampling and without
dropping or duplicating source frames. `render_fps_for` is for the "match scene fps" option,
which sets the scene to the source rate instead, so that every key lands on a whole frame.
"""

from __future__ import annotations

import math

import numpy as np


def scene_frames_for(times: np.ndarray, scene_fps: float, first_frame: float) -> np.ndarray:
    """[N] scene frame of each row: `first_frame + (times[i] - times[0]) * scene_fps`.

    `times` [N] are seconds; row 0 lands on `first_frame` (for a whole clip, times[0] = 0, so row i
    lands on `first_frame + times[i] * scene_fps`).
    """
    if scene_fps <= 0:
        raise ValueError(f"the scene frame rate must be positive, got {scene_fps}")
    seconds = np.asarray(times, dtype=np.float64)
    return first_frame + (seconds - seconds[0]) * scene_fps


def frame_range_for(frames: np.ndarray) -> tuple[int, int]:
    """The whole-frame scene range that contains every key."""
    return math.floor(float(frames[0]) + 1e-6), math.ceil(float(frames[-1]) - 1e-6)


def render_fps_for(fps: float) -> tuple[int, float]:
    """Blender's (render.fps, render.fps_base) for a rate, e.g. 29.97 -> (30, 1.001)."""
    if fps <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    whole = max(1, round(fps))
    return whole, whole / fps


