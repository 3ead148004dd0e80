"""Registered models: the built-in MediaPipe model and the seed papers' temporal models."""
