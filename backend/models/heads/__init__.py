"""Regressor heads and their rotation conversions."""
