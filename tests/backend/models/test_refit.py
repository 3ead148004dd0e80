"""ReFit: the official layout loads strict, the network reproduces the official code, the camera is the
full-image pinhole, and `run --model refit` writes a valid motion file through the CLI.

The random official-layout file is written once per session by conftest's `weights_dir` (about 300 MB,
3 s); the network runs 1 forward (2 crops) in-process and 40 frames in the CLI test (about 60 s on
one loaded core).
"""

from __future__ import annotations

import io
import json
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from backend.core.errors import BackendError, ErrorCode
from backend.core.motion_file import REQUIRED_KEYS, load_motion_file
from backend.geometry import camera as pinhole
from backend.models.checkpoints import load_checkpoint
from backend.models.heads.refit import MARKER_VERTICES, CropCamera, marker_lookup
from backend.models.refit import CARD, WEIGHTS_PATH, crop_camera, load_refit, official_state, to_output
from backend.models.temporal.refit import ALIASES, ReFit
from tests.conftest import SINGLE, run_backend

DATA = Path(__file__).resolve().parents[2] / "data"
PARAMS = 74_922_475  # the manifest's param_count (each aliased tensor once)


@pytest.fixture(scope="module")
def refit(weights_dir: Path) -> ReFit:
    return load_refit(weights_dir / WEIGHTS_PATH)[0].eval()


def test_random_file_has_the_exact_official_layout(weights_dir: Path, layouts: dict[str, Any]) -> None:
    entry = layouts["refit"]
    ckpt = load_checkpoint(weights_dir / WEIGHTS_PATH)  # the safe loader (weights_only=True)
    state = ckpt["model"]
    assert list(state) == list(entry["keys"])  # every key, in state-dict order
    assert len(state) == 1987 and len(entry["aliases"]) == 18
    for key, shape in entry["keys"].items():
        assert tuple(state[key].shape) == tuple(shape), key
        assert str(state[key].dtype) == f"torch.{entry['dtypes_not_float32'].get(key, 'float32')}", key
    for first, second in entry["aliases"]:
        assert state[first].data_ptr() == state[second].data_ptr(), (first, second)  # one tensor, two names
    assert {"epoch", "global_step", "optimizer", "best_performance"} <= set(ckpt)


def test_official_file_loads_strict_with_the_manifest_parameter_count(weights_dir: Path, refit: ReFit,
                                                                      layouts: dict[str, Any]) -> None:
    state = load_checkpoint(weights_dir / WEIGHTS_PATH)["model"]
    ours = refit.state_dict()
    skipped = [k for k in state if k not in ours]
    assert len(skipped) == 27 and all(k.startswith(("smpl.", "smpl_male.", "smpl_female.")) for k in skipped)
    assert len(ours) == 1960
    for key, value in ours.items():
        assert torch.equal(value, state[key]), key
    count = sum(p.numel() for p in refit.parameters())
    print(f"\nReFit parameters: {count:,} (manifest {layouts['refit']['param_count_total']:,})")
    assert count == PARAMS == layouts["refit"]["param_count_total"]
    by_module = {name: sum(p.numel() for p in module.parameters()) for name, module in refit.named_children()}
    expected = {k: v for k, v in layouts["refit"]["param_count_by_module"].items() if not k.startswith("smpl")}
    assert by_module == expected


def test_network_reproduces_the_official_forward(refit: ReFit, smpl_layer: Any) -> None:
    """Outputs the official REFIT code gave on this same random file and input (tests/data, recorded once)."""
    from backend.body.smpl_model import smpl_forward

    rec = json.loads((DATA / "refit_official_outputs.json").read_text())
    img = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(rec["input_seed"]))
    cam = CropCamera(torch.tensor(rec["center"]), torch.tensor(rec["scale"]) * 200, torch.tensor(rec["img_focal"]),
                     torch.tensor(rec["img_center"]))
    with torch.inference_mode():
        steps = refit(img, cam, lambda rot, betas: smpl_forward(smpl_layer, rot, betas)[0])
        trans = cam.full_translation(steps[-1].cam)
    final = steps[-1]
    assert len(steps) == 5
    np.testing.assert_allclose(final.cam.numpy(), rec["pred_cam"], atol=1e-4)
    np.testing.assert_allclose(final.pose6d.numpy(), rec["pred_pose"], atol=1e-4)
    np.testing.assert_allclose(final.shape.numpy(), rec["pred_shape"], atol=1e-4)
    np.testing.assert_allclose(trans.numpy(), rec["trans_full"], rtol=1e-4)
    assert not np.allclose(final.cam.numpy(), rec["init_cam"], atol=1e-4)  # the iterations did move the estimate


