"""Longer test clips for the benchmarks, made from the short samples at run time."""

from __future__ import annotations

from pathlib import Path

import cv2


def looped_clip(src: Path, dst: Path, loops: int) -> int:
    """`src` played forward, backward, forward ... `loops` times (no jump at the seams); returns frames."""
    capture = cv2.VideoCapture(str(src))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for loop in range(loops):
        for frame in frames if loop % 2 == 0 else frames[::-1]:
            writer.write(frame)
    writer.release()
    return len(frames) * loops
