"""Train the prototype lifter on CMU takes (the cache of `mocap_data.py`) seen by random synthetic cameras.

Per sample: a window of a take (30 fps), random bone lengths, maybe mirrored (left <-> right), turned
to a random heading, filmed by a camera pitched 0-30 deg down (a few slightly up) at 2-8 m, focal
0.6-1.5x the image width, the person anywhere in the frame; 2D noise like MediaPipe's (white + slowly
drifting, heavy-tailed outliers, short left/right label swaps of a limb or of the whole body). Input:
the box-normalised 2D; target: the true mid-hip-relative 3D in the crop-aligned frame of the noisy
mid-hip pixel. Subject 006 is held out for validation (the iClone conversion, whose knees never
straighten: a model that learns straight legs scores worse on it, so judge weights on the harness).

Optional augmentations (off by default; measured in the issue-8 session-7 note): `--straighten` opens
a share of the windows' knees and elbows (`straighten`), `--hip-raise` raises the 2D input's hips along
the torso as MediaPipe's hip landmarks are raised.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lifter_model as lm
import numpy as np
import torch

from backend.geometry import camera  # noqa: E402  (lifter_model put the repository on the path)
from bench import accuracy_metrics as am  # noqa: E402

SIZES = ((640, 360), (1280, 720), (1920, 1080), (360, 640), (720, 1280), (1080, 1920), (960, 720))
VAL_SUBJECT = "cc_006_"


def load_takes(path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    with np.load(path) as data:
        train = [data[k].astype(np.float64) for k in data.files if not k.startswith(VAL_SUBJECT)]
        val = [data[k].astype(np.float64) for k in data.files if k.startswith(VAL_SUBJECT)]
    return train, val


def window(take: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    if len(take) < length:  # a short take: hold its ends
        extra = length - len(take)
        before = rng.integers(0, extra + 1)
        return np.concatenate([np.repeat(take[:1], before, 0), take, np.repeat(take[-1:], extra - before, 0)])
    start = rng.integers(0, len(take) - length + 1)
    return take[start:start + length]


def reshape_body(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random proportions: hip/shoulder width, torso, thigh, shin, upper arm, forearm (symmetric), overall."""
    s = rng.uniform(0.88, 1.12, 6)
    out = x.copy()
    mid_hip = 0.5 * (x[:, 0] + x[:, 1])
    mid_sh = 0.5 * (x[:, 6] + x[:, 7])
    new_mid_sh = mid_hip + s[1] * (mid_sh - mid_hip)
    for side in (0, 1):
        out[:, side] = mid_hip + s[0] * (x[:, side] - mid_hip)
        out[:, 2 + side] = out[:, side] + s[2] * (x[:, 2 + side] - x[:, side])
        out[:, 4 + side] = out[:, 2 + side] + s[3] * (x[:, 4 + side] - x[:, 2 + side])
        out[:, 6 + side] = new_mid_sh + s[0] * (x[:, 6 + side] - mid_sh)
        out[:, 8 + side] = out[:, 6 + side] + s[4] * (x[:, 8 + side] - x[:, 6 + side])
        out[:, 10 + side] = out[:, 8 + side] + s[5] * (x[:, 10 + side] - x[:, 8 + side])
    return out * rng.uniform(0.85, 1.1)


#: (upper joint, hinge joint, end joint) of the knees and elbows, LIMB_JOINTS indices.
HINGES = ((0, 2, 4), (1, 3, 5), (6, 8, 10), (7, 9, 11))


def straighten(x: np.ndarray, rng: np.random.Generator, least: float = 0.0) -> np.ndarray:
    """Open each knee and elbow of a window by a random share of its smallest bend in that window.

    Many CMU takes never straighten a knee (per take, 1st percentile of knee flexion 15-35 deg in subjects
    5 and 6 and the DAZ files, 0-4 deg in subject 7 and the ASF/AMC takes): a calibration offset, which
    taught the lifter that a straight leg is bent. The end joint turns about the hinge's own axis, so the
    bend's motion is kept and no joint over-extends. The share opened is uniform in [least, 1].
    x: [L, 12, 3] metres -> same.
    """
    out = x.copy()
    for upper, hinge, end in HINGES:
        u = x[:, upper] - x[:, hinge]
        v = x[:, end] - x[:, hinge]
        axis = np.cross(u, v)
        norm = np.linalg.norm(axis, axis=-1, keepdims=True)
        if np.any(norm < 1e-9):
            continue
        axis /= norm
        cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
        smallest_bend = np.pi - np.arccos(np.clip(cos, -1.0, 1.0)).max()
        delta = smallest_bend * rng.uniform(least, 1.0)
        # v turned by delta about the axis, away from u (axis is perpendicular to v)
        out[:, end] = x[:, hinge] + v * np.cos(delta) + np.cross(axis, v) * np.sin(delta)
    return out


