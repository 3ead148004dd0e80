"""STAF (Yao et al., 2023): its card and runner. The network is `temporal/staf.py`.

Windows: SAFM reads the hard-coded frames 0..8, so only T = 9.
Crop scale 1.1: the demo crops at 1.1 (it converts the camera with 1.2; we convert with 1.1).
The backbone file `base_model.pt` is a whole PyMAF checkpoint; only its `feature_extractor.` trunk is ours.
"""

from __future__ import annotations

from typing import Any

from .registry import Checkpoint, ModelCard, register_model
from .seed import seed_runner

SOURCE = ("STAF README, 'Download the Required Data': the zip at Google Drive file "
          "1PNrnAbnQ52jmddfFVKGr08CszVwHu0q9; the file is data/base_data/{name} inside it")


def build_backbone(official_pairing: bool = False) -> Any:
    from .backbones.pymaf import PyMAFBackbone

    return PyMAFBackbone()


def build_staf(official_pairing: bool = False) -> Any:
    from .temporal.staf import STAF

    return STAF(official_pairing)


CARD = ModelCard(
    name="staf",
    title="STAF (2023)",
    paper="Yao et al., STAF: 3D Human Mesh Recovery from Video with Spatio-Temporal Alignment Fusion",
    status="complete: official checkpoints load unchanged; batch-independent TCFM, every row its own frame",
    windows=(9,),
    default_window=9,
    backbone="PyMAF ResNet-50 (layer4 maps 2048x7x7)",
    needs_smpl=True,
    checkpoints=(
        Checkpoint("base_model.pt", SOURCE.format(name="base_model.pt"), "the STAF/PyMAF backbone (base_model.pt)",
                   wrapper="model", signature="feature_extractor.layer4.", build=build_backbone,
                   only="feature_extractor.", layout="staf_backbone"),
        Checkpoint("3dpw_model_best.pth.tar", SOURCE.format(name="3dpw_model_best.pth.tar"),
                   "a STAF checkpoint (3dpw_model_best.pth.tar)", wrapper="gen_state_dict",
                   signature="tcfm.nonlocalblock.", build=build_staf, layout="staf"),
    ),
    crop_scale=1.1,
    feature_shape=(2048, 7, 7),
    window_batch=16,
    official_batch=16,
    smpl_in_forward=True,
)


run = register_model(CARD)(seed_runner(CARD))
