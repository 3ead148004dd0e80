"""Registry entries of the seed papers' models. Imported by `registry.all_specs()`; must not import torch.

Windows:
- TCMR: trained and evaluated with T = 16 (paper, sec. 4; demo `seq_len=16`). Its GRUs accept any
  length with the current frame at T//2, so 8 (quicker start-up on short clips, less context) and
  32 (more context) are offered as well; both are outside what the paper evaluated.
- MPS-Net: HAFI reads the hard-coded frames 4..12, so only T = 16.
- STAF: SAFM reads the hard-coded frames 0..8, so only T = 9.
- STR: trained and evaluated with T = 16 (paper, sec. 3.1); TTR's four fragments and the two halves
  of Algorithm 1 are sized for it, so only T = 16.

Weight files are listed under the exact names the official demos load, with where each official
README says to download them. The SMPL-derived data the demos also read (smpl_mean_params.npz,
STAF's mesh_downsampling.npz) is stored inside the checkpoints as buffers (init_pose/init_shape/
init_cam, Dmap), so no extra file is needed; SMPL itself comes from the user's SMPL_NEUTRAL.npz.
"""

from __future__ import annotations

from .registry import ModelSpec, WeightFile, register

TCMR_SOURCE = ("TCMR_RELEASE README, 'Quick demo': `source scripts/get_base_data.sh` downloads base_data.zip "
               "(Google Drive id 1WmSYmDWdMSXyNU6ZcFQVF8ULtR_S9L3b); the file is data/base_data/{name} inside it")
MPSNET_SOURCE = ("MPS-Net_release README, 'Evaluation': base_data.zip from scripts/get_base_data.sh "
                 "(Google Drive id 11LXqYqjLKBn2wOcNbDT7DX0Hbj80ynbp); the file is data/base_data/{name} inside it")
STAF_SOURCE = ("STAF README, 'Download the Required Data': the zip at Google Drive file "
               "1PNrnAbnQ52jmddfFVKGr08CszVwHu0q9; the file is data/base_data/{name} inside it")
SPIN_NOTE = "; it is SPIN's HMR checkpoint (nkolot/SPIN, scripts/fetch_data.sh, data/model_checkpoint.pt)"

register(ModelSpec(
    name="tcmr",
    title="TCMR (CVPR 2021)",
    paper="Choi et al., Beyond Static Features for Temporally Consistent 3D Human Pose and Shape from a Video",
    windows=(8, 16, 32),
    default_window=16,
    backbone="SPIN HMR ResNet-50 (pooled 2048-d)",
    weight_files=(
        WeightFile("spin_model_checkpoint.pth.tar",
                   TCMR_SOURCE.format(name="spin_model_checkpoint.pth.tar") + SPIN_NOTE),
        WeightFile("tcmr_demo_model.pth.tar", TCMR_SOURCE.format(name="tcmr_demo_model.pth.tar")),
    ),
    needs_smpl=True,
    runner=".models.seed_runner:run_tcmr",
    status="complete: official checkpoints load unchanged; window 16 is the trained one (8 and 32 are extrapolations)",
))

register(ModelSpec(
    name="mpsnet",
    title="MPS-Net (CVPR 2022)",
    paper="Wei et al., Capturing Humans in Motion: Temporal-Attentive 3D Human Pose and Shape Estimation",
    windows=(16,),
    default_window=16,
    backbone="SPIN HMR ResNet-50 (pooled 2048-d)",
    weight_files=(
        WeightFile("spin_model_checkpoint.pth.tar",
                   MPSNET_SOURCE.format(name="spin_model_checkpoint.pth.tar") + SPIN_NOTE),
        WeightFile("mpsnet_model_best.pth.tar",
                   MPSNET_SOURCE.format(name="mpsnet_model_best.pth.tar")
                   + "; the README's 'Download pre-trained MPS-Net weights' link (Google Drive file "
                     "1GTy6uV5kgrhLv7Jpw8VDqDoeIVe9QC4Q) is the evaluation copy"),
    ),
    needs_smpl=True,
    runner=".models.seed_runner:run_mpsnet",
    status="complete: official checkpoints load unchanged; batch-independent MoCA (--official-batching reproduces "
           "the official pairing)",
))

register(ModelSpec(
    name="staf",
    title="STAF (2023)",
    paper="Yao et al., STAF: 3D Human Mesh Recovery from Video with Spatio-Temporal Alignment Fusion",
    windows=(9,),
    default_window=9,
    backbone="PyMAF ResNet-50 (layer4 maps 2048x7x7)",
    weight_files=(
        WeightFile("base_model.pt", STAF_SOURCE.format(name="base_model.pt")),
        WeightFile("3dpw_model_best.pth.tar", STAF_SOURCE.format(name="3dpw_model_best.pth.tar")),
    ),
    needs_smpl=True,
    runner=".models.seed_runner:run_staf",
    status="complete: official checkpoints load unchanged; batch-independent TCFM, every row its own frame",
))

STR_TRAIN = ("no official weights exist (the authors never published them): train it with `python -m backend "
             "convert-dataset DB.pt DATA_DIR` once per TCMR/VIBE database, then `python -m backend train str --data "
             "TRAIN_DIR --val VAL_DIR --run-dir RUN_DIR`, which writes {name} into the weights folder "
             "(or --out FILE: then copy it there); README, 'STR'")

register(ModelSpec(
    name="str",
    title="STR (BMVC 2022)",
    paper="Zhang et al., Spatio-temporal tendency reasoning for human body pose and shape estimation from videos",
    windows=(16,),
    default_window=16,
    backbone="SPIN HMR ResNet-50 (pooled 2048-d)",
    weight_files=(
        WeightFile("spin_model_checkpoint.pth.tar",
                   TCMR_SOURCE.format(name="spin_model_checkpoint.pth.tar") + SPIN_NOTE),
        WeightFile("str_model.pth.tar", STR_TRAIN.format(name="str_model.pth.tar")),
    ),
    needs_smpl=True,
    runner=".models.seed_runner:run_str",
    status="complete: built from the paper (no public code). No official weights exist: train str_model.pth.tar "
           "with `python -m backend train str --data TRAIN_DIR --val VAL_DIR --run-dir RUN_DIR` (it is written "
           "into the weights folder; README, 'STR')",
))

register(ModelSpec(
    name="tar",
    title="TAR (2023)",
    paper="Temporal-aware refinement for video-based human pose and shape recovery",
    windows=(9,),
    default_window=9,
    backbone="SPIN HMR ResNet-50 (pooled 2048-d)",
    weight_files=(),
    needs_smpl=True,
    runner=".models.unreleased:run_tar",
    status="not finished: no public code or weights; the architecture (window 9, local window 5) exists only in "
           "the paper and is not implemented or trained here, so it cannot produce motion",
))
