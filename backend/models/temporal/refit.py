"""ReFit (Wang & Daniilidis, ICCV 2023) as one network: HRNet-W48 backbone + ReFit's heads.

It sits in `temporal/` because this is the network layer above `backbones` and `heads`; ReFit itself
is per frame (no window), and TAR's temporal modules build on it here.
Names equal the official `checkpoint_best.pth.tar` state dict (`model` entry) minus the SMPL
layers (`smpl.`, `smpl_male.`, `smpl_female.`), which come from the user's SMPL file instead.

Public API (stable; TAR builds on it):
- `ReFit()`: `backbone` (`HRNetW48ReFit`) plus everything of `heads.refit.ReFitHeads`.
  - `forward(img, camera, vertices, iters=5) -> list[Estimate]` (one per iteration; last = result);
  - `forward_features(feature, z, camera, vertices, iters=5)`: the same from backbone outputs
    (feature [B,720,64,64], z [B,384]), i.e. the per-frame part TAR reuses;
  - `initial(z, camera) -> (Estimate, Hidden)`: the first estimate and init_layer's hidden states.
- `SKIP_PREFIXES`, `ALIASES`: what a loader drops and the 18 key pairs that share storage.
"""

from __future__ import annotations

import torch

from ..backbones.hrnet import HRNetW48ReFit
from ..heads.refit import ITERATIONS, CropCamera, Estimate, Hidden, ReFitHeads, VerticesFn

#: The official file's SMPL-layer buffers (licensed model data): dropped, built from the user's SMPL file.
SKIP_PREFIXES = ("smpl.", "smpl_male.", "smpl_female.")
_ALIAS_LEAVES = ("0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked")
#: (attribute name, ModuleList name) pairs of the same tensors in the official state dict.
ALIASES = tuple((f"backbone.downsample_stage_{i + 1}.{leaf}", f"backbone.downsamples.{i}.{leaf}")
                for i in range(3) for leaf in _ALIAS_LEAVES)


class ReFit(ReFitHeads):
    """REFIT(backbone=hrnet_w48, ptype=marker, radius=3, hidden_dim=32, local_dim=256, corr_layer=2,
    reg_layer=1) at inference: img [B,3,256,256] ImageNet-normalised RGB crops."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = HRNetW48ReFit()

    def initial(self, z: torch.Tensor, camera: CropCamera) -> tuple[Estimate, Hidden]:
        hidden = self.initial_hidden(z)
        return self.initial_estimate(hidden, camera.bbox_info()), hidden

    def forward_features(self, feature: torch.Tensor, z: torch.Tensor, camera: CropCamera, vertices: VerticesFn,
                         iters: int = ITERATIONS) -> list[Estimate]:
        """ReFit's per-frame forward from backbone outputs; hidden states reset to zero after the first estimate."""
        estimate, _ = self.initial(z, camera)
        corr = self.correlation(feature)
        return self.refine(corr, camera, estimate, self.zero_hidden(len(z)), vertices, iters)

    def forward(self, img: torch.Tensor, camera: CropCamera, vertices: VerticesFn,
                iters: int = ITERATIONS) -> list[Estimate]:
        feature, z = self.backbone(img)
        return self.forward_features(feature, z, camera, vertices, iters)
