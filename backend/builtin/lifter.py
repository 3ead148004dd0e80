"""A temporal 2D -> 3D lifter of the 12 limb joints that corrects MediaPipe's 3D bone directions.

MediaPipe's world landmarks are the built-in model's weakest evidence: on the ground-truth harness
(`bench/bench_accuracy.py --oracle`), putting the true 3D of the limb joints in their place drops
PA-MPJPE from 40-78 mm to 25-68 mm, while perfect 2D landmarks change nothing. This lifter reads
the clip's 2D landmarks of hips, knees, ankles, shoulders, elbows and wrists (81 frames around each
frame) and gives their 3D; each limb bone's direction is then a blend of MediaPipe's and the
lifter's (`LIFTER_SHARE`, more where MediaPipe cannot see the joint: `LIFTER_SHARE_UNSEEN`), MediaPipe's
bone lengths kept, before the IK and the fit use them.

Network: a dilated temporal convolution network in the style of VideoPose3D (Pavllo et al., CVPR
2019, sec. 3): a width-3 convolution to 256 channels, then residual blocks of a width-3 convolution
with dilation 3, 9, 27 and a 1x1 convolution (each followed by batch norm and ReLU), then a 1x1
convolution to 12 x 3; receptive field 81 frames. Inference is plain numpy (batch norm folded into
the convolutions), so the built-in path does not import torch.

Training (`bench/lifter/`, about 35 min on one CPU core): CMU Graphics Lab motion capture
(mocap.cs.cmu.edu, free for any use; subjects 1, 2, 3, 5, 6, 7 in the BVH conversion of the public
repository DragonForgedTheArtist/IClone-CMU-Mocap; subject 11, the harness's kick, is not used)
filmed by random synthetic cameras (heading, 0-30 deg pitch, 2-8 m, focal 0.6-1.5x the width)
with MediaPipe-like 2D noise and left/right label swaps. Input: the 12 joints' pixels minus their
box centre, over the box's larger side. Output: mid-hip-relative 3D in metres in the crop-aligned
frame of `camera.view_ray_rotation` (the frame of MediaPipe's world landmarks).

Weights: `lifter_cmu.npz` next to this file (float32 arrays named as the network's layers, read
with `allow_pickle=False`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..body import landmarks_def as lm

WEIGHTS = Path(__file__).with_name("lifter_cmu.npz")
#: MediaPipe landmarks in the lifter's joint order: left/right hip, knee, ankle, shoulder, elbow, wrist.
LIMB_LANDMARKS: tuple[int, ...] = (lm.LEFT_HIP, lm.RIGHT_HIP, lm.LEFT_KNEE, lm.RIGHT_KNEE, lm.LEFT_ANKLE,
                                   lm.RIGHT_ANKLE, lm.LEFT_SHOULDER, lm.RIGHT_SHOULDER, lm.LEFT_ELBOW,
                                   lm.RIGHT_ELBOW, lm.LEFT_WRIST, lm.RIGHT_WRIST)
#: The same order with left and right exchanged (for the mirrored pass).
MIRRORED = np.array([1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10])
#: Limb bones (parent, child) in the lifter's order: thighs, shins, upper arms, forearms.
BONES: tuple[tuple[int, int], ...] = ((0, 2), (1, 3), (2, 4), (3, 5), (6, 8), (7, 9), (8, 10), (9, 11))
#: Landmarks that move with an ankle or a wrist: heel and foot tip; pinky, index and thumb.
CARRIED: dict[int, tuple[int, ...]] = {
    lm.LEFT_ANKLE: (lm.LEFT_HEEL, lm.LEFT_TOE), lm.RIGHT_ANKLE: (lm.RIGHT_HEEL, lm.RIGHT_TOE),
    lm.LEFT_WRIST: (lm.LEFT_PINKY, lm.LEFT_INDEX, lm.LEFT_THUMB),
    lm.RIGHT_WRIST: (lm.RIGHT_PINKY, lm.RIGHT_INDEX, lm.RIGHT_THUMB),
}
#: The lifter's share of each limb bone's direction (MediaPipe keeps the rest). Measured on the harness
#: (`bench/bench_accuracy.py`, 8 clips): 0.3 lowered PA-MPJPE on the kick 78 -> 68 mm, the run 72 -> 67,
#: the walk towards and away 72 -> 65, the walk across 45 -> 41, the turn 64 -> 62, and moved the others
#: by 1 mm; 0.5 and 0.7 helped the kick more (63, 61) but cost the squat 6-14 mm (no squats in the takes).
LIFTER_SHARE = 0.3
#: The lifter's share of a bone whose end MediaPipe cannot see (visibility 0); between the two, the
#: share rises linearly as the visibility falls. An arm hidden behind the body is a guess in MediaPipe's
#: 3D, while the lifter reads it from the whole arm swing: on the harness's walk across (the far arm's
#: wrist has median visibility 0.13) PA-MPJPE 42 -> 37 mm and the elbow error 8.8 -> 6.5 deg with
#: 1.0 against a flat 0.3 (0.8: 39 mm, 7.3 deg); the other clips moved by 0-1 mm.
LIFTER_SHARE_UNSEEN = 1.0
#: Where MediaPipe sees a bone's end and the lifter turns the bone more than `DISAGREE_FROM_DEG` away
#: from MediaPipe's direction, the lifter's share fades linearly to 0 at `DISAGREE_TO_DEG`. Measured per
#: bone and frame over the harness's 8 clips (seen ends, 8 limb bones): up to 30 deg apart, blends with
#: more of the lifter were closer to the truth; 45-60 deg apart MediaPipe alone was 30 deg off and the
#: lifter 53 deg (the squat's arms held forward, a pose its training takes lack). PA-MPJPE: squat
#: 46 -> 41 mm, kick, jump and run -1 mm, the others unchanged.
DISAGREE_FROM_DEG = 30.0
DISAGREE_TO_DEG = 50.0
BN_EPS = 1e-5


@dataclass(frozen=True)
class _Layer:
    """A convolution with batch norm folded in: y[t] = sum_k W[k] @ x[t + k * dilation] + b."""

    weight: np.ndarray  # [kernel, out, in]
    bias: np.ndarray  # [out]
    dilation: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x [in, T] -> [out, T - (kernel - 1) * dilation]."""
        span = (len(self.weight) - 1) * self.dilation
        length = x.shape[1] - span
        y = self.bias[:, None] + self.weight[0] @ x[:, :length]
        for k in range(1, len(self.weight)):
            y += self.weight[k] @ x[:, k * self.dilation:k * self.dilation + length]
        return y


