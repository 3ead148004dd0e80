"""STR (Zhang et al., BMVC 2022): its card and runner. The network is `temporal/str_net.py`.

Windows: trained and evaluated with T = 16 (paper, sec. 3.1); TTR's four fragments and the two
halves of Algorithm 1 are sized for it, so only T = 16. No official code or weights exist: the
temporal model's file is ours, written by `backend train str` (`training/str_task.py`), and is
loaded by its own loader; the backbone is SPIN's, as for TCMR. Crop scale 1.2 (SPIN/TCMR crops;
STR uses the same precomputed SPIN features).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .registry import Checkpoint, ModelCard, register_model
from .seed import SPIN_BACKBONE, seed_runner, spin_checkpoint
from .tcmr import SOURCE as TCMR_SOURCE

FILE_NAME = "str_model.pth.tar"  # = temporal/str_net.FILE_NAME (that module imports torch)
TRAIN = ("no official weights exist (the authors never published them): train it with `python -m backend "
         "convert-dataset DB.pt DATA_DIR` once per TCMR/VIBE database, then `python -m backend train str --data "
         "TRAIN_DIR --val VAL_DIR --run-dir RUN_DIR`, which writes {name} into the weights folder "
         "(or --out FILE: then copy it there); README, 'STR'")


def build_str(official_pairing: bool = False) -> Any:
    from .temporal.str_net import STR

    return STR()


def load_str(path: Path) -> tuple[Any, str]:
    """Our STR file (see FORMAT) -> the network with its stored sizes, and the file's sha256 prefix.

    Read with `torch.load(weights_only=True)` like every checkpoint; WEIGHTS_MISSING / WEIGHTS_INVALID
    name the file and say what to do (train it, or which file it is instead).
    """
    from ..core.errors import BackendError, ErrorCode
    from .checkpoints import file_digest, guess_kind, load_checkpoint, load_state
    from .temporal.str_net import FORMAT, FORMAT_VERSION, STR, STRConfig

    path = Path(path)
    ckpt = load_checkpoint(path)
    retrain = "train STR with `python -m backend train str ...` (README, 'STR') and put its output here"
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        looks = guess_kind(ckpt.get("gen_state_dict", ckpt) if isinstance(ckpt, dict) else {})
        what = f"it looks like {looks}" if looks else "it has no 'format': 'video-mocap-str' entry"
        if isinstance(ckpt, dict) and {"optimizer", "scheduler", "model"} <= set(ckpt):
            what = "it is a resumable training checkpoint (last.pt); use the file `train` wrote to --out"
        raise BackendError(ErrorCode.WEIGHTS_INVALID, f"{path} is not an STR checkpoint written by `backend train "
                                                      f"str`: {what}. No official STR weights exist; {retrain}")
    if ckpt.get("version") != FORMAT_VERSION:
        raise BackendError(ErrorCode.WEIGHTS_INVALID, f"{path} is STR layout version {ckpt.get('version')}; this "
                                                      f"backend reads version {FORMAT_VERSION}; {retrain}")
    try:
        config = STRConfig.from_dict(dict(ckpt["config"]))
        model = STR(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise BackendError(ErrorCode.WEIGHTS_INVALID, f"{path} has an unusable STR config ({exc}); {retrain}") from exc
    if config.feat_dim != 2048:
        raise BackendError(ErrorCode.WEIGHTS_INVALID, f"{path} expects {config.feat_dim}-d features; `run` "
                                                      "feeds SPIN's 2048-d ones")
    load_state(model, ckpt.get("model") or {}, path, "an STR checkpoint", drop_smpl=False)
    return model, file_digest(path)


CARD = ModelCard(
    name="str",
    title="STR (BMVC 2022)",
    paper="Zhang et al., Spatio-temporal tendency reasoning for human body pose and shape estimation from videos",
    status="complete: built from the paper (no public code). No official weights exist: train str_model.pth.tar "
           "with `python -m backend train str --data TRAIN_DIR --val VAL_DIR --run-dir RUN_DIR` (it is written "
           "into the weights folder; README, 'STR')",
    windows=(16,),
    default_window=16,
    backbone=SPIN_BACKBONE,
    needs_smpl=True,
    checkpoints=(
        spin_checkpoint(TCMR_SOURCE.format(name="spin_model_checkpoint.pth.tar")),
        Checkpoint(FILE_NAME, TRAIN.format(name=FILE_NAME),
                   f"an STR checkpoint written by `backend train str` ({FILE_NAME})", wrapper="", signature="",
                   build=build_str, load=load_str),
    ),
    crop_scale=1.2,
    feature_shape=(2048,),
    window_batch=64,
    official_batch=64,
)

run = register_model(CARD)(seed_runner(CARD))