def test_loader_drops_smpl_strips_a_prefix_and_handles_aliases(tmp_path: Path) -> None:
    first, second = ALIASES[0]
    one = torch.arange(4.0)
    state = {f"module.{first}": one, "module.smpl.v_template": torch.zeros(3), "module.init_cam": torch.ones(1, 3)}
    kept = official_state(state, tmp_path / "f.tar")
    assert set(kept) == {first, second, "init_cam"} and kept[second] is one
    kept = official_state({second: one}, tmp_path / "f.tar")
    assert kept[first] is one
    with pytest.raises(BackendError) as info:
        official_state({first: one, second: one + 1}, tmp_path / "f.tar")
    assert info.value.code == ErrorCode.WEIGHTS_INVALID and first in info.value.message


def test_wrong_and_unsafe_files_are_refused_naming_them(tmp_path: Path, weights_dir: Path) -> None:
    wrong = tmp_path / WEIGHTS_PATH
    wrong.parent.mkdir()
    wrong.write_bytes((weights_dir / "spin_model_checkpoint.pth.tar").read_bytes())
    with pytest.raises(BackendError) as info:
        load_refit(wrong)
    assert info.value.code == ErrorCode.WEIGHTS_INVALID and str(wrong) in info.value.message
    assert "SPIN backbone" in info.value.message  # says what the file is instead
    unsafe = tmp_path / "unsafe.pth.tar"
    torch.save({"model": {}, "cfg": pickle.loads(pickle.dumps(Path("x")))}, unsafe)  # a pickled Python object
    with pytest.raises(BackendError) as info:
        load_refit(unsafe)
    assert info.value.code == ErrorCode.WEIGHTS_INVALID and "convert-checkpoint" in info.value.message


def test_box_vector_and_crop_match_the_official_probes() -> None:
    """REFIT.bbox_est on the reference probe, and DetectDataset's box -> (centre, scale 1.2 x max side / 200)."""
    cam = CropCamera(torch.tensor([[1063.0526123046875, 495.8621826171875]]), torch.tensor([2.403069257736206 * 200]),
                     torch.tensor([2202.9072265625]), torch.tensor([[960.0, 540.0]]))
    np.testing.assert_allclose(cam.bbox_info().numpy(), [[0.13098476827144623, -0.05610126629471779,
                                                          -0.36379075050354004]], atol=1e-6)
    box = np.array([[900.0, 600.0, 200.0, 600.0]])  # xyxy [800, 300, 1000, 900] as (cx, cy, w, h)
    probe = crop_camera(box, math.hypot(1920, 1080), (1920, 1080), "cpu")
    assert probe.side.item() == pytest.approx(3.6 * 200) and probe.focal.item() == pytest.approx(2202.9072265625)
    assert probe.center.tolist() == [[900.0, 600.0]] and probe.principal.tolist() == [[960.0, 540.0]]


def test_crop_camera_is_the_full_image_pinhole(smpl_layer: Any) -> None:
    """A body placed at a known translation: the crop camera that ReFit would predict for it maps back to
    that translation, and its crop projection equals the full-image pinhole projection, cropped."""
    from backend.body.smpl_model import smpl_forward

    size, focal = (1920, 1080), math.hypot(1920, 1080)
    truth = np.array([[0.6, -0.2, 4.0], [-1.1, 0.4, 7.5]])
    centre = np.array([[1180.0, 500.0], [700.0, 610.0]])
    side = np.array([700.0, 380.0])
    s = 2 * focal / (side * truth[:, 2])  # invert REFIT.get_trans for these boxes
    tx = truth[:, 0] - 2 * (centre[:, 0] - 960.0) / (side * s)
    ty = truth[:, 1] - 2 * (centre[:, 1] - 540.0) / (side * s)
    cam_t = torch.tensor(np.stack([s, tx, ty], -1), dtype=torch.float64)
    crop = CropCamera(torch.tensor(centre), torch.tensor(side), torch.full((2,), focal, dtype=torch.float64),
                      torch.tensor([[960.0, 540.0]] * 2, dtype=torch.float64))
    np.testing.assert_allclose(crop.full_translation(cam_t).numpy(), truth, rtol=1e-12)
    rot = torch.eye(3).expand(2, 24, 3, 3).clone()
    rot[:, 0] = torch.tensor([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]])  # upright in the y-down camera
    verts = smpl_forward(smpl_layer, rot, torch.zeros(2, 10))[0][:, list(MARKER_VERTICES)].double()
    pixels = pinhole.project(verts.numpy() + truth[:, None], focal, size)  # the stated camera's own maths
    expected = (pixels - (centre - side[:, None] / 2)[:, None]) * (256 / side)[:, None, None]
    np.testing.assert_allclose(crop.to_crop(verts, cam_t).numpy(), expected, atol=1e-9)
    origin = crop.to_crop(torch.zeros(2, 1, 3, dtype=torch.float64), cam_t)[:, 0].numpy()
    np.testing.assert_allclose(origin, 128 + 128 * s[:, None] * np.stack([tx, ty], -1), atol=1e-9)  # weak = full at X=0


