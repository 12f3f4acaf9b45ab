"""Running PIRenderer: loading the official checkpoint, conforming a portrait, batched inference."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from segfuse.errors import InputError
from segfuse.models.checkpoints import load_strict, read_state_dict
from segfuse.models.devices import place
from segfuse.models.pirender import PIRenderer

SIZE = 256
MIN_SIDE = 128
MAX_ASPECT = 2.0


def load_pirender(path: str | Path) -> PIRenderer:
    """The generator from an official checkpoint (``net_G_ema``, else ``net_G``) or a bare state dict."""
    state = read_state_dict(path, containers=("net_G_ema", "net_G"))
    return load_strict(PIRenderer(), state, path, "PIRenderer").eval()


def check_portrait(width: int, height: int) -> None:
    """PIRender takes a face crop: refuse tiny or strip-shaped images with one line."""
    aspect = max(width, height) / min(width, height)
    if min(width, height) < MIN_SIDE or aspect > MAX_ASPECT:
        raise InputError(f"source is {width}×{height}: not a portrait crop (PIRender needs at least "
                         f"{MIN_SIDE} px on the short side and an aspect within 1:{MAX_ASPECT:g})")


def crop_box(width: int, height: int, fit: str) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the source region the network sees: the centred square, or all of it."""
    if fit == "stretch":
        return 0, 0, width, height
    side = min(width, height)
    x0, y0 = (width - side) // 2, (height - side) // 2
    return x0, y0, x0 + side, y0 + side


def conform(srgb: np.ndarray, fit: str,
            box: tuple[int, int, int, int] | None = None) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """sRGB H×W×3 in [0, 1] → 1×3×256×256 in [-1, 1] and the box it came from (``box``: a given
    x0, y0, x1, y1, e.g. the head track's portrait crop; default: from ``fit``)."""
    box = box if box is not None else crop_box(srgb.shape[1], srgb.shape[0], fit)
    x0, y0, x1, y1 = box
    region = srgb[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if region.shape[0] > SIZE else cv2.INTER_CUBIC
    small = np.clip(cv2.resize(region, (SIZE, SIZE), interpolation=interp), 0.0, 1.0)
    return torch.from_numpy(small).permute(2, 0, 1)[None].float() * 2 - 1, box


def to_srgb(image: torch.Tensor) -> np.ndarray:
    """1×3×H×W (or 3×H×W) in [-1, 1] → H×W×3 sRGB in [0, 1]."""
    return ((image.reshape(3, *image.shape[-2:]).clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()


class PIRenderRunner:
    """PIRenderer on a device; a CPU batch runs frame by frame, a GPU batch whole."""

    def __init__(self, model: PIRenderer, device: str = "auto", precision: str = "fp32") -> None:
        self.model, self.device, self.dtype = place(model, device, precision)

    def __call__(self, source: torch.Tensor, semantics: np.ndarray, stage: str | None = None) -> dict:
        step = 1 if self.device.type == "cpu" else len(semantics)
        parts: list[dict] = []
        with torch.inference_mode():
            for i in range(0, len(semantics), step):
                sem = torch.from_numpy(semantics[i:i + step]).to(self.device, self.dtype)
                src = source.to(self.device, self.dtype).expand(len(sem), -1, -1, -1)
                parts.append({k: v.float().cpu() for k, v in self.model(src, sem, stage).items()})
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
