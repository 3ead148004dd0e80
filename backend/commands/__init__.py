"""Command-line entry points: run, models, doctor, preview, convert-checkpoint, convert-smpl."""
