"""The whole-clip fit holds planted feet on the floor (its second pass), measured against the truth.

On the rendered walk across the view (`bench/truth/walk_across_far`, a floor plane in view), the
product as a user runs it (`backend run VIDEO --focal-length F`) is compared with the rendered truth
using the harness's own metrics (`bench/accuracy_metrics.py`). Without the second pass (main before
it) the knee flexion error was 11.7 deg and the root depth error 0.038 m; with it 9.3 deg and
0.009 m. About 10 s: MediaPipe on 90 frames, then the fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import accuracy_metrics as am
from tests.bench.truth_runs import run_on_truth_clip

CLIP = "walk_across_far"


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray,
                                                             dict[str, Any], Path]:
    """One product run (MediaPipe included) on the clip, shared: (truth, joints, valid, meta, its folder)."""
    folder = tmp_path_factory.mktemp("walk")
    return (*run_on_truth_clip(CLIP, folder), folder)


def test_planted_feet_fix_the_root_depth_and_spare_the_knees(walk: tuple) -> None:
    truth, joints, valid, meta, _ = walk
    refit = meta["fit"]["ground_refit"]
    assert refit["used"] and min(refit["contact_frames"]) >= 20, refit
    figures = am.evaluate(joints, truth, valid)
    assert figures["root_depth_err_m"] <= 0.02, figures["root_depth_err_m"]
    assert figures["knee_flexion_err_deg"] <= 9.0, figures["knee_flexion_err_deg"]
    assert figures["pa_mpjpe_mm"] <= 40.0, figures["pa_mpjpe_mm"]
    assert meta["lifter"]["used"] is True  # the default


def test_the_second_pass_follows_ground_and_foot_lock(walk: tuple) -> None:
    # The detections of that run, reused (`--tracks`): only the stages after MediaPipe run again.
    folder = walk[-1]

    def refit_meta(*options: str) -> dict:
        meta = run_on_truth_clip(CLIP, folder, "--tracks", str(folder / f"{CLIP}.npz"), *options,
                                 out_name="again.npz")[3]
        return meta["fit"]["ground_refit"]

    # Stairs and slopes (`--ground constant`) and no grounding: no floor plane is imposed.
    assert refit_meta("--ground", "constant") == {"used": False, "reason": "--ground constant"}
    assert refit_meta("--ground", "off") == {"used": False, "reason": "--ground off"}
    # Skating, spins: on the floor, but the fit does not hold the feet still either.
    unlocked = refit_meta("--foot-lock", "off")
    assert unlocked["used"] and unlocked["feet_held_still"] is False


def test_given_the_true_evidence_the_fit_lands_on_the_truth(walk: tuple) -> None:
    """What bounds the built-in model: the same fit, with MediaPipe's evidence for the 12 limb joints
    replaced by the truth (`bench_accuracy.oracle_tracks`). True 2D and 3D: PA-MPJPE 24 mm, knees 5.9
    deg, limb directions 2.6 deg (measured); true 2D with MediaPipe's 3D: still 47 mm, as MediaPipe's
    own. So the fit reaches the truth from true evidence, and MediaPipe's 3D, not its 2D, is the limit."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import bench_accuracy

    truth, _, _, _, folder = walk
    kept = folder / f"{CLIP}.npz"

    def figures_with(mode: str) -> dict[str, float]:
        tracks = bench_accuracy.oracle_tracks(kept, truth, mode, folder / f"oracle_{mode}.npz")
        _, joints, valid, _ = run_on_truth_clip(CLIP, folder, "--tracks", str(tracks), "--lifter", "off",
                                                out_name=f"{mode}.npz")
        return am.evaluate(joints, truth, valid)

    both, flat = figures_with("both"), figures_with("2d")
    assert both["pa_mpjpe_mm"] <= 30.0 and both["knee_flexion_err_deg"] <= 7.5, both
    assert both["limb_dir_err_median_deg"] <= 4.0, both
    assert flat["pa_mpjpe_mm"] >= 40.0, flat


def test_the_lifter_brings_the_walk_closer_to_the_truth(walk: tuple) -> None:
    """The default (lifter on) against `--lifter off` on the same detections (`--tracks`): measured PA-MPJPE
    46 -> 36 mm, elbows 10.8 -> 6.5 deg, median limb direction 8.6 -> 7.3 deg. With `--fit off` the lifter
    does not run, and the file says why."""
    truth, lifted, valid, meta, folder = walk
    assert meta["lifter"]["used"] is True and meta["lifter"]["share"] == 0.3 and meta["lifter"]["unseen_share"] == 1.0
    _, plain, plain_valid, plain_meta = run_on_truth_clip(CLIP, folder, "--tracks", str(folder / f"{CLIP}.npz"),
                                                          "--lifter", "off", out_name="plain.npz")
    assert plain_meta["lifter"] == {"used": False}
    unfitted_meta = run_on_truth_clip(CLIP, folder, "--tracks", str(folder / f"{CLIP}.npz"), "--fit", "off",
                                      out_name="unfitted.npz")[3]
    assert unfitted_meta["lifter"]["used"] is False and "--fit off" in unfitted_meta["lifter"]["reason"]
    on, off = am.evaluate(lifted, truth, valid), am.evaluate(plain, truth, plain_valid)
    assert on["pa_mpjpe_mm"] <= off["pa_mpjpe_mm"] - 5.0, (on["pa_mpjpe_mm"], off["pa_mpjpe_mm"])
    assert on["elbow_flexion_err_deg"] <= 8.0 < off["elbow_flexion_err_deg"], (on["elbow_flexion_err_deg"],
                                                                               off["elbow_flexion_err_deg"])
