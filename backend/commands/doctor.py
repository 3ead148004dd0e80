"""`backend doctor`: check the environment and say exactly what is missing and how to get it."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from dataclasses import asdict, dataclass

from ..core import config

#: Versions install_deps.py pins; a mismatch is reported, not fatal.
EXPECTED_RAY = "2.60.0"  # requirements/ray.txt
EXPECTED = {"numpy": "1.26", "mediapipe": "0.10.21", "torch": "2.13", "cv2": "4.11", "smplx": "0.1.28", "av": "18.1"}


@dataclass
class Check:
    name: str
    ok: bool
    message: str
    required: bool = True


def _import(name: str) -> Check:
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the finding
        return Check(name, False, f"cannot import {name} ({type(exc).__name__}: {exc}); run `python install_deps.py`")
    version = str(getattr(module, "__version__", "") or _distribution_version(name))
    expected = EXPECTED.get(name)
    if expected and not version.startswith(expected):
        return Check(name, True, f"{name} {version} (tested with {expected}; run `python install_deps.py` to pin)",
                     required=False)
    return Check(name, True, f"{name} {version}")


def _distribution_version(module_name: str) -> str:
    from importlib import metadata

    distribution = {"cv2": "opencv-contrib-python"}.get(module_name, module_name)
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"


def _mediapipe_models() -> Check:
    try:
        from ..tracking.landmarks import pose_task_path

        path = pose_task_path()
    except Exception as exc:  # noqa: BLE001
        return Check("pose model", False, f"the bundled MediaPipe pose model is not usable: {exc}")
    return Check("pose model", True, f"MediaPipe pose bundle ready (offline): {path}")


def _ray() -> Check:
    """Optional: `backend batch --ray` needs it; the local pool does not."""
    from importlib import metadata

    try:
        version = metadata.version("ray")
    except metadata.PackageNotFoundError:
        return Check("ray", True, "ray not installed: `batch --ray` unavailable (`install_deps.py --ray` adds it; "
                     "the local pool `batch --workers N` needs nothing)", required=False)
    expected = EXPECTED_RAY
    note = "" if version == expected else f" (tested with {expected}; run `install_deps.py --ray` to pin)"
    return Check("ray", True, f"ray {version}: `batch --ray` available{note}", required=False)


def _cuda() -> Check:
    try:
        import torch
    except Exception:  # noqa: BLE001
        return Check("cuda", False, "torch missing, so no GPU check", required=False)
    if torch.cuda.is_available():
        return Check("cuda", True, f"CUDA GPU: {torch.cuda.get_device_name(0)}", required=False)
    return Check("cuda", True, "no CUDA GPU: models run on the CPU (`install_deps.py --cuda` on a GPU machine)",
                 required=False)


def run_checks(weights_dir_arg: str | None = None, smpl_dir_arg: str | None = None) -> list[Check]:
    checks = [Check("python", sys.version_info[:2] == (3, 11),
                    f"Python {sys.version.split()[0]} at {sys.executable}"
                    + ("" if sys.version_info[:2] == (3, 11) else " (mediapipe 0.10.21 needs 3.11)"))]
    packages = [_import(name) for name in ("numpy", "scipy", "cv2", "av", "mediapipe", "torch", "smplx")]
    checks += packages
    checks.append(_ray())
    checks.append(_mediapipe_models())
    checks.append(_cuda())
    cache = config.cache_dir()
    cache_ok = cache.is_dir() and os.access(cache, os.W_OK)
    checks.append(Check("cache", cache_ok, f"cache folder {cache}" + ("" if cache_ok else " is not writable")))

    if not all(c.ok for c in packages if c.required):
        checks.append(Check("models", False, "the models cannot be listed until the missing packages above are "
                            "installed (`python3 install_deps.py`; in Blender: Install Backend)"))
        return checks
    from ..models.registry import WEIGHTS_HELP, all_cards

    weights_dir = config.weights_dir(weights_dir_arg)
    smpl_dir = config.smpl_dir(smpl_dir_arg)
    smpl_file = smpl_dir / "SMPL_NEUTRAL.npz"
    checks.append(Check("smpl", smpl_file.is_file(),
                        f"SMPL body model: {smpl_file}" if smpl_file.is_file() else
                        f"SMPL body model missing: {smpl_file} (needed by the seed models; optional for blazepose). "
                        "Register at https://smpl.is.tue.mpg.de, download SMPL for Python, then "
                        "`python -m backend convert-smpl basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl "
                        f"--out {smpl_file}` ({WEIGHTS_HELP})", required=False))
    for card in all_cards():
        missing = [w for w in card.weight_files if not w.present(weights_dir)]
        if not card.weight_files:
            checks.append(Check(f"model {card.name}", True, f"{card.name}: {card.status}", required=False))
            continue
        if missing:
            lines = "; ".join(f"{w.name} (get it from {w.source})" + (
                f", or instead {w.alternative} ({card.status})" if w.alternative else "") for w in missing)
            checks.append(Check(f"model {card.name}", False,
                                f"{card.name}: missing in {weights_dir}: {lines}; {WEIGHTS_HELP}", required=False))
        else:
            checks.append(Check(f"model {card.name}", True, f"{card.name}: all files present; {card.status}",
                                required=False))
    return checks


def doctor(args: argparse.Namespace) -> int:
    config.cache_dir().mkdir(parents=True, exist_ok=True)
    checks = run_checks(args.weights_dir, args.smpl_dir)
    ok = all(c.ok for c in checks if c.required)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}))
    else:
        for c in checks:
            print(f"[{'ok' if c.ok else ('MISSING' if c.required else 'missing')}] {c.message}")
        print("verdict: " + ("ready: the built-in model works" if ok else "not ready: fix the lines marked MISSING"))
    return 0 if ok else 1
