"""The seed papers' temporal networks: TCMR, MPS-Net, STAF."""
