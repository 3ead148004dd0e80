"""Side-by-side harness figures of several `bench_accuracy.py --json` outputs.

    .venv/bin/python bench/lifter/compare.py base=/tmp/lifter_base.json lift=/tmp/lifter_lift.json ...
"""

from __future__ import annotations

import json
import sys

ROWS = (("pa_mpjpe_mm", "PA-MPJPE 14 (mm)", "{:.0f}"), ("pa_mpjpe12_mm", "PA-MPJPE 12 (mm)", "{:.0f}"),
        ("knee_flexion_err_deg", "knee flex err (deg)", "{:.1f}"),
        ("elbow_flexion_err_deg", "elbow flex err (deg)", "{:.1f}"),
        ("limb_dir_err_median_deg", "limb dir err med (deg)", "{:.1f}"),
        ("legs_swapped_pct", "legs swapped (%)", "{:.1f}"), ("accel_ratio", "accel ratio", "{:.2f}"))


def main() -> None:
    runs = {}
    for arg in sys.argv[1:]:
        name, path = arg.split("=", 1)
        with open(path) as fh:
            runs[name] = json.load(fh)["clips"]
    clips = list(next(iter(runs.values())))
    short = [c.split("_")[0] if not c.startswith("walk") else "_".join(c.split("_")[:2]) for c in clips]
    for key, label, fmt in ROWS:
        print(f"\n{label:<24}" + "".join(f"{s:>13}" for s in short) + f"{'mean':>8}")
        for name, clipfig in runs.items():
            vals = [clipfig[c][key] for c in clips]
            print(f"  {name:<22}" + "".join(f"{fmt.format(v):>13}" for v in vals)
                  + f"{fmt.format(sum(vals) / len(vals)):>8}")


if __name__ == "__main__":
    main()
