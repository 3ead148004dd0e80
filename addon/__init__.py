"""Video Mocap: turn a video of a person into a keyframed SMPL armature.

The heavy model runs in a separate backend process (its own venv); this add-on only needs what
Blender ships. Registration lives in `registration` and is imported lazily, so the pure-numpy
modules of this package can be imported and tested without bpy.
"""


def register() -> None:
    from .ui import registration

    registration.register()


def unregister() -> None:
    from .ui import registration

    registration.unregister()
