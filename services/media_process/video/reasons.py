"""The sentences a rejected video is given, where more than one step can give them."""

from __future__ import annotations

NOT_A_VIDEO = "The file is not a video container Shoebox reads."
ENCRYPTED = "The video is encrypted (DRM or Common Encryption), so its frames cannot be read."
TRUNCATED = "The video file ends before its data does: it looks cut short, like an incomplete copy or upload."
UNDECODABLE = (
    "No frame of the video could be decoded: the file is damaged or uses a format Shoebox cannot read."
)
