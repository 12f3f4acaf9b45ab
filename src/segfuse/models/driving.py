"""Driving PIRenderer: reading 3DMM coefficients and building its per-frame input windows.

Deep3DFaceRecon gives 257 coefficients per frame (identity 80, expression 64, texture 80,
angles 3, lighting 27, translation 3); PIRender's preprocessing appends 3 crop parameters
(260). The network reads expression, angles, translation and crop (73 values) over a window of
27 frames centred on the current one, clamped at the clip ends.
"""

from __future__ import annotations

from pathlib import Path

from segfuse.errors import InputError
from segfuse.io.frames import frame_path, is_pattern, scan_frames
from segfuse.lazy import lazy_module

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it

EXPRESSION, ANGLES, TRANSLATION, CROP = slice(80, 144), slice(224, 227), slice(254, 257), slice(257, 260)
WIDTHS = (73, 257, 260)
RADIUS = 13  # 27-frame windows


def select_semantics(coeffs: np.ndarray, crop: tuple[float, float, float] | None = None) -> np.ndarray:
    """N×260 / N×257 / N×73 coefficients → N×73 (expression, angles, translation, crop).

    N×257 arrays carry no crop parameters: ``crop`` supplies them (the same for every frame).
    """
    coeffs = np.asarray(coeffs, dtype=np.float32)
    if coeffs.ndim == 1:
        coeffs = coeffs[None]
    if coeffs.ndim != 2 or coeffs.shape[1] not in WIDTHS:
        raise InputError(f"coefficients have shape {coeffs.shape}; expected N×73, N×257 or N×260 "
                         "(Deep3DFaceRecon output, with PIRender's 3 crop parameters for 260)")
    if coeffs.shape[0] == 0:
        raise InputError("the coefficient sequence is empty")
    if not np.isfinite(coeffs).all():
        row = int(np.argwhere(~np.isfinite(coeffs))[0][0])
        raise InputError(f"coefficients contain NaN/Inf (first in frame {row})")
    if coeffs.shape[1] == 73:
        return coeffs
    if coeffs.shape[1] == 257:
        if crop is None:
            raise InputError("N×257 coefficients carry no crop parameters; give crop as 'S,TX,TY' "
                             "(PIRender's preprocessing of the driving video)")
        crops = np.tile(np.asarray(crop, np.float32), (len(coeffs), 1))
    else:
        crops = coeffs[:, CROP]
    return np.concatenate([coeffs[:, EXPRESSION], coeffs[:, ANGLES], coeffs[:, TRANSLATION], crops], axis=1)


def driving_windows(coeffs: np.ndarray, radius: int = RADIUS,
                    crop: tuple[float, float, float] | None = None) -> np.ndarray:
    """N×C coefficients (C = 73, 257 or 260) → N×73×(2·radius+1) windows: rows t-radius…t+radius
    clamped to the clip, transposed as the network reads them."""
    semantics = select_semantics(coeffs, crop)
    n = len(semantics)
    rows = np.clip(np.arange(n)[:, None] + np.arange(-radius, radius + 1)[None, :], 0, n - 1)
    return np.ascontiguousarray(semantics[rows].transpose(0, 2, 1))


def _array_from_mat(path: Path) -> np.ndarray:
    from scipy.io import loadmat

    try:
        data = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for corrupt files
        raise InputError(f"{path}: not a readable .mat file: {exc}") from None
    for key in ("coeff", "coeffs", "coeff_3dmm", "semantics"):
        if key in data:
            return np.asarray(data[key], np.float32)
    arrays = [v for k, v in data.items() if not k.startswith("__") and isinstance(v, np.ndarray) and v.ndim == 2]
    if len(arrays) == 1:
        return arrays[0].astype(np.float32)
    keys = ", ".join(k for k in data if not k.startswith("__"))
    raise InputError(f"{path}: no 'coeff' array (keys: {keys})")


def _array_from_file(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return _array_from_mat(path)
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False).astype(np.float32)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                for key in ("coeff", "coeffs", "coeff_3dmm", "semantics"):
                    if key in data:
                        return data[key].astype(np.float32)
                if len(data.files) == 1:
                    return data[data.files[0]].astype(np.float32)
                raise InputError(f"{path}: no 'coeff' array (keys: {', '.join(data.files)})")
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable coefficient file: {exc}") from None
    raise InputError(f"{path}: coefficient files are .npy, .npz or .mat")


def load_coefficients(path: str | Path) -> np.ndarray:
    """An N×C coefficient array from a .npy/.npz/.mat file, a folder of per-frame .mat files,
    or a numbered pattern of them (frame order)."""
    path = Path(path)
    if is_pattern(path):
        frames = scan_frames(path)
        if not frames:
            raise InputError(f"{path}: no coefficient files match this pattern")
        files = [frame_path(path, t) for t in frames]
    elif path.is_dir():
        files = sorted(path.glob("*.mat"))
        if not files:
            raise InputError(f"{path}: the folder holds no .mat coefficient files")
    elif path.is_file():
        return _array_from_file(path)
    else:
        raise InputError(f"{path}: coefficient file not found")
    rows = [_array_from_file(f).reshape(1, -1) for f in files]
    widths = {r.shape[1] for r in rows}
    if len(widths) != 1:
        raise InputError(f"{path}: per-frame files have different widths {sorted(widths)}")
    return np.concatenate(rows, axis=0)


def expression_sequence(path: str | Path, pose: np.ndarray, frames_per_change: int = 10) -> np.ndarray:
    """N×73 semantics from named 64-d expression vectors (like PIRender's expression.mat), moving
    linearly from one to the next in file order; pose (angles, translation, crop: 9 values, or a
    73/260-wide row) stays fixed."""
    from scipy.io import loadmat

    data = loadmat(str(path))
    names = [k for k in data if not k.startswith("__")]
    vectors = [np.asarray(data[k], np.float32).reshape(-1) for k in names]
    if not vectors or any(v.size != 64 for v in vectors):
        raise InputError(f"{path}: expected named 64-value expression vectors")
    pose = np.asarray(pose, np.float32).reshape(-1)
    if pose.size in (73, 260):
        pose = select_semantics(pose)[0, 64:]
    if pose.size != 9:
        raise InputError("pose must hold angles, translation and crop (9 values) or a 73/260-wide row")
    rows = [vectors[0]]
    for a, b in zip(vectors, vectors[1:], strict=False):
        rows += [a + (b - a) * (i / frames_per_change) for i in range(1, frames_per_change + 1)]
    expressions = np.stack(rows)
    return np.concatenate([expressions, np.tile(pose, (len(expressions), 1))], axis=1)
