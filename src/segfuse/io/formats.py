"""What the readers and writers handle, by name: bit depths, H.264 presets, code values.

Node declarations read these (a Write node's choices), so they live apart from the readers and
writers: declaring or listing nodes imports neither OpenImageIO nor PyAV.
"""

from __future__ import annotations

from segfuse.lazy import lazy_module

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it


BIT_DEPTHS = ("auto", "8", "16", "half", "float")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def code_values(codes: np.ndarray) -> np.ndarray:
    """Code values as float32 in [0, 1] (as OpenImageIO converts them); float data is returned as is."""
    if codes.dtype == np.float32:
        return codes
    return codes.astype(np.float32) * np.float32(1.0 / np.iinfo(codes.dtype).max)