def test_marker_lookup_samples_its_own_channel_with_x_slow() -> None:
    corr = torch.zeros(1, 2, 64, 64)
    corr[0, 0, 20, 30] = 1.0  # marker 0: impulse at x=30, y=20
    corr[0, 1] = torch.arange(64.0)[None, :] + 100 * torch.arange(64.0)[:, None]  # marker 1: value = x + 100 y
    out = marker_lookup(corr, torch.tensor([[[29.0, 20.0], [10.25, 5.5]]]))
    assert out.shape == (1, 2, 49)
    assert out[0, 0].argmax().item() == 7 * (1 + 3) + 3  # x offset +1 is the slow index (REFIT.lookup)
    i, j = np.meshgrid(np.arange(-3, 4), np.arange(-3, 4), indexing="ij")
    np.testing.assert_allclose(out[0, 1].numpy(), ((10.25 + i) + 100 * (5.5 + j)).ravel(), rtol=1e-6)  # bilinear


def test_output_keeps_each_frame_pelvis_with_one_clip_betas(smpl_layer: Any) -> None:
    from backend.body.smpl_model import smpl_forward

    n = 3
    rng = np.random.default_rng(0)
    pose6d = np.tile(np.array([1, 0, 0, 1, 0, 0], np.float32), (n, 24))
    shapes = rng.normal(0, 1.0, (n, 10)).astype(np.float32)
    transl = np.array([[0.1, 0.2, 3.0], [0.0, 0.1, 3.2], [-0.2, 0.0, 2.9]], np.float32)
    frames = {"pose6d": pose6d, "shape": shapes, "cam": np.zeros((n, 3), np.float32), "transl": transl}
    out = to_output(smpl_layer, frames, np.ones(n, bool), 2202.9)
    eye = torch.eye(3).expand(n, 24, 3, 3)
    pelvis = smpl_forward(smpl_layer, eye, torch.from_numpy(shapes))[1][:, 0].numpy() + transl  # the network's pelvis
    np.testing.assert_allclose(out.joints3d[:, 0], pelvis, atol=1e-5)
    np.testing.assert_array_equal(out.betas, np.median(shapes, axis=0))
    assert out.focal_length == pytest.approx(2202.9) and out.poses.shape == (n, 24, 3)


@pytest.mark.slow
def test_run_refit_through_the_cli(tmp_path: Path, weights_dir: Path, smpl_dir: Path) -> None:
    out = tmp_path / "refit.npz"
    result = run_backend("run", str(SINGLE), "--model", "refit", "--out", str(out), "--weights-dir", str(weights_dir),
                         "--smpl-dir", str(smpl_dir), timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.events[-1] == {"event": "done", "out": str(out)}
    motion = load_motion_file(out)
    assert set(REQUIRED_KEYS) <= set(motion) and str(motion["model"]) == "refit"
    assert motion["poses"].shape == (40, 24, 3) and len(motion["frame_ids"]) == 40
    for key in ("poses", "betas", "transl", "cam", "rest_joints", "joints3d"):
        assert np.isfinite(motion[key]).all(), key
    meta = json.loads(str(motion["meta"]))
    width, height = (int(v) for v in motion["image_size"])
    assert meta["camera"]["focal_length_px"] == pytest.approx(math.hypot(width, height))
    assert meta["crop_scale"] == 1.2 and meta["iterations"] == 5 and not meta["view_ray_root"]
    assert np.all(motion["transl"][:, 2] > 0)
    stages = {e["stage"] for e in result.events if e["event"] == "progress"}
    assert {"crops", "features", "refine", "smpl"} <= stages


def test_models_and_doctor_name_the_official_file_and_folder(tmp_path: Path) -> None:
    listing = run_backend("models", "--json", "--weights-dir", str(tmp_path))
    row = next(r for r in json.loads(listing.stdout)["models"] if r["name"] == "refit")
    assert row["missing"] == ["refit_all/checkpoint_best.pth.tar"] and row["windows"] == [] and not row["ready"]
    doctor = run_backend("doctor", "--json", "--weights-dir", str(tmp_path), "--smpl-dir", str(tmp_path))
    checks = {c["name"]: c["message"] for c in json.loads(doctor.stdout.splitlines()[-1])["checks"]}
    message = checks["model refit"]
    assert "refit_all/checkpoint_best.pth.tar" in message and "19fWadMoAFwxjVVXqS6MkLbOqii22-eCx" in message
    assert CARD.crop_scale == 1.2 and CARD.windows == () and CARD.finished


def test_marker_subset_poses_like_the_full_smpl_layer(smpl_layer: Any) -> None:
    from backend.body.smpl_model import smpl_forward
    from backend.body.smpl_subset import SmplVertexSubset
    from backend.models.heads.rotation import rot6d_to_rotmat

    gen = torch.Generator().manual_seed(3)
    rot = rot6d_to_rotmat(torch.randn(3, 144, generator=gen)).view(3, 24, 3, 3)
    betas = torch.randn(3, 10, generator=gen)
    with torch.inference_mode():
        full = smpl_forward(smpl_layer, rot, betas)[0][:, list(MARKER_VERTICES)]
        part = SmplVertexSubset(smpl_layer, MARKER_VERTICES)(rot, betas)
    assert part.shape == (3, 67, 3)
    np.testing.assert_allclose(part.numpy(), full.numpy(), atol=2e-6)


def _synthetic_frame() -> np.ndarray:
    """The frame the official crops in tests/data were cut from (pure numpy, so every machine makes it alike)."""
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:360, 0:480]
    base = 128 + 90 * np.sin(x / 9.0)[..., None] * np.cos(y / 13.0)[..., None] * np.array([1.0, 0.6, -0.8])
    return np.clip(base + rng.normal(0, 20, (360, 480, 3)), 0, 255).astype(np.uint8)