class Lifter:
    """The network, numpy inference. Build with `load`."""

    def __init__(self, arrays: dict[str, np.ndarray], dilations: tuple[int, ...]) -> None:
        def conv(name: str, norm: str | None, dilation: int = 1) -> _Layer:
            weight = arrays[f"{name}.weight"].astype(np.float64)  # [out, in, kernel]
            bias = arrays[f"{name}.bias"].astype(np.float64) if f"{name}.bias" in arrays else np.zeros(len(weight))
            if norm is not None:
                scale = arrays[f"{norm}.weight"] / np.sqrt(arrays[f"{norm}.running_var"] + BN_EPS)
                bias = (bias - arrays[f"{norm}.running_mean"]) * scale + arrays[f"{norm}.bias"]
                weight = weight * scale[:, None, None]
            return _Layer(np.ascontiguousarray(weight.transpose(2, 0, 1)), bias.astype(np.float64), dilation)

        self.expand = conv("expand.0", "expand.1")
        self.blocks = [(conv(f"blocks.{i}.body.0", f"blocks.{i}.body.1", d),
                        conv(f"blocks.{i}.body.4", f"blocks.{i}.body.5")) for i, d in enumerate(dilations)]
        self.out = conv("out", None)
        self.dilations = dilations
        self.receptive_field = 3 + 2 * sum(dilations)

    def forward(self, normalised: np.ndarray) -> np.ndarray:
        """[T + receptive_field - 1, 12, 2] -> [T, 12, 3] (no padding inside)."""
        x = np.maximum(self.expand(normalised.reshape(len(normalised), -1).T), 0.0)
        for (wide, narrow), dilation in zip(self.blocks, self.dilations):
            x = x[:, dilation:-dilation] + np.maximum(narrow(np.maximum(wide(x), 0.0)), 0.0)
        return self.out(x).T.reshape(-1, len(LIMB_LANDMARKS), 3)

    def lift(self, normalised: np.ndarray) -> np.ndarray:
        """A whole clip [N, 12, 2] -> [N, 12, 3], its ends padded with the edge frames; averaged with the
        mirrored clip's answer (x negated, left and right exchanged), mirrored back."""
        from threadpoolctl import threadpool_limits

        half = (self.receptive_field - 1) // 2
        padded = np.concatenate([np.repeat(normalised[:1], half, 0), normalised, np.repeat(normalised[-1:], half, 0)])
        # One BLAS thread: the same sums in the same order on any machine or worker (batch runs compare bytes).
        with threadpool_limits(limits=1, user_api="blas"):
            direct = self.forward(padded)
            mirrored = self.forward(padded[:, MIRRORED] * np.array([-1.0, 1.0]))
        return 0.5 * (direct + mirrored[:, MIRRORED] * np.array([-1.0, 1.0, 1.0]))


