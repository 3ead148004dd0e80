"""`backend preview` on the real sample clip, with a motion file whose pose is known exactly.

The expected joint pixels are computed here (pinhole by hand, and the left wrist through an
independent chain of rotations), so a mirrored, mis-scaled, wrong-camera or wrong-frame overlay fails.
"""

from __future__ import annotations

import argparse
import io
import json
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest

from backend.commands import preview as pv
from backend.core.errors import EXIT_STATUS, BackendError, Cancelled, ErrorCode
from backend.core.events import EventStream
from backend.core.motion_file import Motion, write_motion_file
from backend.geometry.skeleton import JOINT_INDEX, forward_kinematics
from tests.conftest import run_backend, signal_after_first_event

ROOT = Path(__file__).resolve().parents[2]
VIDEO = ROOT / "samples" / "single_person_demo.mp4"  # 40 frames, 1080x1920, 12 fps
WIDTH, HEIGHT, FRAMES = 1080, 1920, 40
FOCAL = 1500.0  # deliberately not the default (1920), so using the wrong camera shows

# An SMPL-like rest skeleton (body frame, y up, metres).
REST = np.array([
    [-0.002, -0.223, 0.028], [0.070, -0.317, 0.021], [-0.068, -0.314, 0.023], [-0.003, -0.105, 0.001],
    [0.103, -0.690, 0.017], [-0.106, -0.695, 0.018], [0.005, 0.027, 0.002], [0.088, -1.088, -0.027],
    [-0.088, -1.092, -0.025], [0.002, 0.083, 0.029], [0.119, -1.143, 0.093], [-0.120, -1.143, 0.098],
    [-0.014, 0.291, -0.034], [0.077, 0.192, -0.005], [-0.074, 0.193, -0.009], [0.011, 0.357, 0.019],
    [0.195, 0.239, -0.015], [-0.196, 0.239, -0.018], [0.452, 0.230, -0.049], [-0.451, 0.227, -0.044],
    [0.713, 0.234, -0.045], [-0.711, 0.235, -0.047], [0.796, 0.227, -0.061], [-0.796, 0.225, -0.061],
])
INVALID_ROWS = range(10, 15)
# Joints far enough from every other joint to be sampled, with their expected side colour.
PROBES = {"left_hand": pv.LEFT_RGB, "right_hand": pv.RIGHT_RGB, "left_foot": pv.LEFT_RGB,
          "right_foot": pv.RIGHT_RGB, "head": pv.CENTRE_RGB, "pelvis": pv.CENTRE_RGB,
          "left_wrist": pv.LEFT_RGB}


