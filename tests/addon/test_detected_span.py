"""The add-on keys from the first to the last detected frame by default (rows outside are no motion)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from synthetic_motion import motion_arrays

from addon.core.motion_data import Motion, detected_span


def motion(valid: np.ndarray) -> Motion:
    arrays = motion_arrays(frames=len(valid))
    return Motion(poses=arrays["poses"].astype(float), transl=arrays["transl"].astype(float),
                  rest_joints=arrays["rest_joints"].astype(float), frame_ids=np.arange(len(valid)) + 100,
                  times=(np.arange(len(valid)) + 100) / 30.0, fps=30.0, valid=valid, betas=np.zeros(10),
                  model="blazepose", window=0, meta={})


def test_undetected_ends_are_cut_and_gaps_inside_kept() -> None:
    valid = np.array([False] * 5 + [True] * 10 + [False] * 3 + [True] * 7 + [False] * 5)
    source = motion(valid)
    cut = detected_span(source)
    assert cut.frame_count == 20
    np.testing.assert_array_equal(cut.frame_ids, np.arange(105, 125))
    np.testing.assert_allclose(cut.times, np.arange(105, 125) / 30.0)
    np.testing.assert_array_equal(cut.poses, source.poses[5:25])
    np.testing.assert_array_equal(cut.transl, source.transl[5:25])
    assert (~cut.valid).sum() == 3  # the gap inside stays, interpolated


def test_fully_detected_or_undetected_clips_are_unchanged() -> None:
    source = motion(np.ones(12, bool))
    assert detected_span(source) is source
    nobody = replace(source, valid=np.zeros(12, bool))
    assert detected_span(nobody) is nobody
