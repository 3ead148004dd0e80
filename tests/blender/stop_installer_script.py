"""Run by test_installer_stop.py in a fresh interpreter with the bpy wheel: install and enable the
extension, start Install Backend's task on the stand-in installer, then stop it one way.

    python stop_installer_script.py cancel|disable|quit EXTENSION_ZIP STAND_IN PID_FILE
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import bpy  # before addon_utils: importing bpy puts Blender's own modules on sys.path

mode, zip_path, stand_in, pid_file = sys.argv[1:5]
assert bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                enable_on_install=True) == {"FINISHED"}
module = "bl_ext.user_default.video_mocap"
tasks = importlib.import_module(f"{module}.blender.tasks")
task = tasks.start(tasks.BackgroundTask("install", [sys.executable, stand_in, pid_file]))
deadline = time.monotonic() + 30
while not Path(pid_file).is_file() or len(Path(pid_file).read_text().split()) < 2:
    assert time.monotonic() < deadline, "the stand-in installer did not start its helpers"
    time.sleep(0.05)
Path(pid_file).write_text(f"{task.process.pid}\n" + Path(pid_file).read_text())
stopping = time.monotonic()
if mode == "cancel":
    assert bpy.ops.video_mocap.cancel_install() == {"FINISHED"}
    assert not task.running and task.lines[-1].startswith("install: cancelled")
elif mode == "disable":
    import addon_utils

    addon_utils.disable(module, default_set=True)
print(f"{mode}: stopped in {time.monotonic() - stopping:.1f} s", flush=True)
# "quit": end the interpreter with the task running; the add-on's atexit hook must stop the group.
