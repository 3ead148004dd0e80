"""Phone videos are often stored sideways with a rotation flag: frames must reach the models upright."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from backend.core.motion_file import load_motion_file
from backend.geometry.skeleton import forward_kinematics
from backend.tracking import video
from tests.conftest import SINGLE, run_backend


def sideways_copy(dst: Path, frames: int = 12) -> list[np.ndarray]:
    """Store the sample rotated a quarter turn, with an MP4 display matrix that turns it back."""
    capture = cv2.VideoCapture(str(SINGLE))
    originals = []
    for _ in range(frames):
        ok, frame = capture.read()
        assert ok
        originals.append(frame)
    capture.release()
    height, width = originals[0].shape[:2]
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), 12, (height, width))
    for frame in originals:
        writer.write(cv2.rotate(frame, cv2.ROTATE_90_COUNTERCLOCKWISE))
    writer.release()
    data = bytearray(dst.read_bytes())
    tkhd = data.find(b"tkhd")
    assert tkhd > 0 and data[tkhd + 4] == 0  # version-0 track header: the matrix sits 44 bytes in
    data[tkhd + 44:tkhd + 80] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    dst.write_bytes(bytes(data))
    return originals


def test_rotation_metadata_is_applied(tmp_path: Path) -> None:
    clip = tmp_path / "sideways.mp4"
    originals = sideways_copy(clip)
    info = video.probe(clip)
    assert info.rotation == 90
    assert (info.width, info.height) == (1080, 1920)
    _, first = next(video.iter_frames(info, video.FrameRange()))
    assert np.abs(first.astype(int) - cv2.cvtColor(originals[0], cv2.COLOR_BGR2RGB)).mean() < 8

    out = tmp_path / "sideways.npz"
    result = run_backend("run", str(clip), "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    motion = load_motion_file(out)
    assert tuple(motion["image_size"]) == (1080, 1920)
    joints = forward_kinematics(motion["poses"], motion["rest_joints"], motion["transl"])
    assert (joints[:, 15, 1] < joints[:, 0, 1]).all()  # upright in the camera frame
