"""Step 2, images: hash, check, decode, orient, shrink and re-encode one photo for upload.

Also reads what the photo itself says (EXIF GPS position, date taken). Pillow and pillow-heif
are imported here only, lazily. May import: the top-level modules, inputs.
"""
