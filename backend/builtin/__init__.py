"""The built-in model's maths: the rest skeleton from landmarks, inverse kinematics, IK quality."""
