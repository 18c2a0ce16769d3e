"""File suffixes, in one table: what can be read as images or videos, and what a recording may be.

Lower case, with the dot; compare against ``path.suffix.lower()``.
"""

# Still images OpenCV reads (a folder or glob source, ``reenact verify`` on a screenshot).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
# Videos FFmpeg (inside OpenCV's wheels) decodes: target footage, driver clips.
VIDEO_SUFFIXES = frozenset({".mp4", ".mpg", ".mpeg", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".wmv", ".flv"})
# Recordings the file sink writes, with the MIME type their C2PA manifest is embedded as.
RECORDING_MIME_TYPES = {".mp4": "video/mp4", ".m4v": "video/x-m4v", ".mov": "video/quicktime", ".avi": "video/avi"}
RECORDING_SUFFIXES = tuple(RECORDING_MIME_TYPES)
