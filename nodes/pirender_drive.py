"""PIRender Drive: animate a still portrait with a sequence of 3DMM coefficients (PIRenderer).

Official PIRenderer weights are CC BY-NC 4.0: non-commercial use only.
"""

from __future__ import annotations

import threading
from pathlib import Path

from segfuse import color
from segfuse.errors import InputError, NodeError
from segfuse.io import FrameRange
from segfuse.lazy import lazy_module
from segfuse.models.driving import (
    RADIUS,
    driving_windows,
    expression_sequence,
    load_coefficients,
    select_semantics,
)
from segfuse.models.framing import locate
from segfuse.models.weights import find_weights
from segfuse.runtime import RGB, RGBA, Alpha, Bool, Choice, Clip, FilePath, Image, String, node

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")


def parse_crop(text: str) -> tuple[float, float, float] | None:
    if not text.strip():
        return None
    try:
        values = tuple(float(v) for v in text.replace(",", " ").split())
    except ValueError:
        values = ()
    if len(values) != 3:
        raise NodeError(f"param 'crop': '{text}' is not three numbers S,TX,TY")
    return values  # type: ignore[return-value]


@node(id="org.segfuse.PIRenderDrive", version=(1, 1), label="PIRender Drive", group="SegFuse",
      help="Animates the Source portrait with 3DMM coefficients (Deep3DFaceRecon N×257/N×260, or N×73) "
           "using PIRenderer; one output frame per coefficient row. The coefficients come from a file or "
           "from the Coefficients input (Face Coefficients' rows). Modes: full motion, or expression only "
           "(pose from the source's own coefficients). Official weights: CC BY-NC 4.0, non-commercial use only.")
