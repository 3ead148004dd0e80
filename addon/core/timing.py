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


#: Rates an export may be written at, beyond the source's own and its multiples (film, PAL, NTSC
#: rounded, high-speed): a BVH or FBX at one of these plays everywhere.
COMMON_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 72.0, 90.0, 96.0, 100.0, 120.0, 144.0, 150.0, 180.0,
                200.0, 240.0, 300.0, 360.0, 480.0, 600.0, 960.0, 1000.0)
#: A pose "lands on" an export frame when it is this close to it (frames): container timestamps
#: are rounded (Matroska keeps whole milliseconds).
ON_FRAME = 0.06


def export_rate(times: np.ndarray, nominal_fps: float) -> float:
    """Frame rate for an export that carries every pose: the source's nominal rate or above.

    `times` [N] seconds. Returns the first of the nominal rate, the common rates above it and the
    nominal rate's multiples (in increasing order) at which every row lands on its own whole
    frame; failing that, the first at which every row still gets a frame of its own (the exporter
    then samples the curves between keys). A constant-rate clip exports at its own rate (120 fps
    stays 120); a phone clip mixing 1/12 s and 1/30 s steps exports at 60.
    """
    if nominal_fps <= 0:
        raise ValueError(f"frame rate must be positive, got {nominal_fps}")
    seconds = np.asarray(times, np.float64) - float(times[0])
    candidates = sorted({nominal_fps, *(r for r in COMMON_RATES if r > nominal_fps),
                         *(nominal_fps * k for k in range(2, 41))})
    fallback = None
    for rate in candidates:
        frames = seconds * rate
        whole = np.round(frames)
        distinct = len(whole) < 2 or bool(np.all(np.diff(whole) >= 1))
        if distinct and np.all(np.abs(frames - whole) <= ON_FRAME):
            return float(rate)
        if distinct and fallback is None:
            fallback = float(rate)
    if fallback is not None:
        return fallback
    gaps = np.diff(seconds)
    return float(np.ceil(1.0 / max(float(gaps[gaps > 0].min()) if np.any(gaps > 0) else 1.0, 1e-6)))
