"""Per-frame image encoders shared by the seed models (SPIN HMR, PyMAF ResNet-50)."""
