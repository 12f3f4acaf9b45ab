"""ComfyUI tensors ↔ SegFuse frames, colour-managed through the core's OCIO setup.

ComfyUI's IMAGE is float B×H×W×C (C = 3, or 4 with alpha) in 0…1, display-referred sRGB; its MASK
is float B×H×W (or H×W for one frame). SegFuse frames are float32 H×W×C in the working space
(the OCIO config's scene_linear). A batch is a clip: image b is frame b. Alpha and mattes are
never colour-converted.
"""

from __future__ import annotations

import numpy as np
import torch

from segfuse import color
from segfuse.errors import InputError
from segfuse.image import Image, alpha_image

from .schema import IMAGE, MASK


def kind_of(value: object) -> str:
    """IMAGE or MASK by shape, or a description of what the value is instead."""
    if not isinstance(value, torch.Tensor):
        return type(value).__name__
    if value.ndim == 4 and value.shape[-1] in (3, 4):
        return IMAGE
    if value.ndim in (2, 3):
        return MASK
    return f"a tensor of shape {list(value.shape)}"


def check_kind(name: str, value: object, accepted: tuple[str, ...]) -> str:
    """The input's kind, or InputError when it is not one ``accepted``."""
    kind = kind_of(value)
    if kind not in accepted:
        shapes = {IMAGE: "B×H×W×3", MASK: "B×H×W"}
        wanted = " or ".join(f"{k} ({shapes[k]})" for k in accepted)
        got = {IMAGE: "an IMAGE", MASK: "a MASK"}.get(kind, kind)
        shape = f" of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else ""
        raise InputError(f"input '{name}' takes {wanted} but got {got}{shape}")
    if not value.is_floating_point():
        raise InputError(f"input '{name}' is {value.dtype}; ComfyUI images and masks are float 0…1")
    return kind


def batch_size(value: torch.Tensor) -> int:
    return 1 if value.ndim == 2 else int(value.shape[0])


def _array(value: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(value.detach().to("cpu", torch.float32).numpy())


def images_from_image(value: torch.Tensor) -> list[Image]:
    """An IMAGE batch → working-space frames (RGB, or straight RGBA)."""
    pixels = _array(value)
    working = color.working_space()
    return [Image(color.convert(frame, color.srgb_space(), working), working) for frame in pixels]


def images_from_mask(value: torch.Tensor) -> list[Image]:
    """A MASK batch → one-channel mattes (values kept as they are)."""
    pixels = _array(value)
    if pixels.ndim == 2:
        pixels = pixels[None]
    return [alpha_image(frame) for frame in pixels]


def to_images(value: torch.Tensor, kind: str) -> list[Image]:
    return images_from_image(value) if kind == IMAGE else images_from_mask(value)


CODE_VALUE_SNAP = (0.005, 0.01)  # in 8-bit steps: set exactly within the first (the sRGB → working → sRGB round
# trip errs up to 0.0044), pulled part of the way up to the second, left alone beyond it


def snap_code_values(srgb: np.ndarray) -> np.ndarray:
    """Values within float error of an 8-bit code value set to it. ComfyUI's savers truncate (255·x
    cast to uint8), so a pixel the repair left unchanged but that came back from the colour round
    trip a hair below its code value would be saved one step darker (about half of them). The pull
    fades out continuously, so values a float error apart stay about that far apart."""
    full, none = CODE_VALUE_SNAP
    steps = srgb * np.float32(255.0)
    nearest = np.round(steps)
    off = steps - nearest
    pull = np.clip((none - np.abs(off)) / (none - full), 0.0, 1.0).astype(np.float32)
    snapped = np.where(pull >= 1.0, nearest, steps - off * pull)
    return (snapped / np.float32(255.0)).astype(np.float32)


def image_tensor(frames: list[Image]) -> torch.Tensor:
    """Frames → an sRGB IMAGE batch (RGB; a matte becomes grey; alpha goes to the MASK output)."""
    out = []
    for frame in frames:
        if frame.channels == 1:
            out.append(np.repeat(np.clip(frame.pixels, 0.0, 1.0), 3, axis=2))
            continue
        srgb = color.convert(frame.rgb, frame.colorspace or color.working_space(), color.srgb_space())
        out.append(snap_code_values(np.clip(srgb, 0.0, 1.0).astype(np.float32)))
    return torch.from_numpy(np.stack(out).astype(np.float32))


def mask_tensor(frames: list[Image]) -> torch.Tensor:
    """Frames → a MASK batch: the matte, or the alpha channel (1 for RGB)."""
    return torch.from_numpy(np.stack([np.clip(f.alpha, 0.0, 1.0) for f in frames]).astype(np.float32))


def to_outputs(frames: list[Image], kinds: tuple[str, ...]) -> tuple[torch.Tensor, ...]:
    """The node's output tensors in schema order."""
    return tuple(image_tensor(frames) if kind == IMAGE else mask_tensor(frames) for kind in kinds)
