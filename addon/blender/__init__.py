"""Thin bpy layers: armature, keyframes, scene import, add-on locations, background tasks."""
