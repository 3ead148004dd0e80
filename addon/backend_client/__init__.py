"""Finding, running and reading the backend process; never imports bpy."""