class PIRenderDrive:
    clips = (Clip("Source", components=(RGB, RGBA), help="the still portrait to animate (a face crop)"),
             Clip("Coefficients", components=(Alpha,), optional=True, temporal=True,
                  help="per-frame 260×1 coefficient rows (Face Coefficients); replaces the coefficients file"))
    params = (
        FilePath("weights", default="", help="PIRenderer checkpoint; empty: pirender-face from the registry"),
        FilePath("coefficients", default="", help=".npy/.npz/.mat, a folder or pattern of per-frame .mat, "
                                                  "or an expression.mat of named expression vectors"),
        Choice("mode", options=("full", "expression"), default="full",
               help="full: the driver's expression and pose; expression: the driver's expression, the "
                    "source's pose (from source_coefficients, else the driver's first frame)"),
        FilePath("source_coefficients", default="", help="the source portrait's own coefficients (one row)"),
        String("crop", default="", help="S,TX,TY crop parameters for N×257 coefficients"),
        Choice("fit", options=("crop", "stretch", "face"), default="crop",
               help="how the source becomes 256×256: centred square crop, stretched, or the square around "
                    "the detected face in PIRenderer's training framing (any shot; paste_back puts it back)"),
        Choice("output", options=("generated", "warped", "source"), default="generated",
               help="the final image, the warp-only image, or the 256×256 source as the network sees it"),
        Bool("paste_back", default=False, help="paste the result back into the source at its resolution"),
        Choice("device", options=("auto", "cpu", "cuda"), default="auto"),
        Choice("precision", options=("fp32", "fp16"), default="fp32", help="fp16 on CUDA only"),
    )
    output = RGB

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runner = None
        self._runner_key: tuple | None = None
        self._windows: np.ndarray | None = None
        self._windows_key: tuple | None = None
        self._pose: np.ndarray | None = None
        self._pose_key: tuple | None = None

    def runner(self, p):
        """The loaded network (torch is imported here, when a network is first needed)."""
        from segfuse.models.pirender_runtime import PIRenderRunner, load_pirender

        key = (p.weights, p.device, p.precision)
        with self._lock:
            if self._runner_key != key:
                path = find_weights("pirender-face", p.weights)
                self._runner, self._runner_key = PIRenderRunner(load_pirender(path), p.device, p.precision), key
            return self._runner

    def windows(self, p) -> np.ndarray:
        """N×73×27 network inputs for the coefficient file and mode (read once)."""
        key = (p.coefficients, p.mode, p.source_coefficients, p.crop)
        with self._lock:
            if self._windows_key != key:
                self._windows, self._windows_key = self._build_windows(p), key
            return self._windows

    def _build_windows(self, p) -> np.ndarray:
        if not p.coefficients:
            raise NodeError("param 'coefficients' is empty")
        crop = parse_crop(p.crop)
        source_pose = None
        if p.source_coefficients:
            source_pose = select_semantics(load_coefficients(p.source_coefficients)[:1], crop)[0, 64:]
        path = Path(p.coefficients)
        if path.suffix.lower() == ".mat" and path.is_file() and _is_expression_mat(path):
            if source_pose is None:
                raise NodeError("an expression.mat drives expressions only: set source_coefficients for the pose")
            return driving_windows(expression_sequence(path, source_pose))
        semantics = select_semantics(load_coefficients(path), crop)
        if p.mode == "expression":
            semantics = semantics.copy()
            semantics[:, 64:] = source_pose if source_pose is not None else semantics[0, 64:]
        return driving_windows(semantics)

    def frames_needed(self, t: int, p, ranges=None) -> dict[str, list[int]]:
        """The 27-frame window of coefficient rows around t (the runtime clips it to the clip's frames);
        expression mode without source coefficients also reads the first row, for the pose."""
        frames = list(range(t - RADIUS, t + RADIUS + 1))
        coefficient_range = (ranges or {}).get("Coefficients")
        if p.mode == "expression" and not p.source_coefficients and coefficient_range is not None:
            frames.append(coefficient_range.first)
        return {"Coefficients": frames}

    def time_domain(self, inputs, p) -> FrameRange | None:
        if p.output == "source":
            return None
        if "Coefficients" in inputs:
            return inputs["Coefficients"].frames
        return FrameRange(0, len(self.windows(p)) - 1)

    def region_of_definition(self, inputs, p) -> tuple[int, int]:
        from segfuse.models.pirender_runtime import check_portrait

        coefficients = inputs.get("Coefficients")
        if coefficients is not None and (coefficients.size != (260, 1) or coefficients.is_still):
            raise NodeError(f"clip 'Coefficients' is {coefficients.width}×{coefficients.height}"
                            f"{' (a still)' if coefficients.is_still else ''}: expected 260×1 rows per frame "
                            "(Face Coefficients' output)")
        width, height = inputs["Source"].size
        check_portrait(width, height)
        if p.output != "source":
            self.runner(p)  # missing or wrong weights fail before any frame renders
        return (width, height) if p.paste_back else (256, 256)

    def render(self, t: int, inputs, p) -> Image:
        return self.render_batch([t], [inputs], p)[0]

    def render_batch(self, times: list[int], inputs: list, p) -> list[Image]:
        from segfuse.models.pirender_runtime import conform, to_srgb

        source = inputs[0]["Source"].frame()
        srgb = np.clip(color.convert(source.rgb, source.colorspace, color.srgb_space()), 0.0, 1.0)
        box = None
        if p.fit == "face":
            found = locate(np.round(srgb * 255).astype(np.uint8))
            if found is None:
                raise InputError("fit 'face': no face found in the source portrait")
            box = found.crop(srgb.shape[0], srgb.shape[1])
        x, box = conform(srgb, p.fit, box)
        if p.output == "source":
            frames = [to_srgb(x)] * len(times)
        else:
            if "Coefficients" in inputs[0]:
                windows = np.stack([self.clip_window(t, frames["Coefficients"], p) for t, frames in zip(times, inputs,
                                                                                                      strict=True)])
            else:
                windows = self.windows(p)
                if any(t >= len(windows) for t in times):
                    raise InputError(f"frame {max(times)} is past the {len(windows)} coefficient rows")
                windows = windows[times]
            out = self.runner(p)(x, windows, "warp" if p.output == "warped" else None)
            key = "warp_image" if p.output == "warped" else "fake_image"
            frames = [to_srgb(image) for image in out[key]]
        results = []
        for frame in frames:
            if p.paste_back:
                frame = _paste(srgb, frame, box)
            working = color.convert(np.ascontiguousarray(frame, np.float32), color.srgb_space(), color.working_space())
            results.append(Image(working, color.working_space()))
        return results


    def clip_window(self, t: int, clip, p) -> np.ndarray:
        """73×27 network input for frame t from the Coefficients clip's rows t-13…t+13 (clamped to the clip,
        as the official windows are)."""
        frames = clip.spec.frames
        rows = np.stack([clip.frame(min(max(k, frames.first), frames.last)).pixels[0, :, 0]
                         for k in range(t - RADIUS, t + RADIUS + 1)])
        semantics = select_semantics(rows, parse_crop(p.crop))
        if p.mode == "expression":
            if p.source_coefficients:
                pose = self._source_pose(p.source_coefficients, p.crop)
            else:
                pose = select_semantics(clip.frame(frames.first).pixels[0, :, 0], parse_crop(p.crop))[0, 64:]
            semantics[:, 64:] = pose
        return np.ascontiguousarray(semantics.T)


    def _source_pose(self, path: str, crop: str) -> np.ndarray:
        """The 9 pose values of a source-coefficients file (read once per file and crop)."""
        with self._lock:
            if self._pose_key != (path, crop):
                self._pose = select_semantics(load_coefficients(path)[:1], parse_crop(crop))[0, 64:]
                self._pose_key = (path, crop)
            return self._pose


def _is_expression_mat(path: Path) -> bool:
    from scipy.io import whosmat

    try:
        return any(name.startswith("expression_") for name, _, _ in whosmat(str(path)))
    except Exception:  # an unreadable file is reported by the coefficient reader
        return False


def _paste(source: np.ndarray, frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    out = source.copy()
    out[y0:y1, x0:x1] = cv2.resize(frame, (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)