@lru_cache(maxsize=2)
def load(path: Path = WEIGHTS) -> Lifter:
    """The lifter from its weights file. FileNotFoundError / ValueError name the file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: the built-in lifter's weights are missing (reinstall, or run with "
                                "--lifter off)")
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    try:
        config = json.loads(str(arrays.pop("config")))
        return Lifter(arrays, tuple(int(d) for d in config["dilations"]))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a lifter weights file ({exc})") from exc


def normalise_2d(pixels: np.ndarray) -> np.ndarray:
    """[N, 12, 2] pixels -> per frame: minus the joints' box centre, over the box's larger side."""
    lo, hi = pixels.min(axis=-2, keepdims=True), pixels.max(axis=-2, keepdims=True)
    size = np.maximum((hi - lo).max(axis=-1, keepdims=True), 1e-6)
    return (pixels - 0.5 * (lo + hi)) / size


def fill_undetected(pixels: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """[N, K, 2] pixels, linearly interpolated over frames without a detection (ends held)."""
    if valid.all() or not valid.any():
        return pixels
    frames = np.arange(len(pixels))
    out = pixels.copy()
    for joint in range(pixels.shape[1]):
        for axis in range(2):
            out[:, joint, axis] = np.interp(frames, frames[valid], pixels[valid, joint, axis])
    return out


def blend_limbs(mine: np.ndarray, lifted: np.ndarray, share: float | np.ndarray) -> np.ndarray:
    """Two estimates of the 12 joints [N, 12, 3] (mid-hip-relative, `LIMB_LANDMARKS` order) -> hips and
    shoulders blended as positions, `share` of the way towards `lifted`; each limb bone (`BONES`, parents
    first) then hangs from its blended parent with `mine`'s length and the normalised blend of the two
    unit directions, with its child joint's share. share: one number, or [N, 12] per frame and joint."""
    shares = np.broadcast_to(np.asarray(share, np.float64), mine.shape[:2])[..., None]  # [N, 12, 1]
    new = (1.0 - shares) * mine + shares * lifted
    for parent, child in BONES:
        bone, guess = mine[:, child] - mine[:, parent], lifted[:, child] - lifted[:, parent]
        length = np.linalg.norm(bone, axis=-1, keepdims=True)
        weight = shares[:, child]
        direction = (1.0 - weight) * bone / np.maximum(length, 1e-9) + weight * guess / np.maximum(
            np.linalg.norm(guess, axis=-1, keepdims=True), 1e-9)
        new[:, child] = new[:, parent] + length * direction / np.maximum(
            np.linalg.norm(direction, axis=-1, keepdims=True), 1e-9)
    return new


