"""Video Mocap backend: turns a video of a person into an SMPL motion file.

Runs in its own virtual environment (torch, smplx, opencv, mediapipe), apart from
Blender, and talks to the add-on through JSON lines on stdout and a `.npz` motion file.
"""

__version__ = "0.1.0"
