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

import cv2
import numpy as np

from ..core.config import cache_dir
from ..core.outputs import atomic_output
from .track import Detection, merge_duplicates

log = logging.getLogger(__name__)

#: Input normalisation of the two bundled models (fixed by how they were trained).
DETECTOR_NORM = (127.5, 127.5)
LANDMARKER_NORM = (0.0, 255.0)
#: The whole-frame pass sees frames at most this long side: the person detector squeezes every
#: frame to 224x224 anyway, and the landmark model to 256x256 crops, so a 4K frame costs 4x the
#: copying and conversion of 1080p for nothing. Coordinates are scaled back to the source.
FULL_FRAME_MAX_SIDE = 1920
#: Frames at least this long get a second look in tiles when the whole frame shows nobody: the
#: detector sees a 1920-px-wide frame at 224 px, so a person under ~1/6 of the frame height (a
#: 320 px figure in 4K, ~19 px at the detector's input) is missed; a half-height tile doubles them.
TILED_FROM_SIDE = 2560
#: A found person is followed in a square region this many box heights wide (the next frame's crop).
REGION_SCALE = 2.5
#: While nobody is found, the tiled search (15 crops of a 4K frame) runs on every this-many-th frame
#: only, so an empty 4K scene costs about 4x a whole-frame pass rather than 16x.
TILE_SEARCH_EVERY = 4


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


def tiles(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Overlapping square tiles (x0, y0, x1, y1) of side = the frame's short side / 2, a quarter overlap."""
    side = max(min(width, height) // 2, 1)
    step = max(int(side * 0.75), 1)

    def starts(length: int) -> list[int]:
        last = max(length - side, 0)
        return sorted({*range(0, last + 1, step), last})

    return [(x, y, min(x + side, width), min(y + side, height)) for y in starts(height) for x in starts(width)]


def region_around(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """A square crop (x0, y0, x1, y1) centred on a cx, cy, w, h box, REGION_SCALE box heights wide."""
    side = int(min(max(REGION_SCALE * max(box[2], box[3]), min(width, height) / 4), min(width, height)))
    x0 = int(np.clip(box[0] - side / 2, 0, width - side))
    y0 = int(np.clip(box[1] - side / 2, 0, height - side))
    return x0, y0, x0 + side, y0 + side


class PoseLandmarks:
    """MediaPipe PoseLandmarker in video mode (tracks between frames), up to `max_people` per frame.

    Large frames (long side >= TILED_FROM_SIDE) where the whole-frame pass finds nobody are searched
    in tiles, and a person found there is followed in a region around their last box (a second,
    image-mode landmarker), so small people in 4K frames are found and kept.
    """

    def __init__(self, max_people: int = 4, min_detection: float = 0.5, min_tracking: float = 0.5) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        def options(mode: vision.RunningMode) -> vision.PoseLandmarkerOptions:
            return vision.PoseLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(pose_task_path())),
                running_mode=mode,
                num_poses=max_people,
                min_pose_detection_confidence=min_detection,
                min_pose_presence_confidence=min_detection,
                min_tracking_confidence=min_tracking,
            )

        self._options = options
        self._landmarker = vision.PoseLandmarker.create_from_options(options(vision.RunningMode.VIDEO))
        self._region_landmarker = None  # created on first need (most clips never need it)
        self._region: tuple[int, int, int, int] | None = None
        self._frames_since_search = TILE_SEARCH_EVERY - 1  # the first frame is searched
        self._last_ms = -1

    def detect(self, rgb: np.ndarray, time_ms: int) -> list[Detection]:
        """Every person in one upright RGB frame (pixels of this frame), at `time_ms` (increasing)."""
        time_ms = max(int(time_ms), self._last_ms + 1)  # the graph needs strictly increasing stamps
        self._last_ms = time_ms
        height, width = rgb.shape[:2]
        scale = min(1.0, FULL_FRAME_MAX_SIDE / max(width, height))
        small = rgb if scale == 1.0 else cv2.resize(rgb, (round(width * scale), round(height * scale)),
                                                    interpolation=cv2.INTER_AREA)
        people = self._run(self._landmarker, small, time_ms, scale=1.0 / scale)
        if max(width, height) < TILED_FROM_SIDE:
            return people
        if people and self._region is None:
            return people
        if self._region is None:  # searching, not following: every TILE_SEARCH_EVERY-th frame
            self._frames_since_search += 1
            if self._frames_since_search < TILE_SEARCH_EVERY:
                return people
            self._frames_since_search = 0
        # Nobody in the whole frame, or a small person being followed: look closer (the whole-frame
        # pass may meanwhile have picked up something else, which the tracker keeps apart).
        return merge_duplicates(people + self._detect_in_regions(rgb))

    def _detect_in_regions(self, rgb: np.ndarray) -> list[Detection]:
        from mediapipe.tasks.python import vision

        if self._region_landmarker is None:
            self._region_landmarker = vision.PoseLandmarker.create_from_options(
                self._options(vision.RunningMode.IMAGE))
        height, width = rgb.shape[:2]
        crops = [self._region] if self._region is not None else tiles(width, height)
        found: list[Detection] = []
        for x0, y0, x1, y1 in crops:
            found += self._run(self._region_landmarker, rgb[y0:y1, x0:x1], None, offset=(x0, y0))
        found = merge_duplicates(found)
        if found:
            best = max(found, key=lambda d: d.support * d.bbox()[3])
            self._region = region_around(best.bbox(), width, height)
        else:
            self._region = None
        return found

    @staticmethod
    def _run(landmarker: object, rgb: np.ndarray, time_ms: int | None, scale: float = 1.0,
             offset: tuple[int, int] = (0, 0)) -> list[Detection]:
        """Detections in `rgb` (video mode when `time_ms` is given, else image mode), in the pixels of the
        frame it was cut from: x * scale + offset."""
        import mediapipe as mp

        height, width = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        result = landmarker.detect(image) if time_ms is None else landmarker.detect_for_video(image, time_ms)
        people = []
        for image_points, world_points in zip(result.pose_landmarks, result.pose_world_landmarks):
            pts = np.array([(p.x * width * scale + offset[0], p.y * height * scale + offset[1],
                             p.visibility if p.visibility is not None else 1.0)
                            for p in image_points], dtype=np.float32)
            wld = np.array([(p.x, p.y, p.z) for p in world_points], dtype=np.float32)
            people.append(Detection(landmarks2d=pts, world=wld))
        return people

    def close(self) -> None:
        self._landmarker.close()
        if self._region_landmarker is not None:
            self._region_landmarker.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
