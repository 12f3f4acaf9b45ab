"""Per-frame coefficient sequences over time: holding frames with no face, smoothing jitter, and
moving a driver's motion onto a source face (PIRender's 260 columns, see models/face_recon.py).
"""

from __future__ import annotations

from segfuse.lazy import lazy_module

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it


# Deep3DFaceRecon's 257 coefficients, then the alignment's crop scale and centre: PIRender's 260 columns
HEADS = (80, 64, 80, 3, 27, 2, 1)  # identity, expression, texture, angles, lighting, (tx, ty), tz
NUM_COEFFS = sum(HEADS)  # 257
PIRENDER_COLUMNS = NUM_COEFFS + 3  # + crop scale s and centre (tx, ty) from the alignment
ID, EXP, TEX, ANGLES, GAMMA, TRANS = (slice(0, 80), slice(80, 144), slice(144, 224), slice(224, 227),
                                      slice(227, 254), slice(254, 257))
EXPRESSION, SCALE, CENTRE = EXP, 257, slice(258, 260)
MODES = ("expression", "full")  # the driver's expression on the source's pose (the paper), or its motion too


def hold_missing(rows: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Rows of frames with no face take the last row that had one; frames before the first face take
    the first found row (there is nothing earlier to hold). ``found`` must have at least one True."""
    rows = np.asarray(rows)
    found = np.asarray(found, bool)
    if not found.any():
        raise ValueError("no row has a face to hold")
    index = np.where(found, np.arange(len(found)), -1)
    index = np.maximum.accumulate(index)  # the last found row at or before each frame
    index[index < 0] = int(np.argmax(found))
    return rows[index]


def smooth_rows(rows: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time (axis 0) with standard deviation ``sigma`` frames, the clip's ends
    extended with their own values; ``sigma`` 0 leaves the rows as they are. Offline and zero-phase:
    the whole clip is known, so smoothing adds no lag."""
    rows = np.asarray(rows, np.float64)
    if sigma <= 0 or len(rows) < 2:
        return rows.astype(np.float32)
    from scipy.ndimage import gaussian_filter1d  # scipy loads when a clip is smoothed, not to list nodes

    return gaussian_filter1d(rows, sigma, axis=0, mode="nearest", truncate=3.0).astype(np.float32)


def expression_onto(source: np.ndarray, driver: np.ndarray) -> np.ndarray:
    """The paper's setting: every frame is the source's row (pose, crop, identity) with the driver's
    64 expression values."""
    out = np.repeat(np.asarray(source, np.float32).reshape(1, -1), len(driver), axis=0)
    out[:, EXPRESSION] = driver[:, EXPRESSION]
    return out


def motion_onto(source: np.ndarray, driver: np.ndarray) -> np.ndarray:
    """Full motion for another face: the driver's rows, its crop moved into the source's frame.

    The reference is the driver frame that looks most like the source (least 0.3·mean|Δexpression| +
    0.7·mean|Δangles|, PIRender's cross-identity rule). As PIRender does, the crop scale (column 257) is
    multiplied by source_s / driver_s there. Beyond PIRender (whose driving and source videos are all
    256×256 VoxCeleb crops), the crop centre (258:260) is the source's plus the driver's displacement
    from that frame, converted to the source's pixels, so a driving clip of any size and framing moves
    the source from where it is."""
    source = np.asarray(source, np.float32).reshape(-1)
    driver = np.asarray(driver, np.float32)
    out = driver.copy()
    distance = (0.3 * np.abs(driver[:, EXPRESSION] - source[EXPRESSION]).mean(axis=1)
                + 0.7 * np.abs(driver[:, ANGLES] - source[ANGLES]).mean(axis=1))
    nearest = int(np.argmin(distance))
    if driver[nearest, SCALE] == 0 or source[SCALE] == 0:
        return out
    ratio = source[SCALE] / driver[nearest, SCALE]
    out[:, SCALE] = driver[:, SCALE] * ratio
    out[:, CENTRE] = source[CENTRE] + (driver[:, CENTRE] - driver[nearest, CENTRE]) / ratio
    return out
