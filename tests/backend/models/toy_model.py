"""A toy model in one file: its card and its runner, registered by the decorator (test_toy_model.py).

It holds the person in one fixed pose (upright, left elbow bent 90 degrees) on SMPL's neutral rest
skeleton; its root translation is the built-in model's solve (the pose laid over the 2D landmarks).
"""

from __future__ import annotations

import numpy as np

from backend.builtin.translation import translation_from_landmarks
from backend.geometry import camera
from backend.geometry.skeleton import forward_kinematics
from backend.models.base import ModelOutput, ModelRequest
from backend.models.registry import ModelCard, register_model
from tests.blender.synthetic_motion import SMPL_REST_JOINTS

ELBOW_BEND = np.array([0.0, 0.0, np.pi / 2], np.float32)  # left_elbow (joint 18) about z
LEFT_ELBOW = 18

CARD = ModelCard(
    name="toy",
    title="Toy (test only)",
    paper="none: a fixed pose, to show that a model is one file plus its registration",
    status="ready: test model",
    default_smooth=0.0,
)


@register_model(CARD)
def run(request: ModelRequest) -> ModelOutput:
    n = len(request.track)
    poses = np.zeros((n, 24, 3), np.float32)
    poses[:, 0] = [np.pi, 0.0, 0.0]  # upright in the y-down camera frame
    poses[:, LEFT_ELBOW] = ELBOW_BEND
    rest = SMPL_REST_JOINTS.astype(np.float32)
    track, focal = request.track, request.focal_length
    transl = translation_from_landmarks(poses, rest, track.landmarks2d, focal, track.image_size)
    request.events.progress("toy", n, n)
    return ModelOutput(poses=poses, betas=np.zeros(10, np.float32), transl=transl,
                       cam=camera.translation_to_weak_perspective(transl, track.bboxes, focal, track.image_size),
                       rest_joints=rest, focal_length=focal,
                       joints3d=forward_kinematics(poses, rest, transl).astype(np.float32), meta={"toy": True})
