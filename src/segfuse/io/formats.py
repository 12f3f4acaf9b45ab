"""What the readers and writers handle, by name: bit depths, H.264 presets, code values.

Node declarations read these (a Write node's choices), so they live apart from the readers and
writers: declaring or listing nodes imports neither OpenImageIO nor PyAV.
"""

from __future__ import annotations

from segfuse.lazy import lazy_module

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it


BIT_DEPTHS = ("auto", "8", "16", "half", "float")
MOVIE_DEPTHS = {"auto": None, "8": 8, "10": 10}  # H.264: 8-bit, 10-bit (High 10), auto: as its frames came
WRITE_DEPTHS = ("auto", "8", "10", "16", "half", "float")  # Write's choices: images' and movies' together
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
H264_CONTAINERS = (".mp4", ".mov", ".m4v", ".mkv", ".avi")  # movies Write makes (WebM cannot hold H.264)
FASTSTART_CONTAINERS = (".mp4", ".mov", ".m4v")  # the index moved to the front: plays while it downloads


def h264_container_problem(path: str) -> str | None:
    """Why a movie named ``path`` cannot be written as H.264, in words; None when it can."""
    suffix = "." + str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    if suffix in H264_CONTAINERS:
        return None
    return (f"{path}: a {suffix or 'extensionless'} movie cannot hold H.264; write "
            f"{', '.join(H264_CONTAINERS[:-1])} or {H264_CONTAINERS[-1]}")


def code_values(codes: np.ndarray) -> np.ndarray:
    """Code values as float32 in [0, 1] (as OpenImageIO converts them); float data is returned as is."""
    if codes.dtype == np.float32:
        return codes
    return codes.astype(np.float32) * np.float32(1.0 / np.iinfo(codes.dtype).max)
