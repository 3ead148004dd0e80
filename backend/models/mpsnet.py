"""MPS-Net (Wei et al., CVPR 2022): its card and runner. The network is `temporal/mpsnet.py`.

Windows: HAFI reads the hard-coded frames 4..12, so only T = 16.
Crop scale 1.1: the demo crops at 1.1 (it converts the camera with 1.2; we convert with 1.1).
"""

from __future__ import annotations

from typing import Any

from .registry import Checkpoint, ModelCard, register_model
from .seed import SPIN_BACKBONE, seed_runner, spin_checkpoint

SOURCE = ("MPS-Net_release README, 'Evaluation': base_data.zip from scripts/get_base_data.sh "
          "(Google Drive id 11LXqYqjLKBn2wOcNbDT7DX0Hbj80ynbp); the file is data/base_data/{name} inside it")


def build_mpsnet(official_pairing: bool = False) -> Any:
    from .temporal.mpsnet import MPSNet

    return MPSNet(official_pairing)


CARD = ModelCard(
    name="mpsnet",
    title="MPS-Net (CVPR 2022)",
    paper="Wei et al., Capturing Humans in Motion: Temporal-Attentive 3D Human Pose and Shape Estimation",
    status="complete: official checkpoints load unchanged; batch-independent MoCA (--official-batching reproduces "
           "the official pairing)",
    windows=(16,),
    default_window=16,
    backbone=SPIN_BACKBONE,
    needs_smpl=True,
    checkpoints=(
        spin_checkpoint(SOURCE.format(name="spin_model_checkpoint.pth.tar")),
        Checkpoint("mpsnet_model_best.pth.tar",
                   SOURCE.format(name="mpsnet_model_best.pth.tar")
                   + "; the README's 'Download pre-trained MPS-Net weights' link (Google Drive file "
                     "1GTy6uV5kgrhLv7Jpw8VDqDoeIVe9QC4Q) is the evaluation copy",
                   "an MPS-Net checkpoint (mpsnet_model_best.pth.tar)", wrapper="gen_state_dict",
                   signature="nonlocalblock.conv_mask_forR.", build=build_mpsnet, layout="mpsnet"),
    ),
    crop_scale=1.1,
    feature_shape=(2048,),
    window_batch=64,
    official_batch=64,
)


run = register_model(CARD)(seed_runner(CARD))
