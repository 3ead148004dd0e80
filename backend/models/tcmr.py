"""TCMR (Choi et al., CVPR 2021): its card and runner. The network is `temporal/tcmr.py`.

Windows: trained and evaluated with T = 16 (paper, sec. 4; demo `seq_len=16`). Its GRUs accept
any length with the current frame at T//2, so 8 (quicker start-up on short clips, less context)
and 32 (more context) are offered as well; both are outside what the paper evaluated.
Crop scale 1.2: the demo's `scale=1.2` crops, and its camera conversion uses the same value.
"""

from __future__ import annotations

from typing import Any

from .registry import Checkpoint, ModelCard, register_model
from .seed import SPIN_BACKBONE, seed_runner, spin_checkpoint

SOURCE = ("TCMR_RELEASE README, 'Quick demo': `source scripts/get_base_data.sh` downloads base_data.zip "
          "(Google Drive id 1WmSYmDWdMSXyNU6ZcFQVF8ULtR_S9L3b); the file is data/base_data/{name} inside it")


def build_tcmr(official_pairing: bool = False) -> Any:
    from .temporal.tcmr import TCMR

    return TCMR()


CARD = ModelCard(
    name="tcmr",
    title="TCMR (CVPR 2021)",
    paper="Choi et al., Beyond Static Features for Temporally Consistent 3D Human Pose and Shape from a Video",
    status="complete: official checkpoints load unchanged; window 16 is the trained one (8 and 32 are extrapolations)",
    windows=(8, 16, 32),
    default_window=16,
    backbone=SPIN_BACKBONE,
    needs_smpl=True,
    checkpoints=(
        spin_checkpoint(SOURCE.format(name="spin_model_checkpoint.pth.tar")),
        Checkpoint("tcmr_demo_model.pth.tar", SOURCE.format(name="tcmr_demo_model.pth.tar"),
                   "a TCMR checkpoint (tcmr_demo_model.pth.tar)", wrapper="gen_state_dict",
                   signature="encoder.gru_cur.", build=build_tcmr, layout="tcmr"),
    ),
    crop_scale=1.2,
    feature_shape=(2048,),
    window_batch=64,
    official_batch=64,
)


run = register_model(CARD)(seed_runner(CARD))
