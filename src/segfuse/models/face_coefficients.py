"""Driving coefficients from a video: per frame five landmarks → alignment → regressor → 260 columns.

The per-frame work (landmarks, crop, ResNet-50) is a whole-clip analysis: it is computed once per
driving clip, weights and landmark source, and stored as validated data (an ``.npz`` read with
``allow_pickle=False``) in the user cache, keyed by those inputs. Every frame render, thread, chunk and
host reads the same analysis, so frames stay independent of render order, and a frame with no face can
hold the last face's coefficients (which needs the frames before it). What is cheap is done on top at
use: holding, temporal smoothing, and moving the driver's expression (or motion) onto the source face.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segfuse import color
from segfuse.errors import InputError
from segfuse.io.atomic import atomic_output
from segfuse.io.frames import FrameRange, frame_path, is_pattern
from segfuse.io.sources import FrameSource, open_source
from segfuse.models.face_recon import NUM_COEFFS, FaceReconRunner, align_face, load_face_recon, pirender_columns
from segfuse.ops.coefficients import MODES, expression_onto, hold_missing, motion_onto, smooth_rows

FORMAT = "segfuse.face-coefficients"
VERSION = 1
Progress = Callable[[int, int], None] | None


@dataclass(frozen=True)
class DrivingAnalysis:
    """Per-frame results for a driving clip (row i = frame ``first + i``)."""

    coeffs: np.ndarray  # N×257 float32, zeros where no face was found
    trans_params: np.ndarray  # N×5 float64 [W, H, s, tx, ty], zeros where no face was found
    landmarks: np.ndarray  # N×5×2 float64 image pixels (x right, y down), NaN where no face was found
    found: np.ndarray  # N bool
    first: int = 0

    def __len__(self) -> int:
        return len(self.found)

    @property
    def missing(self) -> list[int]:
        """Frame numbers with no face."""
        return [self.first + i for i in np.flatnonzero(~self.found)]

    def columns(self, smoothing: float = 0.0) -> np.ndarray:
        """N×260 PIRender rows: frames with no face hold the last face's, then Gaussian smoothing over time
        (sigma in frames)."""
        rows = pirender_columns(self.coeffs, self.trans_params)
        return smooth_rows(hold_missing(rows, self.found), smoothing)


def missing_message(analysis: DrivingAnalysis, name: str) -> str | None:
    """One line about frames with no face (None when every frame has one)."""
    missing = analysis.missing
    if not missing:
        return None
    shown = ", ".join(str(t) for t in missing[:5]) + (" …" if len(missing) > 5 else "")
    return (f"no face found in {len(missing)} of {len(analysis)} frames of {name} (frames {shown}); "
            "they hold the last face's coefficients")


def transfer(driver: np.ndarray, source: np.ndarray | None, mode: str) -> np.ndarray:
    """N×260 rows for PIRender: ``expression`` keeps the source's pose and takes the driver's expression
    (the paper's setting); ``full`` takes the driver's motion, its crop scale matched to the source's."""
    if mode not in MODES:
        raise ValueError(f"mode '{mode}' is not one of {', '.join(MODES)}")
    if source is None:
        if mode == "expression":
            raise InputError("mode 'expression' needs the source portrait's coefficients (connect Source)")
        return np.asarray(driver, np.float32)
    return expression_onto(source, driver) if mode == "expression" else motion_onto(source, driver)


# ---- landmarks ---------------------------------------------------------------------------------

Landmarker = Callable[[np.ndarray], "np.ndarray | None"]


def detector_landmarks() -> Landmarker:
    """Five landmarks of the largest face from the project's face detector (None: no face)."""
    try:
        from segfuse.models.face_detector import detect_faces
    except ImportError:
        raise InputError("no face detector is installed in this build: give per-frame landmarks "
                         "(.npy, N×5×2 image pixels: eyes, nose tip, mouth corners)") from None

    def find(rgb: np.ndarray) -> np.ndarray | None:
        faces = detect_faces(rgb)
        return np.asarray(faces[0].landmarks, np.float64).reshape(5, 2) if faces else None

    return find


def read_landmarks(path: str | Path, frames: int | None = None) -> np.ndarray:
    """Landmarks from a file: ``.npy`` (N×5×2 or N×10; 5×2 for one image; NaN rows: no face) or a
    Deep3DFaceRecon-style ``.txt`` (five lines 'x y'). Image pixels, x right, y down."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: landmarks file not found")
    try:
        if path.suffix.lower() == ".npy":
            data = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".txt":
            data = np.loadtxt(path, dtype=np.float64, ndmin=2)
        else:
            raise InputError(f"{path}: landmarks files are .npy (N×5×2) or .txt (five 'x y' lines)")
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable landmarks file: {exc}") from None
    if not np.issubdtype(data.dtype, np.number):
        raise InputError(f"{path}: landmarks must be numbers, not {data.dtype}")
    data = np.asarray(data, np.float64)
    if data.size % 10 or data.size == 0:
        raise InputError(f"{path}: landmarks have shape {data.shape}; expected N×5×2 (five x, y points a frame)")
    data = data.reshape(-1, 5, 2)
    if frames is not None and len(data) != frames:
        raise InputError(f"{path}: {len(data)} frames of landmarks for a clip of {frames} frames")
    if np.isinf(data).any():
        raise InputError(f"{path}: landmarks contain Inf")
    return data


def file_landmarks(data: np.ndarray) -> Callable[[int, np.ndarray], np.ndarray | None]:
    """Per-frame lookup in a landmarks array (a row with any NaN means no face)."""
    def find(index: int, rgb: np.ndarray) -> np.ndarray | None:
        row = data[index]
        return None if np.isnan(row).any() else row

    return find


# ---- the analysis ------------------------------------------------------------------------------

def frame_uint8(source: FrameSource, t: int) -> np.ndarray:
    """A driving frame as the official code sees it: H×W×3 uint8 sRGB."""
    pixels = source.read(t)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    rgb = pixels[:, :, :3]
    if source.is_float:
        return color.to_srgb_uint8(rgb, color.working_space())
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def analyse(source: FrameSource, runner: FaceReconRunner, landmarks: np.ndarray | None = None,
            progress: Progress = None, batch: int = 8) -> DrivingAnalysis:
    """Run the whole clip: landmarks (``landmarks`` N×5×2, else the face detector), alignment, regressor."""
    frames = source.frames or FrameRange(0, 0)
    n = len(frames)
    find = file_landmarks(landmarks) if landmarks is not None else None
    detect = None if find is not None else detector_landmarks()
    coeffs = np.zeros((n, NUM_COEFFS), np.float32)
    trans = np.zeros((n, 5), np.float64)
    points = np.full((n, 5, 2), np.nan)
    found = np.zeros(n, bool)
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if pending:
            rows = [i for i, _ in pending]
            coeffs[rows] = runner(np.stack([crop for _, crop in pending]))
            pending.clear()

    for i, t in enumerate(frames):
        rgb = frame_uint8(source, t)
        lm = find(i, rgb) if find is not None else detect(rgb)  # type: ignore[misc]
        if lm is not None:
            try:
                crop, trans[i], _ = align_face(rgb, lm)
            except ValueError:
                lm = None  # degenerate points or a face too small to crop: counted as no face
            else:
                points[i], found[i] = lm, True
                pending.append((i, crop))
        if len(pending) >= batch:
            flush()
        if progress is not None:
            progress(i + 1, n)
    flush()
    return DrivingAnalysis(coeffs, trans, points, found, frames.first)


def source_row(rgb: np.ndarray, runner: FaceReconRunner, landmarks: np.ndarray | None, name: str) -> np.ndarray:
    """The source portrait's 260 columns (landmarks given, else detected)."""
    lm = landmarks.reshape(5, 2) if landmarks is not None else detector_landmarks()(rgb)
    if lm is None or np.isnan(lm).any():
        raise InputError(f"no face found in the source portrait {name}")
    try:
        crop, trans, _ = align_face(rgb, lm)
    except ValueError as exc:
        raise InputError(f"the source portrait {name}: {exc}") from None
    return pirender_columns(runner(crop[None]), trans[None])[0]


# ---- cache -------------------------------------------------------------------------------------

def cache_dir() -> Path:
    """Where analyses are kept: ``$SEGFUSE_CACHE`` or the user cache dir (…/segfuse/analysis)."""
    env = os.environ.get("SEGFUSE_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "segfuse" / "analysis"


def file_identity(path: str | Path) -> list:
    """What identifies a file's content cheaply: resolved path, size, modification time (every frame of a
    sequence pattern)."""
    path = Path(path)
    if is_pattern(path):
        from segfuse.io.frames import scan_frames

        return [file_identity(frame_path(path, t)) for t in scan_frames(path)]
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def analysis_key(driving: str | Path, weights: str | Path, landmarks: str | Path | None) -> str:
    """The cache key: the inputs the analysis depends on (the detector's version when it finds the points)."""
    detector = "file" if landmarks else _detector_version()
    record = {"format": FORMAT, "version": VERSION, "driving": file_identity(driving),
              "weights": file_identity(weights), "landmarks": file_identity(landmarks) if landmarks else None,
              "detector": detector}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:32]


def _detector_version() -> str:
    """The detector and its pinned model: a new detector means new landmarks, so a new analysis."""
    try:
        from segfuse.models import face_detector
    except ImportError:
        return "none"
    from segfuse.models.weights import REGISTRY

    entry = REGISTRY.get(face_detector.MODEL_NAME)
    return f"{face_detector.MODEL_NAME}:{entry.sha256 if entry else ''}"


def save_analysis(analysis: DrivingAnalysis, path: Path, key: str) -> None:
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, format=np.array(FORMAT), version=np.array(VERSION), key=np.array(key),
                 coeffs=analysis.coeffs, trans_params=analysis.trans_params, landmarks=analysis.landmarks,
                 found=analysis.found, first=np.array(analysis.first))


