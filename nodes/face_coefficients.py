"""Face Coefficients: a driving video → PIRender's per-frame 3DMM coefficients (Deep3DFaceRecon).

Its output is data carried as an image: frame t is a 260×1 alpha row holding that frame's 260 columns
(never colour-converted), which PIRender Drive's Coefficients clip reads over its 27-frame windows.
The per-frame work is a whole-clip analysis, computed once and cached (see segfuse.models.face_coefficients).
"""

from __future__ import annotations

import hashlib
import sys
import threading
from pathlib import Path

from segfuse import color
from segfuse.errors import NodeError
from segfuse.io.frames import FrameRange
from segfuse.lazy import lazy_module
from segfuse.models.weights import find_weights
from segfuse.ops.coefficients import MODES, PIRENDER_COLUMNS
from segfuse.runtime import RGB, RGBA, Alpha, Choice, Clip, ClipSpec, Double, FilePath, Image, node

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it


def _analysis():
    """The analysis module: it imports the regressor (and so torch), so it is loaded when a clip is
    analysed, never to list or describe the node."""
    from segfuse.models import face_coefficients

    return face_coefficients


def _crop():
    """PIRender's input framing (its module imports torch)."""
    from segfuse.models import pirender_runtime

    return pirender_runtime


@node(id="org.segfuse.FaceCoefficients", version=(1, 0), label="Face Coefficients", group="SegFuse",
      help="Reads a driving video and gives PIRender's 3DMM coefficients per frame: five landmarks (the face "
           "detector, or a landmarks file), Deep3DFaceRecon's alignment and ResNet-50 regressor. Mode "
           "expression keeps the Source portrait's pose (the paper's setting); full takes the driver's motion. "
           "Output: a 260×1 data row per frame for PIRender Drive's Coefficients input. A frame with no face "
           "holds the last face's coefficients. Deep3DFaceRecon weights: released with its MIT code, no "
           "separate licence stated.")