def rot(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix about a unit axis (written out here, independent of backend.skeleton)."""
    x, y, z = axis
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def arm_angles(n: int = FRAMES) -> np.ndarray:
    return np.linspace(-1.0, 1.0, n)


def make_motion(path: Path, with_camera: bool = True) -> Path:
    """Upright, facing the camera, drifting left to right, the left arm sweeping up through the clip."""
    poses = np.zeros((FRAMES, 24, 3))
    poses[:, 0] = [np.pi, 0.0, 0.0]  # body y-up -> camera y-down, facing the camera
    poses[:, JOINT_INDEX["left_shoulder"], 2] = arm_angles()  # about the body's z: arm up/down
    poses[:, JOINT_INDEX["right_elbow"]] = [0.0, 0.0, -0.6]
    transl = np.stack([np.linspace(-0.3, 0.3, FRAMES), np.full(FRAMES, 0.3), np.full(FRAMES, 3.5)], -1)
    valid = np.ones(FRAMES, bool)
    valid[list(INVALID_ROWS)] = False
    motion = Motion(poses=poses, betas=np.zeros(10), transl=transl, valid=valid, frame_ids=np.arange(FRAMES),
                    times=np.arange(FRAMES) / 12.0,
                    fps=12.0, bboxes=np.ones((FRAMES, 4)), cam=np.ones((FRAMES, 3)), rest_joints=REST,
                    model="test", window=1, focal_length=FOCAL if with_camera else None,
                    image_size=(WIDTH, HEIGHT) if with_camera else None)
    return write_motion_file(path, motion)


def expected_pixels(path: Path, focal: float = FOCAL) -> np.ndarray:
    """[N, 24, 2] video pixels: FK of the file, then the pinhole written out by hand."""
    with np.load(path) as data:
        joints = forward_kinematics(data["poses"], data["rest_joints"], data["transl"])
    return joints[..., :2] / joints[..., 2:] * focal + np.array([WIDTH / 2, HEIGHT / 2])


def left_wrist_by_hand(row: int) -> np.ndarray:
    """The left wrist through its own chain: only the root and the left shoulder rotate."""
    root = rot(np.array([1.0, 0, 0]), np.pi)
    shoulder = rot(np.array([0, 0, 1.0]), arm_angles()[row])
    transl = np.array([np.linspace(-0.3, 0.3, FRAMES)[row], 0.3, 3.5])
    li, le, lw = JOINT_INDEX["left_shoulder"], JOINT_INDEX["left_elbow"], JOINT_INDEX["left_wrist"]
    position = REST[0] + root @ (REST[li] - REST[0]) + root @ shoulder @ (REST[lw] - REST[li]) + transl
    assert le  # the elbow is on the way, unrotated, so it adds nothing beyond REST[lw] - REST[li]
    return position[:2] / position[2] * FOCAL + np.array([WIDTH / 2, HEIGHT / 2])


def colour_distance(pixel: np.ndarray, rgb: tuple[int, int, int]) -> float:
    return float(np.abs(pixel.astype(int) - np.array(rgb)).max())


def nearest_skeleton_colour(pixel: np.ndarray) -> tuple[int, int, int]:
    return min(pv.SKELETON_RGB, key=lambda rgb: colour_distance(pixel, rgb))


def video_frames(ids: list[int]) -> dict[int, np.ndarray]:
    capture = cv2.VideoCapture(str(VIDEO))
    frames, index = {}, 0
    while len(frames) < len(ids):
        ok, frame = capture.read()
        assert ok
        if index in ids:
            frames[index] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        index += 1
    capture.release()
    return frames


def read_png(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def motion_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_motion(tmp_path_factory.mktemp("motion") / "motion.npz")


def test_left_wrist_chain_matches_fk(motion_path: Path) -> None:
    """Guards the test itself: the hand-made chain and FK agree, so the probes below mean what they say."""
    pixels = expected_pixels(motion_path)
    for row in (0, 20, 39):
        assert np.allclose(pixels[row, JOINT_INDEX["left_wrist"]], left_wrist_by_hand(row), atol=1e-3)


def test_png_contact_sheet_draws_the_skeleton_where_the_camera_projects_it(motion_path: Path,
                                                                          tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    result = pv.preview(motion_path, VIDEO, out)
    assert out.is_file() and result.out == out
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]  # no temp file left
    sheet = read_png(out)
    assert (sheet.shape[1], sheet.shape[0]) == result.size
    assert len(result.tiles) == pv.DEFAULT_TILES
    ids = [t.frame_id for t in result.tiles]
    assert ids[0] == 0 and ids[-1] == FRAMES - 1 and ids == sorted(ids)  # spread over the whole clip
    pixels = expected_pixels(motion_path)
    frames = video_frames(ids)
    for tile in result.tiles:
        tile_w, tile_h = round(WIDTH * tile.scale_x), round(HEIGHT * tile.scale_y)
        image = sheet[tile.y:tile.y + tile_h, tile.x:tile.x + tile_w]
        for name, rgb in PROBES.items():
            u, v = pixels[tile.row, JOINT_INDEX[name]] * (tile.scale_x, tile.scale_y)
            pixel = image[round(v), round(u)]
            assert colour_distance(pixel, rgb) <= 8, (tile.frame_id, name, pixel)
        # The person's left shows on the image's right when they face the camera.
        left_u = pixels[tile.row, JOINT_INDEX["left_hand"], 0]
        assert left_u > pixels[tile.row, JOINT_INDEX["right_hand"], 0]
        # Far from the skeleton the tile is the right video frame, untouched: mostly identical pixels
        # to that frame downscaled the same way, and clearly not another frame.
        video = cv2.resize(frames[tile.frame_id], (tile_w, tile_h), interpolation=cv2.INTER_AREA)
        corner = (slice(20, tile_h // 3), slice(10, tile_w // 6))  # top-left: no joints there
        same = np.mean(np.all(image[corner] == video[corner], axis=-1))
        assert same > 0.95, (tile.frame_id, same)
        assert all(colour_distance(p, rgb) > 40 for p in image[corner].reshape(-1, 3)[::97]
                   for rgb in pv.SKELETON_RGB)
        # Interpolated frames, and only they, carry the amber border.
        border = image[1, tile_w // 2]
        assert (colour_distance(border, pv.INVALID_RGB) <= 8) == (tile.row in INVALID_ROWS), tile.frame_id
    assert any(not t.valid for t in result.tiles) and any(t.valid for t in result.tiles)
    other = cv2.resize(frames[ids[-1]], (tile_w, tile_h), interpolation=cv2.INTER_AREA)
    first = result.tiles[0]
    wrong = np.mean(np.all(sheet[first.y:first.y + tile_h, first.x:first.x + tile_w][corner] == other[corner], -1))
    assert wrong < 0.5


def test_png_without_camera_keys_uses_the_stated_default(tmp_path: Path) -> None:
    motion = make_motion(tmp_path / "nocam.npz", with_camera=False)
    result = pv.preview(motion, VIDEO, tmp_path / "nocam.png", frames="20:30", tiles=2)
    assert [t.frame_id for t in result.tiles] == [20, 29]
    sheet = read_png(tmp_path / "nocam.png")
    pixels = expected_pixels(motion, focal=float(max(WIDTH, HEIGHT)))
    for tile in result.tiles:
        for name, rgb in PROBES.items():
            u, v = pixels[tile.row, JOINT_INDEX[name]] * (tile.scale_x, tile.scale_y)
            assert colour_distance(sheet[tile.y + round(v), tile.x + round(u)], rgb) <= 8, name


def test_mp4_has_every_selected_frame_with_the_skeleton(motion_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "overlay.mp4"
    events = io.StringIO()
    result = pv.preview(motion_path, VIDEO, out, frames="5:25", events=EventStream(events, min_interval_s=0))
    assert result.frame_ids == tuple(range(5, 25))
    assert [p.name for p in tmp_path.iterdir()] == ["overlay.mp4"]
    progress = [json.loads(line) for line in events.getvalue().splitlines()]
    assert progress[-1] == {"event": "progress", "stage": "preview", "done": 20, "total": 20}
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    assert len(decoded) == 20
    width, height = result.size
    assert (width, height) == (720, 1280) and decoded[0].shape == (height, width, 3)
    scale = np.array([width / WIDTH, height / HEIGHT])
    pixels = expected_pixels(motion_path)
    for index, image in enumerate(decoded):
        row = 5 + index
        for name, rgb in PROBES.items():
            u, v = pixels[row, JOINT_INDEX[name]] * scale
            pixel = image[round(v), round(u)]  # lossy codec: the nearest skeleton colour must be the right one
            assert nearest_skeleton_colour(pixel) == rgb and colour_distance(pixel, rgb) < 60, (row, name, pixel)
        assert all(colour_distance(image[y, x], rgb) > 40 for y, x in ((300, 60), (200, 30))
                   for rgb in pv.SKELETON_RGB)
        border = image[2, width // 2]
        assert (colour_distance(border, pv.INVALID_RGB) < 60) == (row in INVALID_ROWS), row


def test_cli_entry_parses_runs_and_reports_done(motion_path: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="backend")
    pv.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli.png"
    args = parser.parse_args(["preview", str(motion_path), "--video", str(VIDEO), "--out", str(out),
                              "--frames", "0:8", "--tiles", "3"])
    stream = io.StringIO()
    assert args.func(args, events=EventStream(stream)) == 0
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[-1] == {"event": "done", "out": str(out), "frames": 3}
    assert all(line["event"] in ("progress", "done") for line in lines)
    assert out.is_file()


@pytest.mark.parametrize(("change", "code", "words"), [
    ({"out": "overlay.gif"}, ErrorCode.BAD_ARGUMENT, ".png (contact sheet) or .mp4"),
    ({"video": "missing.mp4"}, ErrorCode.VIDEO_NOT_FOUND, "missing.mp4"),
    ({"motion": "missing.npz"}, ErrorCode.BAD_ARGUMENT, "motion file not found"),
    ({"motion": "garbage.npz"}, ErrorCode.BAD_ARGUMENT, "is not a motion file (a text file)"),
    ({"video": "garbage.npz"}, ErrorCode.VIDEO_UNREADABLE, "garbage.npz"),
    ({"out": "no_such_dir/overlay.png"}, ErrorCode.OUT_NOT_WRITABLE, "does not exist"),
    ({"frames": "100:200"}, ErrorCode.BAD_ARGUMENT, "no rows"),
    ({"frames": "9:3"}, ErrorCode.BAD_ARGUMENT, "START < END"),
    ({"tiles": 0}, ErrorCode.BAD_ARGUMENT, "--tiles"),
])
def test_errors_name_the_problem_and_leave_nothing(motion_path: Path, tmp_path: Path, change: dict,
                                                   code: ErrorCode, words: str) -> None:
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    kwargs = {"motion": motion_path, "video": VIDEO, "out": "overlay.png", "frames": None, "tiles": 4}
    kwargs.update(change)
    for key in ("motion", "video", "out"):
        kwargs[key] = tmp_path / kwargs[key]  # absolute paths stay as they are
    before = sorted(tmp_path.iterdir())
    with pytest.raises(BackendError) as caught:
        pv.preview(kwargs["motion"], kwargs["video"], kwargs["out"], frames=kwargs["frames"], tiles=kwargs["tiles"])
    assert caught.value.code == code
    assert words in caught.value.message
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize("suffix", [".png", ".mp4"])
def test_cancel_midway_leaves_no_file(motion_path: Path, tmp_path: Path, suffix: str) -> None:
    calls = []

    def check_cancel() -> None:
        calls.append(1)
        if len(calls) > 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        pv.preview(motion_path, VIDEO, tmp_path / f"out{suffix}", check_cancel=check_cancel)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_survives_a_failed_run(motion_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "keep.png"
    out.write_bytes(b"previous")
    with pytest.raises(BackendError):
        pv.preview(motion_path, VIDEO, out, frames="300:400")
    assert out.read_bytes() == b"previous"


def test_through_the_real_cli(motion_path: Path, tmp_path: Path) -> None:
    """`python -m backend preview` as the user runs it: JSON lines only on stdout, exit codes of the contract."""
    out = tmp_path / "cli.png"
    result = run_backend("preview", str(motion_path), "--video", str(VIDEO), "--out", str(out), "--tiles", "4")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.events[-1] == {"event": "done", "out": str(out), "frames": 4}
    assert read_png(out).shape[2] == 3

    bad = run_backend("preview", str(motion_path), "--video", str(VIDEO), "--out", str(tmp_path / "x.gif"))
    assert bad.returncode == EXIT_STATUS[ErrorCode.BAD_ARGUMENT]
    assert bad.last_error()["code"] == "BAD_ARGUMENT" and "x.gif" in bad.last_error()["message"]
    missing = run_backend("preview", str(motion_path), "--video", str(tmp_path / "nope.mp4"), "--out", str(out))
    assert missing.returncode == EXIT_STATUS[ErrorCode.VIDEO_NOT_FOUND]
    assert "nope.mp4" in missing.last_error()["message"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli.png"]


def test_sigterm_stops_an_mp4_and_leaves_nothing(motion_path: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    first, events, status = signal_after_first_event(
        ["preview", str(motion_path), "--video", str(VIDEO), "--out", str(out_dir / "o.mp4"), "--max-side", "0"],
        signal.SIGTERM)
    assert first["event"] == "progress" and first["stage"] == "preview"
    assert events[-1]["event"] == "error" and events[-1]["code"] == "CANCELLED", events[-3:]
    assert status == EXIT_STATUS[ErrorCode.CANCELLED]
    assert list(out_dir.iterdir()) == []


def test_another_video_than_the_motions_is_warned_about(motion_path: Path, tmp_path: Path) -> None:
    with np.load(motion_path) as data:
        motion = {k: data[k] for k in data.files}
    same = {**motion, "meta": np.str_(json.dumps({"video": str(VIDEO)}))}
    assert pv.video_mismatch(same, VIDEO, 12.0) is None
    other = {**motion, "meta": np.str_(json.dumps({"video": "/takes/other_take.mov"}))}
    assert "made from other_take.mov" in pv.video_mismatch(other, VIDEO, 12.0)
    assert "rate is 12 fps and the video's 30 fps" in pv.video_mismatch(same, VIDEO, 30.0)
    # Through the command: the warning is an event, and the preview is still drawn.
    path = tmp_path / "other.npz"
    np.savez(path, **other)
    events = io.StringIO()
    pv.preview(path, VIDEO, tmp_path / "sheet.png", events=EventStream(events, min_interval_s=0))
    warnings = [json.loads(line) for line in events.getvalue().splitlines() if '"warning"' in line]
    assert [w["code"] for w in warnings] == ["PREVIEW_VIDEO"] and "other_take.mov" in warnings[0]["message"]
    assert (tmp_path / "sheet.png").is_file()
