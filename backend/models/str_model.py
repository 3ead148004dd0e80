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
    from .checkpoints import file_digest, load_trained
    from .temporal.str_net import FORMAT, FORMAT_VERSION, STR, STRConfig

    path = Path(path)
    retrain = "train STR with `python -m backend train str ...` (README, 'STR') and put its output here"

    def build(config: dict[str, Any]) -> STR:
        """The network of the stored sizes; `run` feeds SPIN's 2048-d features, so only those are accepted."""
        sizes = STRConfig.from_dict(config)
        model = STR(sizes)
        if sizes.feat_dim != 2048:
            raise BackendError(ErrorCode.WEIGHTS_INVALID, f"{path} expects {sizes.feat_dim}-d features; `run` "
                                                          "feeds SPIN's 2048-d ones")
        return model

    return load_trained(path, FORMAT, FORMAT_VERSION, "an STR", retrain, build, "gen_state_dict"), file_digest(path)


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