class FaceCoefficients:
    clips = (Clip("Source", components=(RGB, RGBA), optional=True,
                  help="the portrait PIRender animates: its pose (expression mode) and its crop scale"),)
    params = (
        FilePath("driving", default="", help="the driving clip: a movie or an image sequence"),
        FilePath("landmarks", default="", help="per-frame landmarks .npy (N×5×2 image pixels: eye centres, nose "
                                               "tip, mouth corners; NaN rows: no face); empty: the face detector"),
        FilePath("source_landmarks", default="", help="the Source's five landmarks (.npy 5×2 or Deep3DFaceRecon's "
                                                      ".txt); empty: the face detector"),
        FilePath("weights", default="", help="Deep3DFaceRecon checkpoint; empty: deep3d-face-recon from the registry"),
        Choice("mode", options=MODES, default="expression",
               help="expression: the Source's pose with the driver's expression (the paper's setting); "
                    "full: the driver's expression and pose"),
        Double("smoothing", default=1.0, min=0.0, max=10.0,
               help="Gaussian smoothing of the coefficients over time (sigma, frames; 0: off) against jitter"),
        Choice("fit", options=("crop", "stretch"), default="crop",
               help="how PIRender Drive makes the Source 256×256 (its 'fit'): the Source's coefficients are "
                    "read from that image, so its crop parameters are in the pixels PIRender sees"),
        Choice("device", options=("auto", "cpu", "cuda"), default="auto"),
    )
    output = Alpha

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple, np.ndarray] = {}
        self._sources: dict[str, np.ndarray] = {}
        self._said: set[str] = set()
        self._driving: dict[str, tuple[FrameRange, float | None, str]] = {}

    def missing_setting(self, p) -> str | None:
        """A fresh effect in a host is not an error until the driving clip is set (the host says so once)."""
        return None if p.driving else "set 'driving' to the driving clip (a movie or an image sequence)"

    def weights(self, p) -> Path:
        return find_weights("deep3d-face-recon", p.weights)

    def output_spec(self, inputs, p) -> ClipSpec:
        if not p.driving:
            raise NodeError("param 'driving' is empty")
        if p.mode == "expression" and "Source" not in inputs:
            raise NodeError("mode 'expression' takes the pose from the Source portrait: connect Source")
        frames, fps, timecode = self.driving_frames(p.driving)
        if p.landmarks:
            _analysis().read_landmarks(p.landmarks, len(frames))
        self.weights(p)  # missing weights fail before any frame renders
        return ClipSpec(PIRENDER_COLUMNS, 1, Alpha, frames, "", fps, timecode)

    def driving_frames(self, path: str) -> tuple[FrameRange, float | None, str]:
        """The driving clip's frame range, rate and timecode (its file opened once per path)."""
        with self._lock:
            if path not in self._driving:
                from segfuse.io.sources import open_source  # OpenImageIO and PyAV: when a clip opens

                source = open_source(path)
                if source.frames is None:
                    raise NodeError(f"param 'driving': {path} is a still image; give a movie or a sequence")
                self._driving = {path: (source.frames, source.fps, getattr(source, "timecode", ""))}
            return self._driving[path]

    def columns(self, inputs, p) -> np.ndarray:
        """N×260 rows for the whole driving clip, in the chosen mode (computed once per inputs)."""
        weights = self.weights(p)
        analysis = _analysis().driving_analysis(p.driving, weights, p.landmarks or None, p.device)
        message = _analysis().missing_message(analysis, Path(p.driving).name)
        source_key = ""
        source = None
        if "Source" in inputs:
            image = inputs["Source"].frame()
            source_key = hashlib.sha1(np.ascontiguousarray(image.pixels).tobytes()).hexdigest()
        key = (p.driving, str(weights), p.landmarks, p.source_landmarks, p.mode, p.smoothing, p.fit, source_key,
               id(analysis))
        with self._lock:
            if key in self._rows:
                return self._rows[key]
            if message and message not in self._said:
                self._said.add(message)
                print(f"segfuse: Face Coefficients: {message}", file=sys.stderr)
        if source_key:
            skey = f"{source_key}:{weights}:{p.source_landmarks}:{p.fit}"
            source = self._sources.get(skey)
            if source is None:
                source = self._source_row(image, weights, p)
                self._sources = {skey: source}
        rows = _analysis().transfer(analysis.columns(p.smoothing), source, p.mode)
        with self._lock:
            self._rows = {key: rows}
        return rows

    def _source_row(self, image: Image, weights: Path, p) -> np.ndarray:
        """The Source's 260 columns, read from the 256×256 image PIRender Drive gives its network."""
        srgb = np.clip(color.convert(image.rgb, image.colorspace, color.srgb_space()), 0.0, 1.0)
        x, (x0, y0, x1, y1) = _crop().conform(srgb, p.fit)
        seen = np.clip(_crop().to_srgb(x) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        points = None
        if p.source_landmarks:
            points = _analysis().read_landmarks(p.source_landmarks)
            if len(points) != 1:
                raise NodeError(f"param 'source_landmarks': {len(points)} faces; the portrait needs one (5×2)")
            points = (points[0] - [x0, y0]) * [seen.shape[1] / (x1 - x0), seen.shape[0] / (y1 - y0)]
        return _analysis().cached_source_row(seen, weights, points, p.device, "(Source)")

    def render(self, t: int, inputs, p) -> Image:
        rows = self.columns(inputs, p)
        first = _analysis().driving_analysis(p.driving, self.weights(p), p.landmarks or None, p.device).first
        index = t - first
        if not 0 <= index < len(rows):
            raise NodeError(f"frame {t} is outside the driving clip's {len(rows)} frames")
        return Image(np.ascontiguousarray(rows[index].reshape(1, PIRENDER_COLUMNS, 1), np.float32))