def load_analysis(path: Path, key: str) -> DrivingAnalysis | None:
    """A stored analysis, checked field by field; None when absent, stale or not ours (then it is redone)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != FORMAT or int(data["version"]) != VERSION or str(data["key"]) != key:
                return None
            coeffs, trans = data["coeffs"].astype(np.float32), data["trans_params"].astype(np.float64)
            points, found, first = data["landmarks"].astype(np.float64), data["found"].astype(bool), int(data["first"])
    except (OSError, KeyError, ValueError, TypeError):
        return None
    n = len(found)
    if coeffs.shape != (n, NUM_COEFFS) or trans.shape != (n, 5) or points.shape != (n, 5, 2) or found.ndim != 1:
        return None
    if not (np.isfinite(coeffs).all() and np.isfinite(trans).all()):
        return None
    return DrivingAnalysis(coeffs, trans, points, found, first)


def cached_source_row(rgb: np.ndarray, weights: str | Path, landmarks: np.ndarray | None, device: str,
                      name: str) -> np.ndarray:
    """``source_row`` stored like the driving analysis (keyed by the pixels, landmarks, weights and detector),
    so every process, farm worker and host uses the same bytes: the regressor's float rounding depends on
    the thread count, and a render must not."""
    record = {"format": FORMAT, "version": VERSION, "weights": file_identity(weights),
              "pixels": hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest(), "shape": list(rgb.shape),
              "landmarks": None if landmarks is None else np.asarray(landmarks, np.float64).round(6).tolist(),
              "detector": "file" if landmarks is not None else _detector_version()}
    key = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:32]
    path = cache_dir() / f"face-source-{key}.npy"
    try:
        row = np.load(path, allow_pickle=False)
        if row.shape == (NUM_COEFFS + 3,) and row.dtype == np.float32 and np.isfinite(row).all():
            return row
    except (OSError, ValueError):
        pass
    row = source_row(rgb, regressor(weights, device), landmarks, name)
    try:
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.save(f, row)
    except OSError as exc:
        print(f"segfuse: warning: could not store the analysis in {path.parent}: {exc}", file=sys.stderr)
    return row


_memo: dict[str, DrivingAnalysis] = {}
_memo_lock = threading.Lock()
_runner_cache: dict[tuple, FaceReconRunner] = {}


def regressor(weights: str | Path, device: str = "auto") -> FaceReconRunner:
    """The regressor for a weights file, loaded once per process and device."""
    key = (str(weights), device)
    with _memo_lock:
        if key not in _runner_cache:
            _runner_cache.clear()  # one network at a time: ResNet-50 is ~100 MB
            _runner_cache[key] = FaceReconRunner(load_face_recon(weights), device)
        return _runner_cache[key]


def driving_analysis(driving: str | Path, weights: str | Path, landmarks: str | Path | None = None,
                     device: str = "auto", progress: Progress = None) -> DrivingAnalysis:
    """The analysis of a driving clip: from this process's memory, else the cache, else computed (and
    stored). Threads asking at once compute it once."""
    driving, weights = Path(driving), Path(weights)
    if not is_pattern(driving) and not driving.is_file():
        raise InputError(f"{driving}: driving clip not found")
    key = analysis_key(driving, weights, landmarks)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    path = cache_dir() / f"face-coefficients-{key}.npz"
    with _analysis_lock(key):
        with _memo_lock:
            if key in _memo:
                return _memo[key]
        analysis = load_analysis(path, key)
        if analysis is None:
            source = open_source(driving)
            if source.frames is None:
                raise InputError(f"{driving}: the driving clip is a still image; give a movie or a sequence")
            points = read_landmarks(landmarks, len(source.frames)) if landmarks else None
            analysis = analyse(source, regressor(weights, device), points, progress)
            if not analysis.found.any():
                raise InputError(f"no face found in any of the {len(analysis)} frames of {driving}")
            try:
                save_analysis(analysis, path, key)
            except OSError as exc:  # a read-only cache costs speed, not the render
                print(f"segfuse: warning: could not store the analysis in {path.parent}: {exc}", file=sys.stderr)
        elif progress is not None:
            progress(len(analysis), len(analysis))
        with _memo_lock:
            _memo.clear()
            _memo[key] = analysis
    return analysis


_key_locks: dict[str, threading.Lock] = {}


def _analysis_lock(key: str) -> threading.Lock:
    with _memo_lock:
        return _key_locks.setdefault(key, threading.Lock())
