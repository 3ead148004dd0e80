"""MediaPipe Pose's 33 landmarks: indices and the names this project uses for them.

"Left" and "right" are the person's own, as in SMPL.
"""

NOSE = 0
LEFT_EAR, RIGHT_EAR = 7, 8
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_ELBOW, RIGHT_ELBOW = 13, 14
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_PINKY, RIGHT_PINKY = 17, 18
LEFT_INDEX, RIGHT_INDEX = 19, 20
LEFT_THUMB, RIGHT_THUMB = 21, 22
LEFT_HIP, RIGHT_HIP = 23, 24
LEFT_KNEE, RIGHT_KNEE = 25, 26
LEFT_ANKLE, RIGHT_ANKLE = 27, 28
LEFT_HEEL, RIGHT_HEEL = 29, 30
LEFT_TOE, RIGHT_TOE = 31, 32

#: The landmarks above by name ("left_hip", ...): what the IK and the rest skeleton look them up by.
LANDMARK_INDEX: dict[str, int] = {
    "nose": NOSE, "left_ear": LEFT_EAR, "right_ear": RIGHT_EAR,
    "left_shoulder": LEFT_SHOULDER, "right_shoulder": RIGHT_SHOULDER, "left_elbow": LEFT_ELBOW,
    "right_elbow": RIGHT_ELBOW, "left_wrist": LEFT_WRIST, "right_wrist": RIGHT_WRIST,
    "left_pinky": LEFT_PINKY, "right_pinky": RIGHT_PINKY, "left_index": LEFT_INDEX, "right_index": RIGHT_INDEX,
    "left_hip": LEFT_HIP, "right_hip": RIGHT_HIP, "left_knee": LEFT_KNEE, "right_knee": RIGHT_KNEE,
    "left_ankle": LEFT_ANKLE, "right_ankle": RIGHT_ANKLE, "left_heel": LEFT_HEEL, "right_heel": RIGHT_HEEL,
    "left_toe": LEFT_TOE, "right_toe": RIGHT_TOE,
}

#: SMPL joint index -> the landmark that marks the same anatomical point (used for 2D fitting).
SMPL_TO_LANDMARK: dict[int, int] = {
    1: LEFT_HIP, 2: RIGHT_HIP, 4: LEFT_KNEE, 5: RIGHT_KNEE, 7: LEFT_ANKLE, 8: RIGHT_ANKLE,
    10: LEFT_TOE, 11: RIGHT_TOE, 16: LEFT_SHOULDER, 17: RIGHT_SHOULDER, 18: LEFT_ELBOW,
    19: RIGHT_ELBOW, 20: LEFT_WRIST, 21: RIGHT_WRIST,
}
