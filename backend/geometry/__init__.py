"""Pure numpy maths: rotations and forward kinematics, the pinhole camera, smoothing filters."""
