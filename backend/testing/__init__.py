"""Synthetic stand-ins for the licensed SMPL files and the official checkpoints, for tests, CI and benchmarks."""