def yaw(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def sample(takes: list[np.ndarray], weights: np.ndarray, length: int, rng: np.random.Generator,
           straighten_share: float = 0.0, straighten_least: float = 0.0, hip_raise_m: float = 0.0):
    """One synthetic sequence -> (normalised 2D [L, 12, 2], target 3D [L, 12, 3])."""
    x = window(takes[rng.choice(len(takes), p=weights)], length, rng)
    if rng.random() < straighten_share:
        x = straighten(x, rng, straighten_least)
    x = reshape_body(x, rng)
    if rng.random() < 0.5:  # mirror: x -> -x and left <-> right
        x = x[:, lm.FLIP] * np.array([-1.0, 1.0, 1.0])
    x = x @ yaw(rng.uniform(0, 2 * np.pi)).T
    # speed change by resampling
    if rng.random() < 0.3:
        rate = rng.uniform(0.7, 1.3)
        t = np.clip(np.arange(length) * rate, 0, length - 1)
        i0 = np.floor(t).astype(int)
        i1 = np.minimum(i0 + 1, length - 1)
        w = (t - i0)[:, None, None]
        x = (1 - w) * x[i0] + w * x[i1]
    w_img, h_img = SIZES[rng.integers(len(SIZES))]
    focal = max(w_img, h_img) * rng.uniform(0.6, 1.5) if rng.random() < 0.5 else w_img * rng.uniform(0.7, 1.4)
    pitch = np.radians(rng.uniform(-5, 30))
    dist = rng.uniform(2.0, 8.0)
    target = 0.5 * (x[:, 0] + x[:, 1]).mean(axis=0)
    forward = np.array([0.0, -np.sin(pitch), np.cos(pitch)])  # heading absorbed by the yaw above
    centre_w = target - dist * forward
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])  # world -> camera rows
    # aim off-centre: turn the camera by up to ~0.35 of the half field of view
    off = rng.uniform(-0.35, 0.35, 2) * np.array([w_img, h_img]) / focal
    aim = lm.rotation_between(np.array([0.0, 0.0, 1.0]), np.array([off[0], off[1], 1.0]))
    cam = (x - centre_w) @ rot.T @ aim  # aim^T applied to row vectors
    cam[..., 2] = np.maximum(cam[..., 2], 0.5)
    seen = cam.copy()
    if hip_raise_m > 0.0:  # MediaPipe's hip landmarks sit above the hip joint centres (--hip-raise)
        up = 0.5 * (cam[:, 6] + cam[:, 7]) - 0.5 * (cam[:, 0] + cam[:, 1])
        up /= np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
        seen[:, 0:2] += up[:, None] * rng.uniform(0.0, hip_raise_m)
        seen[..., 2] = np.maximum(seen[..., 2], 0.5)
    px = focal * seen[..., :2] / seen[..., 2:] + np.array([w_img / 2, h_img / 2])
    # MediaPipe-like noise, scaled by the person's size in pixels
    height = np.median(np.ptp(px[..., 1], axis=-1))
    height = max(height, 30.0)
    sigma = height * rng.uniform(0.004, 0.015)
    noise = rng.standard_normal(px.shape) * sigma
    drift = np.cumsum(rng.standard_normal(px.shape) * sigma * 0.3, axis=0)
    drift -= drift.mean(axis=0)
    drift *= min(1.0, 1.5 * sigma / (np.abs(drift).mean() + 1e-9))
    noisy = px + noise + drift
    outlier = rng.random(px.shape[:2]) < rng.uniform(0.0, 0.04)
    noisy[outlier] += rng.standard_normal((int(outlier.sum()), 2)) * height * rng.uniform(0.03, 0.12)
    if rng.random() < 0.3:  # a limb pair swapped for a few frames
        pair = lm.MIRROR[rng.integers(len(lm.MIRROR))]
        a = rng.integers(0, length)
        b = min(length, a + rng.integers(1, 12))
        noisy[a:b, list(pair)] = noisy[a:b, list(pair[::-1])]
    if rng.random() < 0.1:  # the whole body swapped for a few frames
        a = rng.integers(0, length)
        b = min(length, a + rng.integers(1, 10))
        noisy[a:b] = noisy[a:b, lm.FLIP]
    hip_px = 0.5 * (noisy[:, 0] + noisy[:, 1])
    turn = camera.view_ray_rotation(hip_px, float(focal), (w_img, h_img))
    rel = cam - 0.5 * (cam[:, 0:1] + cam[:, 1:2])
    target3d = np.einsum("nji,nkj->nki", turn, rel)  # turn^T @ rel
    return lm.normalise_2d(noisy), target3d


