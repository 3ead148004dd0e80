"""Pure maths and the motion-file contract of the add-on; never imports bpy."""
