"""Pose landmarks for every person in each frame, from MediaPipe's bundled models, offline.

mediapipe 0.10.21 ships `pose_detection.tflite` and `pose_landmark_full.tflite` inside its wheel.
Its multi-person Tasks API (`PoseLandmarker`) needs them packed as a `.task` bundle with input
metadata, which normally comes from the internet; we build that bundle once from the bundled files
(cached per mediapipe version) so detection and tracking work with no download.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Self

import numpy as np

from ..core.config import cache_dir
from ..core.outputs import atomic_output
from .track import Detection

log = logging.getLogger(__name__)

#: Input normalisation of the two bundled models (fixed by how they were trained).
DETECTOR_NORM = (127.5, 127.5)
LANDMARKER_NORM = (0.0, 255.0)


def _with_metadata(model_path: Path, mean: float, std: float, outputs: int) -> bytes:
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    writer = metadata_writer.MetadataWriter.create(bytearray(model_path.read_bytes()))
    writer.add_general_info(model_path.stem, "MediaPipe pose model bundled with the mediapipe wheel")
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    for _ in range(outputs):
        writer.add_feature_output()
    return bytes(writer.populate()[0])


def pose_task_path() -> Path:
    """Path of the offline `.task` bundle, building it on first use (atomic, per mediapipe version)."""
    import mediapipe

    target = cache_dir() / f"pose_landmarker_full_mp{mediapipe.__version__}.task"
    if target.is_file():
        return target
    modules = Path(mediapipe.__file__).parent / "modules"
    detector = modules / "pose_detection" / "pose_detection.tflite"
    landmarker = modules / "pose_landmark" / "pose_landmark_full.tflite"
    if not detector.is_file() or not landmarker.is_file():
        raise RuntimeError(f"mediapipe {mediapipe.__version__} does not bundle the pose models "
                           f"({detector.name}, {landmarker.name}); install mediapipe==0.10.21 with install_deps.py")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(target) as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as bundle:
        bundle.writestr("pose_detector.tflite", _with_metadata(detector, *DETECTOR_NORM, outputs=2))
        bundle.writestr("pose_landmarks_detector.tflite", _with_metadata(landmarker, *LANDMARKER_NORM, outputs=5))
    log.info("built offline pose bundle %s", target)
    return target


class PoseLandmarks:
    """MediaPipe PoseLandmarker in video mode (tracks between frames), up to `max_people` per frame."""

    def __init__(self, max_people: int = 4, min_detection: float = 0.5, min_tracking: float = 0.5) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(pose_task_path())),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=max_people,
            min_pose_detection_confidence=min_detection,
            min_pose_presence_confidence=min_detection,
            min_tracking_confidence=min_tracking,
        )
        self._landmarker = vision.PoseLandmarker.create_from_options(options)
        self._last_ms = -1

    def detect(self, rgb: np.ndarray, time_ms: int) -> list[Detection]:
        import mediapipe as mp

        time_ms = max(int(time_ms), self._last_ms + 1)  # the graph needs strictly increasing stamps
        self._last_ms = time_ms
        height, width = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        result = self._landmarker.detect_for_video(image, time_ms)
        people = []
        for image_points, world_points in zip(result.pose_landmarks, result.pose_world_landmarks):
            pts = np.array([(p.x * width, p.y * height, p.visibility if p.visibility is not None else 1.0)
                            for p in image_points], dtype=np.float32)
            wld = np.array([(p.x, p.y, p.z) for p in world_points], dtype=np.float32)
            people.append(Detection(landmarks2d=pts, world=wld))
        return people

    def close(self) -> None:
        self._landmarker.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
