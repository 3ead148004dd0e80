"""What every model runner receives and returns, so the pipeline stays model-agnostic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.events import EventStream
from ..tracking.track import Track
from ..tracking.video import VideoInfo


@dataclass
class ModelRequest:
    """One run's settings, already validated by the CLI."""

    video: VideoInfo
    track: Track
    window: int | None
    device: str  # "cpu" or "cuda" (auto already resolved)
    weights_dir: Path
    smpl_dir: Path
    threads: int
    focal_length: float  # the stated pinhole camera's focal length in pixels (camera.py)
    events: EventStream
    check_cancel: Callable[[], None]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelOutput:
    """Per-frame SMPL parameters for the track's frames, camera frame (x right, y down, z forward)."""

    poses: np.ndarray  # [N, 24, 3] axis-angle, joint 0 = global orientation
    betas: np.ndarray  # [10]
    transl: np.ndarray | None  # [N, 3] metres; None = solve it from the 2D landmarks (pipeline)
    cam: np.ndarray | None  # [N, 3] weak-perspective s, tx, ty of the crop; None = derive from transl
    rest_joints: np.ndarray  # [24, 3] SMPL body frame, y up
    focal_length: float | None = None  # full-image pinhole focal length in pixels used for `transl`
    joints3d: np.ndarray | None = None  # [N, 24, 3] posed joints, camera frame
    meta: dict[str, Any] = field(default_factory=dict)
    rest: Any = None  # RestSkeleton with twist markers, when the model built one (built-in model)
    landmarks_world: np.ndarray | None = None  # [N, 33, 3] landmarks in the camera frame, if the model used them
