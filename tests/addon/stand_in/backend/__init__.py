"""A stand-in for the real backend: speaks the same CLI and JSON lines, behaviour chosen by the video name."""
