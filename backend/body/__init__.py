"""Body models and their definitions: SMPL, fitting SMPL shape, MediaPipe landmark names."""
