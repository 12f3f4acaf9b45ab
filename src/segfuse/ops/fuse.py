"""Reference fusion (paper eqs. 7–8): put the reference's clean background back.

Background masks are ``B = 1 - A`` (A = person alpha). The fusion mask is
``M = Gaussian(min(B_gen_median, B_ref))`` (min is the logical AND for binary masks) and the
output is ``(1 - M) * I_gen + M * I_ref``.
"""

from __future__ import annotations

from segfuse.lazy import lazy_module

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")


def opencv_sigma(kernel: int) -> float:
    """The sigma OpenCV documents for a kernel size when sigma is 0 (1.4 for 7×7)."""
    return 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8


def gaussian_kernel(kernel: int, sigma: float = 0.0) -> np.ndarray:
    """A normalised, sampled 1-D Gaussian of odd size ``kernel`` (float32 column).

    Built here rather than by ``cv2.getGaussianKernel``: for sigma 0 and sizes up to 7 OpenCV
    substitutes a fixed table ([1, 3.5, 7, 9, 7, 3.5, 1] / 32 for 7) that is not the Gaussian
    its documented sigma describes, and differs from it by up to 0.016 on a binary mask.
    """
    sigma = sigma if sigma > 0 else opencv_sigma(kernel)
    x = np.arange(kernel, dtype=np.float64) - (kernel - 1) / 2
    weights = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return (weights / weights.sum()).astype(np.float32).reshape(-1, 1)


FEATHERS = ("centered", "outside", "inside")  # where the blend's ramp lies (see fusion_mask)


def fusion_mask(
    generated_alpha: np.ndarray, reference_alpha: np.ndarray, kernel: int, sigma: float = 0.0,
    protect: int = 0, feather: str = "centered",
) -> np.ndarray:
    """M_t: the blurred intersection of both backgrounds, float32 H×W in [0, 1].

    ``kernel`` is the odd Gaussian size (Reference Fuse's param; no default here: the node's is the
    pipeline's); ``sigma`` 0 means 0.3·((k-1)/2 - 1) + 0.8.
    Borders reflect without repeating the edge pixel (OpenCV's BORDER_REFLECT_101).
    Beyond the paper: ``protect`` px of background next to the person are kept from the render.
    ``feather`` (one of FEATHERS): "centered", the paper's blur straddling the edge, so the
    background's last pixels get only part of the reference and keep part of the render's smear;
    "outside" pulls the blend back by the kernel's radius, so no reference pixel reaches the person;
    "inside" gives every background pixel the whole reference and keeps the blur's ramp only on
    the other side of the edge (there it equals "centered": the person is treated as the paper does).
    """
    if feather not in FEATHERS:
        raise ValueError(f"feather must be one of {', '.join(FEATHERS)}, not {feather!r}")
    if generated_alpha.shape != reference_alpha.shape:
        raise ValueError(f"matte sizes differ: {generated_alpha.shape} vs {reference_alpha.shape}")
    both = np.maximum(generated_alpha, reference_alpha).astype(np.float32, copy=False)
    background = np.subtract(1.0, both, dtype=np.float32)
    margin = protect + (kernel // 2 if feather == "outside" else 0)
    if margin > 0:
        background = shrink_background(background, margin)
    if kernel <= 1:
        return background
    taps = gaussian_kernel(kernel, sigma)
    blurred = cv2.sepFilter2D(background, cv2.CV_32F, taps, taps, borderType=cv2.BORDER_REFLECT_101)
    if feather == "inside":
        np.maximum(blurred, background, out=blurred)
    return np.clip(blurred, 0.0, 1.0, out=blurred)


def shrink_background(background: np.ndarray, margin: int) -> np.ndarray:
    """The background mask eroded by a disk of radius ``margin`` px (soft masks: a min filter)."""
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.erode(background, disk, borderType=cv2.BORDER_REPLICATE)


def fuse(generated: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(1 - M) ⊙ I_gen + M ⊙ I_ref for H×W×C images and an H×W mask."""
    if generated.shape != reference.shape:
        raise ValueError(f"image sizes differ: {generated.shape} vs {reference.shape}")
    m = mask[:, :, None] if mask.ndim == 2 else mask
    out = np.subtract(reference, generated, dtype=np.float32)
    out *= m
    out += generated
    return out


def match_colour(reference: np.ndarray, generated: np.ndarray, mask: np.ndarray, sure: float = 0.99,
                 min_share: float = 0.01) -> np.ndarray:
    """``reference`` with a per-channel gain and offset that make its background match ``generated``'s.

    Fitted by least squares over the pixels where ``mask`` (the fusion mask M) is at least
    ``sure``, i.e. background in both images. For renders whose colours drift from the
    reference: the pasted plate then meets the rendered pixels next to the person without a
    visible step. Gains are kept within [0.8, 1.25]; with fewer than ``min_share`` of the pixels
    to fit on, the reference is returned unchanged (nothing trustworthy to match).
    """
    if reference.shape != generated.shape:
        raise ValueError(f"image sizes differ: {reference.shape} vs {generated.shape}")
    where = mask >= sure
    if where.sum() < max(16, min_share * mask.size):
        return reference
    matched = np.array(reference, dtype=np.float32, copy=True)
    for channel in range(min(3, reference.shape[2])):
        x = reference[..., channel][where].astype(np.float64)
        y = generated[..., channel][where].astype(np.float64)
        variance = x.var()
        slope = ((x - x.mean()) * (y - y.mean())).mean() / variance if variance > 1e-8 else 1.0
        gain = float(np.clip(slope, 0.8, 1.25))
        offset = float(y.mean() - gain * x.mean())
        matched[..., channel] = reference[..., channel] * gain + offset
    return matched


def bounding_box(active: np.ndarray, x0: int = 0, y0: int = 0) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the True pixels of an H×W bool array (offset by ``x0``, ``y0``); None if none."""
    if active.size == 0:
        return None
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(active).view(np.uint8))
    return (x0 + x, y0 + y, x0 + x + w, y0 + y + h) if w and h else None
