"""Panel and preferences draw, the models list and window control, Install Backend and Check, the modal step."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from types import ModuleType

import bpy
import pytest
from blender_helpers import MODULE, submodule

STAND_IN = Path(__file__).resolve().parents[1] / "addon" / "stand_in"


class RecordingLayout:
    """Stands in for UILayout: records labels and operators, and checks every drawn property exists."""

    def __init__(self, log: dict[str, list[str]]) -> None:
        self.log = log
        self.enabled = True

    def _child(self, *_args: object, **_kwargs: object) -> RecordingLayout:
        return RecordingLayout(self.log)

    row = column = box = split = _child

    def separator(self, **_kwargs: object) -> None:
        pass

    def prop(self, data: bpy.types.bpy_struct, name: str, **_kwargs: object) -> None:
        assert name in data.bl_rna.properties, f"drawn property {name!r} does not exist"
        self.log["props"].append(name)

    def label(self, text: str = "", **_kwargs: object) -> None:
        self.log["labels"].append(text)

    def operator(self, idname: str, **_kwargs: object) -> object:
        category, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, category), name), idname
        self.log["operators"].append(idname)
        return type("OperatorProperties", (), {})()

    def progress(self, factor: float = 0.0, text: str = "", **_kwargs: object) -> None:
        assert 0.0 <= factor <= 1.0
        self.log["progress"].append(text)


def draw_panel(ext: ModuleType) -> dict[str, list[str]]:
    log: dict[str, list[str]] = {"props": [], "labels": [], "operators": [], "progress": []}
    panel_self = type("PanelSelf", (), {"layout": RecordingLayout(log)})()
    submodule(ext, "ui.panel").VIDEO_MOCAP_PT_main.draw(panel_self, bpy.context)
    return log


def draw_preferences(ext: ModuleType) -> dict[str, list[str]]:
    """What the add-on's preferences draw, recorded by kind (props, labels, operators, progress)."""
    prefs = bpy.context.preferences.addons[MODULE].preferences
    log: dict[str, list[str]] = {"props": [], "labels": [], "operators": [], "progress": []}
    prefs_self = type("PrefsSelf", (), {"layout": RecordingLayout(log), "bl_rna": prefs.bl_rna,
                                        **{name: getattr(prefs, name) for name in
                                           ("backend_python", "weights_dir", "smpl_dir", "device")}})()
    type(prefs).draw(prefs_self, bpy.context)
    return log


def finish_task(task: object, timeout: float = 120) -> None:
    """Drive a background task the way bpy.app.timers would (there is no event loop in background)."""
    deadline = time.monotonic() + timeout
    while task._tick() is not None:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_panel_draws_every_control(clean_scene: ModuleType) -> None:
    settings = bpy.context.scene.video_mocap
    settings.target, settings.use_frame_range, settings.person_mode = "EXISTING", True, "ID"
    log = draw_panel(clean_scene)
    for name in ("video_path", "model", "person_mode", "person_id", "use_frame_range", "frame_start", "frame_end",
                 "use_smoothing", "smoothing", "target", "target_object", "bone_preset", "root_motion",
                 "match_scene_fps"):
        assert name in log["props"], name
    assert {"video_mocap.select_video", "video_mocap.import_video", "video_mocap.refresh_models",
            "video_mocap.import_motion_file"} <= set(log["operators"])


