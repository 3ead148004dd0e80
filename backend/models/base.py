"""What every model runner receives and returns, so the pipeline stays model-agnostic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import BackendError, ErrorCode
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
    """Per-frame SMPL parameters for the track's frames, camera frame (x right, y down, z forward).

    Every model fills in every field; the pipeline's `post.finish` only smooths and re-poses.
    """

    poses: np.ndarray  # [N, 24, 3] axis-angle, joint 0 = global orientation
    betas: np.ndarray  # [10]
    transl: np.ndarray  # [N, 3] metres, SMPL convention (added to the posed joints)
    cam: np.ndarray  # [N, 3] weak-perspective s, tx, ty of the crop
    rest_joints: np.ndarray  # [24, 3] SMPL body frame, y up
    focal_length: float  # full-image pinhole focal length in pixels used for `transl`
    joints3d: np.ndarray  # [N, 24, 3] posed joints, camera frame
    meta: dict[str, Any] = field(default_factory=dict)
    rest: Any = None  # RestSkeleton with twist markers, when the model built one (built-in model)
    landmarks_world: np.ndarray | None = None  # [N, 33, 3] landmarks in the camera frame, if the model used them

    def check_complete(self, frames: int, model: str) -> None:
        """Raise INTERNAL naming `model` and the field when the output is not whole: each per-frame
        field has `frames` rows of finite values (a model bug, not the user's)."""
        shapes = {"poses": (frames, 24, 3), "transl": (frames, 3), "cam": (frames, 3), "joints3d": (frames, 24, 3),
                  "betas": (10,), "rest_joints": (24, 3)}
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value is None or np.shape(value) != shape or not np.all(np.isfinite(value)):
                got = "nothing" if value is None else f"shape {list(np.shape(value))}"
                raise BackendError(ErrorCode.INTERNAL, f"model {model!r} returned an incomplete output: '{name}' "
                                                       f"must be {list(shape)} finite values, got {got}")
        if self.focal_length is None or not self.focal_length > 0:
            raise BackendError(ErrorCode.INTERNAL, f"model {model!r} returned no focal length")