def visibility_shares(visibility: np.ndarray, share: float = LIFTER_SHARE,
                      unseen_share: float = LIFTER_SHARE_UNSEEN) -> np.ndarray:
    """MediaPipe's visibility [N, 12] (0-1) of the limb joints -> the lifter's share per frame and joint:
    `share` where the joint is seen, rising linearly to `unseen_share` (never below `share`) where not."""
    hidden = 1.0 - np.clip(np.asarray(visibility, np.float64), 0.0, 1.0)
    return share + (max(unseen_share, share) - share) * hidden


def agreement_shares(mine: np.ndarray, lifted: np.ndarray, shares: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """The lifter's shares [N, 12] (`visibility_shares`) with each limb bone's seen part faded where the
    two estimates of its direction disagree (`DISAGREE_FROM_DEG` -> `DISAGREE_TO_DEG`); the part its
    hidden end adds is kept. mine, lifted [N, 12, 3] (`LIMB_LANDMARKS` order); visibility [N, 12]."""
    out = np.array(shares, np.float64)
    seen = np.clip(np.asarray(visibility, np.float64), 0.0, 1.0)
    for parent, child in BONES:
        a, b = mine[:, child] - mine[:, parent], lifted[:, child] - lifted[:, parent]
        cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
        angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        keep = np.clip((DISAGREE_TO_DEG - angle) / (DISAGREE_TO_DEG - DISAGREE_FROM_DEG), 0.0, 1.0)
        base = out[:, child] * seen[:, child]          # what a seen end gets ...
        out[:, child] = out[:, child] - base + base * keep  # ... faded; the hidden end's part stays
    return out


def corrected_world(world: np.ndarray, landmarks2d: np.ndarray, valid: np.ndarray, share: float = LIFTER_SHARE,
                    lifter: Lifter | None = None, unseen_share: float = LIFTER_SHARE_UNSEEN) -> np.ndarray:
    """MediaPipe's world landmarks [N, 33, 3] (crop-aligned, metres) with each limb bone turned towards the
    lifter's direction by `share` where its end joint is seen and up to `unseen_share` where MediaPipe's
    visibility says it is not (`visibility_shares`; share 0: unchanged), its length kept; hips and
    shoulders blended as positions about the mid-hip; heels, foot tips and hand landmarks carried with
    their ankle or wrist. Frames without a detection are returned unchanged. landmarks2d [N, 33, 3]
    pixels (x, y, visibility)."""
    valid = np.asarray(valid, bool)
    out = np.asarray(world, np.float64).copy()
    if share <= 0.0 or not valid.any():
        return out
    lifter = lifter or load()
    ids = list(LIMB_LANDMARKS)
    limbs2d = np.asarray(landmarks2d, np.float64)[:, ids]
    pixels = fill_undetected(limbs2d[..., :2], valid)
    lifted = lifter.lift(normalise_2d(pixels))
    lifted -= 0.5 * (lifted[:, 0:1] + lifted[:, 1:2])
    mid_hip = 0.5 * (out[:, lm.LEFT_HIP] + out[:, lm.RIGHT_HIP])
    mine = out[:, ids] - mid_hip[:, None]
    shares = agreement_shares(mine, lifted, visibility_shares(limbs2d[..., 2], share, unseen_share), limbs2d[..., 2])
    new = blend_limbs(mine, lifted, shares)
    for end, followers in CARRIED.items():
        k = ids.index(end)
        out[np.ix_(valid, list(followers))] += (new[valid, k] - mine[valid, k])[:, None]
    out[np.ix_(valid, ids)] = new[valid] + mid_hip[valid, None]
    return out


__all__ = ["DISAGREE_FROM_DEG", "DISAGREE_TO_DEG", "LIFTER_SHARE", "LIFTER_SHARE_UNSEEN", "LIMB_LANDMARKS", "Lifter",
           "agreement_shares", "blend_limbs", "corrected_world",
           "fill_undetected", "load", "normalise_2d", "visibility_shares"]