def test_panel_shows_progress_and_cancel_while_running(clean_scene: ModuleType, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    operators = submodule(clean_scene, "ui.operators")
    monkeypatch.setattr(submodule(clean_scene, "blender.locations"), "backend_source", lambda: STAND_IN)
    bpy.context.scene.video_mocap.video_path = str(tmp_path / "slow.mp4")
    job = operators.new_import_job(bpy.context)
    job.start()
    operators.SESSION.imports.job = job
    try:
        while job.progress.done < 1:
            assert operators.modal_step(job, "MOUSEMOVE", "NOTHING") == "IDLE"  # non-timer events never poll
            operators.modal_step(job, "TIMER", "NOTHING")
            time.sleep(0.01)
        log = draw_panel(clean_scene)
        assert log["progress"] == ["detect 1/3"] and "video_mocap.cancel_import" in log["operators"]
        assert "video_mocap.import_video" not in log["operators"]
        assert operators.modal_step(job, "ESC", "PRESS") == "CANCELLING"
        while operators.modal_step(job, "TIMER", "NOTHING") != "FINISH":
            time.sleep(0.01)
        assert job.state.name == "CANCELLED"
    finally:
        operators.SESSION.imports.job = None


def test_models_list_and_window_control(clean_scene: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = submodule(clean_scene, "blender.session").SESSION.catalog
    catalog.refresh()  # the real backend
    finish_task(submodule(clean_scene, "blender.session").SESSION.tasks.get("models"))
    assert catalog.loaded and catalog.get("blazepose") is not None and catalog.get("blazepose").ready
    settings = bpy.context.scene.video_mocap
    settings.model = "blazepose"
    assert settings.window_argument() is None  # blazepose has no window control

    monkeypatch.setattr(submodule(clean_scene, "blender.locations"), "backend_source", lambda: STAND_IN)
    catalog.refresh()  # a stand-in that also lists a windowed model, missing its weights
    finish_task(submodule(clean_scene, "blender.session").SESSION.tasks.get("models"))
    tcmr = catalog.get("tcmr")
    assert tcmr is not None and not tcmr.ready and tcmr.windows == (16,)
    settings.model = "tcmr"
    assert settings.window == "16" and settings.window_argument() == 16
    log = draw_panel(clean_scene)
    assert "window" in log["props"] and any("tcmr_demo_model.pth.tar" in text for text in log["labels"])
    settings.model = "blazepose"
    monkeypatch.undo()
    catalog.refresh()  # back to the real backend's list for the other tests
    finish_task(submodule(clean_scene, "blender.session").SESSION.tasks.get("models"))
    assert catalog.get("tcmr") is None or catalog.get("tcmr").title != "tcmr"


def test_check_runs_doctor_and_shows_its_lines(clean_scene: ModuleType) -> None:
    assert bpy.ops.video_mocap.check_backend() == {"FINISHED"}
    task = submodule(clean_scene, "blender.session").SESSION.tasks.get("doctor")
    finish_task(task)
    assert task.succeeded and any(line.startswith("verdict:") for line in task.lines)
    log = draw_preferences(clean_scene)
    assert any(line.startswith("verdict:") for line in log["labels"])
    assert {"video_mocap.install_backend", "video_mocap.check_backend"} <= set(log["operators"])


def test_install_backend_runs_install_deps_with_the_user_prefix(clean_scene: ModuleType, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in install_deps.py that behaves like the real one (`--prefix DIR` makes DIR/venv); the
    add-on must then find that interpreter on its own (no preference set)."""
    source = tmp_path / "src"
    (source / "backend").mkdir(parents=True)
    (source / "backend" / "__init__.py").write_text("")
    (source / "install_deps.py").write_text(
        "import sys, pathlib\n"
        "prefix = pathlib.Path(sys.argv[sys.argv.index('--prefix') + 1])\n"
        "for i in range(3): print(f'[{i + 1}/3] step {i + 1}', flush=True)\n"
        "python = prefix / 'venv' / 'bin' / 'python'; python.parent.mkdir(parents=True); python.write_text('')\n"
        "print('installed into', prefix, 'args', sys.argv[1:])\n")
    locations = submodule(clean_scene, "blender.locations")
    monkeypatch.setattr(locations, "backend_source", lambda: source)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    saved = prefs.backend_python
    prefs.backend_python = ""
    monkeypatch.delenv("VIDEO_MOCAP_BACKEND_PYTHON", raising=False)
    venv = locations.user_dir() / "venv"
    try:
        started = time.monotonic()
        assert bpy.ops.video_mocap.install_backend() == {"FINISHED"}
        assert time.monotonic() - started < 1.0  # started, not waited for
        task = submodule(clean_scene, "blender.session").SESSION.tasks.get("install")
        assert task.running
        finish_task(task)
        assert task.succeeded and (task.progress.stage, task.progress.total) == ("step 3", 3)
        assert task.process.argv[:2] == [sys.executable, str(source / "install_deps.py")]
        assert task.process.argv[2:4] == ["--prefix", str(locations.user_dir())]
        assert locations.backend_python() == venv / "bin" / "python"
    finally:
        prefs.backend_python = saved
        shutil.rmtree(venv, ignore_errors=True)


def test_panel_and_preferences_feed_the_run_options_table(clean_scene: ModuleType, tmp_path: Path) -> None:
    """Every row of run_options.py with a panel source is read from the real settings and preferences."""
    operators = submodule(clean_scene, "ui.operators")
    table = submodule(clean_scene, "backend_client.run_options")
    settings = bpy.context.scene.video_mocap
    prefs = bpy.context.preferences.addons[clean_scene.__name__].preferences
    settings.video_path = str(tmp_path / "clip.mp4")
    settings.person_mode, settings.person_id = "ID", 3
    settings.use_frame_range, settings.frame_start, settings.frame_end = True, 5, 60
    settings.use_smoothing, settings.smoothing = True, 0.25
    prefs.weights_dir, prefs.device = str(tmp_path / "weights"), "cpu"
    try:
        options = operators.run_options_from(bpy.context)
    finally:
        prefs.weights_dir, prefs.device = "", "auto"
    assert options.video == str(tmp_path / "clip.mp4") and options.model == "blazepose"
    assert (options.person, options.frames, options.smooth) == (3, "5:60", 0.25)
    assert (options.device, options.weights_dir, options.smpl_dir) == ("cpu", str(tmp_path / "weights"), None)
    assert table.option_argv(options) == ["--person", "3", "--frames", "5:60", "--smooth", "0.25", "--device", "cpu",
                                          "--weights-dir", str(tmp_path / "weights")]
    panel_rows = [option for option in table.RUN_OPTIONS if option.panel]
    assert {option.name for option in panel_rows} >= {"model", "window", "person", "frames", "smooth", "device"}


def test_clip_name_of_videos_and_image_sequences(clean_scene: ModuleType) -> None:
    """An image sequence is named by its folder (its first image's name, `0000`, says nothing)."""
    from types import SimpleNamespace

    clip_name = submodule(clean_scene, "blender.scene_import").clip_name
    motion = SimpleNamespace(model="blazepose")
    assert clip_name("/clips/walk.mp4", motion) == "walk_blazepose"
    assert clip_name("/shots/walk take/0000.png", motion) == "walk take_blazepose"
    assert clip_name("/shots/run/%04d.JPG", motion) == "run_blazepose"
    assert clip_name("/shots/run", motion) == "run_blazepose"  # the folder itself
    assert clip_name(None, motion) == "SMPL_blazepose"