def test_crop_equals_the_official_crop() -> None:
    """ReFit's `imutils.crop` (skimage 0.24 resize, recorded once): shrinking, partly outside the frame, growing."""
    from backend.tracking.crops import crop_image_resized

    ref = np.load(DATA / "refit_crops_official.npz")
    frame = _synthetic_frame()
    for box, official in zip(ref["boxes"], ref["crops"]):
        ours = crop_image_resized(frame, box, 1.2, 64)
        assert ours.shape == official.shape == (64, 64, 3)
        assert np.abs(ours.astype(int) - official.astype(int)).max() <= 1, box


def _request(weights_dir: Path, smpl_dir: Path, n: int, cancel: Any = None, focal_given: bool = False) -> Any:
    from backend.core.events import EventStream
    from backend.models.base import ModelRequest
    from backend.tracking.track import Track
    from backend.tracking.video import probe

    info = probe(SINGLE)
    boxes = np.tile(np.array([540.0, 1000.0, 500.0, 1200.0], np.float32), (n, 1))
    track = Track(0, np.arange(n, dtype=np.int32), np.ones(n, bool), boxes, np.zeros((n, 33, 3), np.float32),
                  np.zeros((n, 33, 3), np.float32), (info.width, info.height))
    return ModelRequest(video=info, track=track, window=None, device="cpu", weights_dir=weights_dir,
                        smpl_dir=smpl_dir, threads=1, focal_length=1500.0, events=EventStream(stream=io.StringIO()),
                        check_cancel=cancel or (lambda: None), options={"focal_length_given": focal_given})


def test_focal_is_refits_default_unless_given(weights_dir: Path, smpl_dir: Path) -> None:
    from backend.models.refit import refit_focal

    width, height = _request(weights_dir, smpl_dir, 1).track.image_size
    assert refit_focal(_request(weights_dir, smpl_dir, 1)) == (pytest.approx(math.hypot(width, height)),
                                                               "ReFit default sqrt(W^2 + H^2)")
    assert refit_focal(_request(weights_dir, smpl_dir, 1, focal_given=True)) == (1500.0, "--focal-length")


def test_runner_stops_before_the_network_when_cancelled(weights_dir: Path, smpl_dir: Path) -> None:
    from backend.models.refit import run

    def cancel() -> None:
        raise BackendError(ErrorCode.CANCELLED, "cancelled")

    with pytest.raises(BackendError) as info:
        run(_request(weights_dir, smpl_dir, 8, cancel))  # checked after the first chunk is cut, before its forward
    assert info.value.code == ErrorCode.CANCELLED


def test_runner_names_the_missing_file_and_folder(tmp_path: Path, smpl_dir: Path) -> None:
    from backend.models.refit import run

    with pytest.raises(BackendError) as info:
        run(_request(tmp_path, smpl_dir, 1))
    assert info.value.code == ErrorCode.WEIGHTS_MISSING
    assert "refit_all/checkpoint_best.pth.tar (from ReFit README" in info.value.message
