"""Five-point face alignment as Deep3DFaceRecon does it: a least-squares fit of five image landmarks to
five standard 3D landmarks, then a rescale and a 224×224 crop around the fitted centre.

Pure geometry (no image resampling): the fit, the crop box and where landmarks land in the crop.
Facts from the official code (util/preprocess.py, read for behaviour, not copied):

- landmarks are flipped to y-up about the last pixel row (y' = H - 1 - y) before fitting;
- the fit is an 8-unknown linear least squares, u = a·X + tx, v = b·X + ty (a, b 3-vectors), and the
  image scale of the model is (|a| + |b|) / 2; the resize factor is s = 102 / that scale;
- the image is resized to int(W·s) × int(H·s) (truncation) and cropped at
  left = int(w/2 - 112 + (tx - W/2)·s), up = int(h/2 - 112 + (H/2 - ty)·s) (truncation toward zero);
- trans_params = [W, H, s, tx, ty] is what PIRender's preprocessing keeps (its last three columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TARGET = 224  # crop side
RESCALE = 102.0  # the official rescale factor: model scale → pixels

# The five standard 3D landmarks (x, y, z; model units) from Deep3DFaceRecon's BFM/similarity_Lm3D_all.mat,
# reduced from 68 points to 5 (eye centres as the mean of their two corners, nose tip, mouth corners).
# Order: eye on the image left, eye on the image right, nose tip, mouth corner left, mouth corner right.
LM3D_STD = np.array([
    [-0.3114865720272064, 0.29036077857017517, 0.13377952575683594],
    [0.30979886651039124, 0.289720356464386, 0.1317952573299408],
    [0.003253498813137412, -0.04617932438850403, 0.5524424314498901],
    [-0.25216928124427795, -0.3813391625881195, 0.22405731678009033],
    [0.24846619367599487, -0.38128235936164856, 0.22235769033432007],
], dtype=np.float64)


@dataclass(frozen=True)
class CropGeometry:
    """Where the 224×224 crop comes from: the resize to (width, height), then the box at (left, up)."""

    scale: float  # s: image pixels → crop pixels
    tx: float  # fitted face centre, x (image pixels)
    ty: float  # fitted face centre, y, in the y-up frame (H - 1 - y)
    image_width: int
    image_height: int
    width: int  # resized image size
    height: int
    left: int  # crop box in the resized image (may lie partly outside it)
    up: int

    @property
    def trans_params(self) -> np.ndarray:
        """[W, H, s, tx, ty] as Deep3DFaceRecon reports them (float64)."""
        return np.array([self.image_width, self.image_height, self.scale, self.tx, self.ty], np.float64)


def flip_y(points: np.ndarray, height: int) -> np.ndarray:
    """Image landmarks (y down) ↔ the y-up frame the official fit works in (its own inverse)."""
    out = np.array(points, np.float64, copy=True)
    out[:, 1] = height - 1 - out[:, 1]
    return out


def fit_face_centre(points_up: np.ndarray, model: np.ndarray = LM3D_STD) -> tuple[np.ndarray, float]:
    """Least squares of an affine camera (two 3-vectors and a 2-D shift) mapping ``model`` (5×3) to
    ``points_up`` (5×2, y up): returns the shift (tx, ty) and the mean norm of the two 3-vectors."""
    points_up = np.asarray(points_up, np.float64)
    design = np.concatenate([model, np.ones((len(model), 1))], axis=1)  # [X 1]
    solution, *_ = np.linalg.lstsq(design, points_up, rcond=None)  # 4×2: (a, tx) and (b, ty)
    scale = (np.linalg.norm(solution[:3, 0]) + np.linalg.norm(solution[:3, 1])) / 2
    return solution[3].copy(), float(scale)


def crop_geometry(landmarks: np.ndarray, image_width: int, image_height: int,
                  target: int = TARGET, rescale: float = RESCALE) -> CropGeometry:
    """The official crop for five landmarks in image pixels (x right, y down)."""
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (5, 2) or not np.isfinite(landmarks).all():
        raise ValueError(f"expected 5×2 finite landmarks, got shape {landmarks.shape}")
    (tx, ty), model_scale = fit_face_centre(flip_y(landmarks, image_height))
    if not model_scale > 0:
        raise ValueError("the five landmarks are degenerate (they span no face)")
    s = rescale / model_scale
    width, height = int(image_width * s), int(image_height * s)
    left = int(width / 2 - target / 2 + (tx - image_width / 2) * s)
    up = int(height / 2 - target / 2 + (image_height / 2 - ty) * s)
    return CropGeometry(s, float(tx), float(ty), image_width, image_height, width, height, left, up)


def landmarks_in_crop(landmarks: np.ndarray, geometry: CropGeometry, target: int = TARGET) -> np.ndarray:
    """Image landmarks (x right, y down) → crop pixels (x right, y down). The official code keeps the
    result y-up with an unrounded offset; this is the same point flipped about the crop's last row."""
    g = geometry
    up = flip_y(landmarks, g.image_height)
    shifted = (up - np.array([g.tx, g.ty]) + np.array([g.image_width / 2, g.image_height / 2])) * g.scale
    crop_up = shifted - np.array([g.width / 2 - target / 2, g.height / 2 - target / 2])
    return flip_y(crop_up, target)
