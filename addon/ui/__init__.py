"""Blender UI: operators, panel, preferences, scene properties, registration."""
