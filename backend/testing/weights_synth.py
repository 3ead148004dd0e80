"""Random weights written in each official checkpoint layout, for tests, CI and benchmarks.

Keys, shapes, dtypes and the top-level wrapper come from a layout manifest (the JSON copied from
the reference into tests/data). The content is random but keeps the networks numerically sane:
BatchNorm at identity, He-initialised convolutions with the last BN of each bottleneck damped,
small regressor output layers (as SPIN initialises them), SPIN-like mean parameters, the exact
21x21 grid and a row-stochastic mesh downsampling matrix. Training checkpoints carry the extra
entries the official trainers save, including `performance` as a numpy scalar.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

DTYPES = {"int64": torch.int64, "float32": torch.float32, "float64": torch.float64}


#: Manifests kept in their own file beside official_layouts.json (name -> the entry's key inside it).
EXTRA_LAYOUTS = {"refit_layout.json": "refit"}


def load_layouts(path: Path) -> dict[str, Any]:
    """official_layouts.json plus the manifests beside it (ReFit's), each as an entry of the same form."""
    path = Path(path)
    layouts = json.loads(path.read_text())
    for file_name, key in EXTRA_LAYOUTS.items():
        extra = path.with_name(file_name)
        if extra.is_file():
            layouts[key] = manifest_entry(json.loads(extra.read_text())[key])
    return layouts


def manifest_entry(raw: dict[str, Any]) -> dict[str, Any]:
    """ReFit's manifest (refit_layout.json) in official_layouts.json's form: file relative to the weights
    folder (ReFit's `data/pretrain/`), wrapper key, keys, a key -> dtype map, total parameter count,
    and the alias pairs and SMPL prefixes it states."""
    dtypes = {k: "int64" for k in raw["keys"] if k.endswith("num_batches_tracked")}
    dtypes |= {k: "int64" for k in raw["dtypes_not_float32"]["listed"]}
    return {"file": raw["file_names"][0].removeprefix("data/pretrain/"), "wrapper": raw["wrapper"]["weights_key"],
            "keys": raw["keys"], "dtypes_not_float32": dtypes, "param_count_total": raw["param_count"],
            "aliases": [tuple(pair) for pair in raw["aliases"]], "skip_prefixes": list(raw["skip_prefixes"]),
            "param_count_by_module": raw["param_count_by_module"]}


def _mean_pose() -> torch.Tensor:
    """6D mean pose: identity joints, root turned 180 degrees about x (upright in the y-down camera)."""
    pose = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(24)
    pose[:6] = torch.tensor([1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
    return pose[None]


def _dmap(shape: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    rows, cols = shape
    dmap = torch.zeros(rows, cols)
    idx = torch.randint(0, cols, (rows, 4), generator=gen)
    dmap.scatter_(1, idx, 0.25)
    return dmap / dmap.sum(dim=1, keepdim=True)


def _value(key: str, shape: list[int], dtype: str, keys: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    size = tuple(shape)
    leaf = key.rsplit(".", 1)[-1]
    owner = key[: -len(leaf)]
    if dtype == "int64":
        return torch.zeros(size, dtype=torch.int64)
    if ".smpl." in key or key.startswith("smpl."):
        return torch.zeros(size, dtype=DTYPES.get(dtype, torch.float32))
    if leaf == "init_pose":
        return _mean_pose()
    if leaf == "init_shape":
        return torch.zeros(size)
    if leaf == "init_cam":
        return torch.tensor([[0.9, 0.0, 0.0]])
    if leaf == "points_grid":
        lin = torch.linspace(-1, 1, 21)
        xv, yv = torch.meshgrid(lin, lin, indexing="ij")
        return torch.stack([xv.reshape(-1), yv.reshape(-1)])[None]
    if leaf == "Dmap":
        return _dmap((size[0], size[1]), gen)
    if f"{owner}running_mean" in keys:  # BatchNorm
        if leaf == "running_var":
            return torch.ones(size)
        if leaf == "weight":
            return torch.full(size, 0.2 if owner.endswith("bn3.") else 1.0)  # damp each residual branch
        return torch.zeros(size)
    if leaf == "bias":
        if any(k in key for k in ("decpose", "decshape", "deccam")):
            return torch.zeros(size)
        return (torch.rand(size, generator=gen) - 0.5) * 0.02
    if len(size) == 4 and key.endswith("conv_mask_forR.weight"):
        return (torch.rand(size, generator=gen) * 2 - 1) * 0.5
    if len(size) == 4:  # He-initialised (transposed) convolutions: unit gain through each ReLU
        fan = size[0] * size[2] * size[3] / 4 if key.startswith("deconv_layers") else size[1] * size[2] * size[3]
        return torch.randn(size, generator=gen) * math.sqrt(2.0 / fan)
    fan_in = int(np.prod(size[1:])) if len(size) > 1 else size[0]
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    if any(k in key for k in ("decpose", "decshape", "deccam")):
        bound *= 0.01
    return (torch.rand(size, generator=gen) * 2 - 1) * bound


def random_state_dict(entry: dict[str, Any], seed: int = 0) -> dict[str, torch.Tensor]:
    """Every key of a manifest entry with its exact shape and dtype, random sane content."""
    gen = torch.Generator().manual_seed(seed)
    keys = entry["keys"]
    dtypes = entry.get("dtypes_not_float32", {})
    return {k: _value(k, shape, dtypes.get(k, "float32"), keys, gen) for k, shape in keys.items()}


def training_extras(kind: str) -> dict[str, Any]:
    """What the official trainers save beside the weights (optimizer state kept tiny)."""
    optimizer = {"state": {}, "param_groups": [{"lr": 5e-5, "betas": (0.9, 0.999), "eps": 1e-8,
                                                "weight_decay": 0.0, "amsgrad": False, "params": [0, 1]}]}
    if kind == "gen_state_dict":
        return {"epoch": 30, "performance": np.float64(52.1), "gen_optimizer": optimizer,
                "disc_motion_state_dict": {"linear.weight": torch.zeros(2, 2)},
                "disc_motion_optimizer": optimizer}
    return {"optimizer": optimizer, "epoch": 12, "batch_idx": 0, "batch_size": 64, "total_step_count": 100}


def write_checkpoint(path: Path, entry: dict[str, Any], seed: int = 0, legacy: bool = False,
                     extra_keys: dict[str, torch.Tensor] | None = None) -> Path:
    """One official file: {wrapper: state_dict, ...training extras}; `legacy` = pre-1.6 torch format."""
    state = random_state_dict(entry, seed)
    if extra_keys:
        state.update(extra_keys)
    payload = {entry["wrapper"]: state, **training_extras(entry["wrapper"])}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    return path


def write_str_weights(weights_dir: Path, layouts: dict[str, Any], seed: int = 0, config: Any = None) -> list[Path]:
    """SPIN's file (official layout) and a randomly initialised STR in our layout (the paper's sizes by default)."""
    from ..models.temporal.str_net import FILE_NAME, STR
    from ..training.str_task import init_regressor_from_spin, save_str

    spin = write_checkpoint(Path(weights_dir) / layouts["spin_hmr"]["file"], layouts["spin_hmr"], seed + 1, legacy=True)
    torch.manual_seed(seed + 2)
    model = STR(config)
    if model.config.fusion == 2048:
        init_regressor_from_spin(model, spin)  # as training starts
    save_str(model, Path(weights_dir) / FILE_NAME, 0, {})
    return [spin, Path(weights_dir) / FILE_NAME]


def write_refit_checkpoint(path: Path, entry: dict[str, Any], seed: int = 0) -> Path:
    """ReFit's `checkpoint_best.pth.tar` with random weights, in the manifest's exact layout.

    All 1987 keys in manifest order with their shapes and dtypes, under `model`, beside the other
    entries ReFit's trainer saves (`BaseTrainer.save_checkpoint`). Each of the 18 alias pairs is
    one tensor under two names (saved once, shared, as torch saves the real model's state dict). The
    27 SMPL-layer buffers are zeros of their real shapes and dtypes, stored as expanded views of
    one element so the file stays ~300 MB (they are licensed data and dropped when loading).
    """
    gen = torch.Generator().manual_seed(seed)
    keys, dtypes = entry["keys"], entry["dtypes_not_float32"]
    twin = {second: first for first, second in entry["aliases"]}
    smpl = tuple(entry["skip_prefixes"])
    state: dict[str, torch.Tensor] = {}
    for key, shape in keys.items():
        dtype = dtypes.get(key, "float32")
        if key in twin:
            state[key] = state[twin[key]]
        elif key.startswith(smpl):
            state[key] = torch.zeros((1,) * len(shape), dtype=DTYPES[dtype]).expand(*shape)
        else:
            state[key] = _value(key, shape, dtype, keys, gen)
    payload = {"epoch": 40, "batch": 0, "global_step": 100000, "model": state,
               "optimizer": training_extras("model")["optimizer"], "lr_scheduler": {"last_epoch": 40},
               "dataperm": torch.randperm(16, generator=gen), "performance": 41.2, "best_performance": 41.2}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def write_model_weights(model: str, weights_dir: Path, layouts: dict[str, Any], seed: int = 0) -> list[Path]:
    """Every checkpoint file a model's card lists, under its official name, in the card's test layout.

    A checkpoint whose card keeps only a key prefix (STAF's base_model.pt is a whole PyMAF file) gets
    a few keys outside that prefix too, so the loader's filter is exercised.
    """
    from ..models.registry import get_card

    if model == "str":  # no official layout exists: a random STR written the way training writes it
        return write_str_weights(weights_dir, layouts, seed)
    if model == "refit":  # aliased tensors and SMPL buffers: its own writer
        return [write_refit_checkpoint(Path(weights_dir) / layouts["refit"]["file"], layouts["refit"], seed + 1)]
    paths = []
    for index, spec in enumerate(get_card(model).checkpoints, start=1):
        extra = None
        if spec.only:
            extra = {"regressor.0.fc1.weight": torch.zeros(4, 4), "deconv_layers.0.weight": torch.zeros(4, 4, 4, 4)}
        paths.append(write_checkpoint(Path(weights_dir) / spec.file, layouts[spec.layout], seed + index,
                                      legacy=spec.legacy_format, extra_keys=extra))
    return paths