def batch(takes, weights, size, length, rng, straighten_share=0.0, straighten_least=0.0, hip_raise_m=0.0):
    xs, ys = zip(*(sample(takes, weights, length, rng, straighten_share, straighten_least, hip_raise_m)
                   for _ in range(size)))
    return torch.from_numpy(np.stack(xs).astype(np.float32)), torch.from_numpy(np.stack(ys).astype(np.float32))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/lifter_mocap.npz")
    ap.add_argument("--out", type=Path, default=Path("/tmp/lifter_weights.pt"))
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--frames", type=int, default=64, help="output frames per sample")
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--dilations", default="3,9,27", help="receptive field 3 + 2 * sum")
    ap.add_argument("--dropout", type=float, default=0.15)
    ap.add_argument("--init", type=Path, help="start from these weights (a second cycle)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--straighten", type=float, default=0.0,
                    help="share of training windows whose knees and elbows are opened (see straighten)")
    ap.add_argument("--hip-raise", type=float, default=0.0,
                    help="the 2D input's hips raised along the torso by up to this (m): MediaPipe's hip landmarks "
                         "sit a median 3.2 cm above the harness's hip joints, other joints 0.5-1.5 cm")
    ap.add_argument("--straighten-least", type=float, default=0.0,
                    help="least share of a window's smallest bend that is opened")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train, val = load_takes(Path(args.data))
    weights = np.array([len(t) for t in train], float)
    weights /= weights.sum()
    config = {"ch": args.channels, "dilations": tuple(int(d) for d in args.dilations.split(",")),
              "dropout": args.dropout}
    net = lm.Lifter(**config)
    if args.init:
        net.load_state_dict(torch.load(args.init, map_location="cpu")["weights"])
    rf = net.receptive_field
    length = rf + args.frames - 1
    vrng = np.random.default_rng(123)
    vweights = np.array([len(t) for t in val], float)
    vweights /= vweights.sum()
    val_x, val_y = batch(val, vweights, 64, length, vrng)
    half = (rf - 1) // 2
    val_y = val_y[:, half:half + args.frames]
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    start = time.time()
    budget = args.minutes * 60.0
    step, best, mpjpe = 0, float("inf"), float("nan")

    def save(path: Path) -> None:
        torch.save({"config": config, "weights": net.state_dict(), "step": step, "val_mpjpe_mm": mpjpe}, path)

    print(f"train takes {len(train)} ({sum(len(t) for t in train)} frames), val {len(val)}; rf {rf}; "
          f"params {sum(p.numel() for p in net.parameters())}", flush=True)
    while time.time() - start < budget:
        frac = (time.time() - start) / budget
        for group in opt.param_groups:
            group["lr"] = args.lr * (0.5 * (1 + np.cos(np.pi * frac))) + 2e-5
        net.train()
        x, y = batch(train, weights, args.batch, length, rng, args.straighten, args.straighten_least, args.hip_raise)
        y = y[:, half:half + args.frames]
        pred = net(x)
        loss = (pred - y).norm(dim=-1).mean()
        vel = ((pred[:, 1:] - pred[:, :-1]) - (y[:, 1:] - y[:, :-1])).norm(dim=-1).mean()
        opt.zero_grad()
        (loss + 0.5 * vel).backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            net.eval()
            with torch.no_grad():
                vp = net(val_x)
            mpjpe = float((vp - val_y).norm(dim=-1).mean()) * 1000
            pa = float(am.pa_mpjpe(vp[:, ::8].reshape(-1, 12, 3).numpy().astype(np.float64),
                                         val_y[:, ::8].reshape(-1, 12, 3).numpy().astype(np.float64),
                                         joints=tuple(range(12))).mean()) * 1000
            print(f"step {step} {time.time() - start:.0f}s train {loss.item() * 1000:.1f} mm  "
                  f"val MPJPE {mpjpe:.1f} mm PA {pa:.1f} mm", flush=True)
            if mpjpe < best:
                best = mpjpe
                save(args.out)
    save(args.out.with_name(args.out.stem + "_last" + args.out.suffix))
    print(f"done: {step} steps, best val MPJPE {best:.1f} mm", flush=True)


if __name__ == "__main__":
    main()
