"""TAR (Chen et al. 2023): its card, its checkpoint loaders and its runner. The network is `temporal/tar_net.py`.

No official code or weights exist. TAR is ReFit plus GTE and LTE (`tar_net.py`), so it is
initialised from ReFit's public checkpoint (`checkpoint_best.pth.tar`, the `refit` card's file):
every ReFit key loads under its own name and only GTE's and LTE's keys keep their initialisation.
`python -m backend train tar` trains it and writes `tar_model.pth.tar` (our format) into the
weights folder; `run --model tar` uses that file when it is there, and otherwise runs TAR
initialised from ReFit's checkpoint with untrained GTE and LTE, saying so in a warning.
Windows: T = 9 (sec. 4.1.1), L = 5 (Table 5); the crop is ReFit's (256 px, box scale 1.2).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.errors import BackendError, ErrorCode
from .base import ModelOutput, ModelRequest
from .refit import CARD as REFIT_CARD
from .registry import ModelCard, register_model

REFIT_CHECKPOINT = REFIT_CARD.checkpoints[0]  # refit_all/checkpoint_best.pth.tar (the `refit` card's file)


FILE_NAME = "tar_model.pth.tar"  # = temporal/tar_net.FILE_NAME (that module imports torch)
TRAIN = (f"no official TAR weights exist (the authors never published them): convert 3DPW once with `python -m "
         f"backend convert-dataset 3DPW_DIR TRAIN_DIR` (and `--split validation` for VAL_DIR), then `python -m "
         f"backend train tar --data TRAIN_DIR --val VAL_DIR --run-dir RUN_DIR`, which starts from ReFit's "
         f"{REFIT_CHECKPOINT.file} and writes {FILE_NAME} into the weights folder; README, 'TAR'")
RETRAIN = "train TAR with `python -m backend train tar ...` (README, 'TAR') and put its output here"


def refit_init(path: Path, config: Any = None) -> tuple[Any, list[str]]:
    """TAR (`config`, default the paper's) with every ReFit-named key from ReFit's official checkpoint at `path`.

    Returns (model, the keys ReFit does not have: GTE's and LTE's, which keep their initialisation).
    Read with the safe loader and prepared by the `refit` card's `official_state` (SMPL buffers dropped,
    aliased keys under both names). WEIGHTS_INVALID names the file for any other missing or
    unexpected key or shape.
    """
    from .checkpoints import guess_kind, load_checkpoint, unwrap
    from .refit import official_state
    from .temporal.tar_net import TAR, TARConfig

    model = TAR(config or TARConfig())
    what = REFIT_CHECKPOINT.describes
    state = official_state(unwrap(load_checkpoint(path), REFIT_CHECKPOINT.wrapper, path, what), path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    foreign = [k for k in missing if not k.startswith(("gte.", "lte."))]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(v.shape)} (TAR: {tuple(own[k].shape)})" for k, v in state.items()
             if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if foreign or unexpected or wrong:
        looks = guess_kind(state)
        hint = f" It looks like {looks}." if looks and looks != REFIT_CHECKPOINT.describes else ""
        raise BackendError(ErrorCode.WEIGHTS_INVALID,
                           f"{path} is not {what} for TAR ({model.config.backbone}): {len(foreign)} ReFit keys are "
                           f"missing (e.g. {foreign[:3]}), {len(unexpected)} keys are not ReFit's (e.g. "
                           f"{unexpected[:3]}), shapes differ: {wrong[:3]}.{hint}")
    model.load_state_dict(state, strict=False)
    return model, missing


def load_tar(path: Path) -> Any:
    """Our TAR file (`tar_task.save_tar`) -> the network with its stored sizes. WEIGHTS_INVALID names the file
    and says what to do (train it, or which file it is instead)."""
    from .checkpoints import load_trained
    from .temporal.tar_net import FORMAT, FORMAT_VERSION, TAR, TARConfig

    return load_trained(path, FORMAT, FORMAT_VERSION, "a TAR", RETRAIN,
                        lambda config: TAR(TARConfig.from_dict(config)), "model")


CARD = ModelCard(
    name="tar",
    title="TAR (2023)",
    paper="Chen et al., Temporal-aware refinement for video-based human pose and shape recovery",
    status=f"complete: built from the paper (no public code) on ReFit's network; {TRAIN}. Without {FILE_NAME} "
           f"it runs initialised from ReFit's {REFIT_CHECKPOINT.file} with untrained GTE and LTE (a warning says so)",
    windows=(9,),
    default_window=9,
    backbone="HRNet-W48 (ReFit: 720-channel 64x64 map + 384-d vector)",
    needs_smpl=True,
    checkpoints=(replace(REFIT_CHECKPOINT, alternative=FILE_NAME),),  # ReFit's file, unless TAR's own is there
    crop_scale=1.2,
    feature_batch=4,
    window_batch=8,
)


@register_model(CARD)
def run_tar(request: ModelRequest) -> ModelOutput:
    from .tar_runner import run

    return run(request, CARD)
