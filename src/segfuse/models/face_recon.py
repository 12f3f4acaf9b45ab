"""Deep3DFaceRecon's coefficient regressor, its five-point alignment, and PIRender's 260 columns.

Written from the architecture facts of github.com/sicxu/Deep3DFaceRecon_pytorch (MIT): a ResNet-50
(bottleneck blocks, stride on the 3×3 convolution, layers 3-4-6-3, batch norm) with no ``fc``, ending in
global average pooling, and seven 1×1 convolution heads whose outputs are concatenated into 257
coefficients: identity 80, expression 64, texture 80, angles 3 (radians), lighting 27, translation 3.
``state_dict()`` keys, order and shapes equal the official checkpoint's ``net_recon`` entry.

The input is the aligned 224×224 RGB crop scaled to [0, 1] (no mean/std normalisation). Regressing
coefficients needs no Basel Face Model: the BFM is only needed to turn them back into a mesh.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage
from torch import Tensor, nn

from segfuse.models.checkpoints import load_strict, read_state_dict
from segfuse.models.devices import place
from segfuse.ops.align import TARGET, crop_geometry, landmarks_in_crop
from segfuse.ops.coefficients import (  # noqa: F401  (the layout, re-exported with the network)
    ANGLES,
    EXP,
    GAMMA,
    HEADS,
    ID,
    NUM_COEFFS,
    PIRENDER_COLUMNS,
    TEX,
    TRANS,
)

BICUBIC = PILImage.Resampling.BICUBIC  # the official resampling (util/preprocess.py)


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (carries the stride) → 1×1 expand (×4), batch norm after each, identity or
    projected shortcut."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_ch))

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + shortcut)


class ResNet50Trunk(nn.Module):
    """ResNet-50 up to global average pooling (N×2048×1×1); no classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for index, (blocks, width, stride) in enumerate(((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)), 1):
            layer = []
            for b in range(blocks):
                layer.append(Bottleneck(channels, width, stride if b == 0 else 1))
                channels = width * Bottleneck.expansion
            setattr(self, f"layer{index}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x)


class FaceReconNet(nn.Module):
    """N×3×224×224 RGB in [0, 1] → N×257 coefficients (Deep3DFaceRecon's regressor)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = ResNet50Trunk()
        self.final_layers = nn.ModuleList([nn.Conv2d(2048, k, 1) for k in HEADS])
        for head in self.final_layers:  # untrained heads predict zeros (as the official constructor does)
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, x: Tensor) -> Tensor:
        features = self.backbone(x)
        return torch.cat([head(features) for head in self.final_layers], dim=1).flatten(1)


def load_face_recon(path: str | Path) -> FaceReconNet:
    """The regressor from an official checkpoint (``{'net_recon': state_dict}``) or a bare state dict."""
    state = read_state_dict(path, containers=("net_recon",))
    return load_strict(FaceReconNet(), state, path, "Deep3DFaceRecon").eval()


def align_face(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deep3DFaceRecon's alignment of an H×W×3 uint8 RGB image with five landmarks (image pixels, x right,
    y down; eyes, nose tip, mouth corners as seen in the image) → (224×224×3 uint8 crop,
    trans_params [W, H, s, tx, ty] as the official code gives them, the landmarks in the crop (y down)).

    The image is resized with Pillow's bicubic filter (the official resampling) and the crop reads
    black outside the image, as Pillow's ``crop`` does.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    g = crop_geometry(landmarks, width, height)
    crop = resized_crop(image, g.width, g.height, g.left, g.up)
    return crop, g.trans_params, landmarks_in_crop(landmarks, g)


def resized_crop(image: np.ndarray, width: int, height: int, left: int, up: int, side: int = TARGET) -> np.ndarray:
    """The side×side window at (left, up) of ``image`` resized to width×height (Pillow bicubic), zeros outside.

    Bit-identical to resizing the whole image and cropping, at a fraction of the cost on large frames:
    Pillow resizes in two separable 8-bit passes, so the horizontal pass runs only on the source rows the
    window's taps reach, and the vertical pass only on the window's columns."""
    if width < 1 or height < 1:
        raise ValueError("the face is too small for its image: the aligned resize is empty")
    out = np.zeros((side, side, 3), np.uint8)
    x0, y0 = max(left, 0), max(up, 0)
    x1, y1 = min(left + side, width), min(up + side, height)
    if x1 <= x0 or y1 <= y0:
        return out
    rows_in = image.shape[0]
    scale = rows_in / height
    reach = 2.0 * max(scale, 1.0) + 2.0  # bicubic support (2 px, widened when shrinking) and a margin
    r0 = max(int(np.floor((y0 + 0.5) * scale - reach)), 0)
    r1 = min(int(np.ceil((y1 - 0.5) * scale + reach)), rows_in)
    across = PILImage.fromarray(np.ascontiguousarray(image[r0:r1])).resize((width, r1 - r0), BICUBIC)
    strip = np.zeros((rows_in, x1 - x0, 3), np.uint8)  # rows the window's taps never reach stay zero
    strip[r0:r1] = np.asarray(across)[:, x0:x1]
    down = PILImage.fromarray(strip).resize((x1 - x0, height), BICUBIC)
    out[y0 - up:y1 - up, x0 - left:x1 - left] = np.asarray(down)[y0:y1]
    return out


def pirender_columns(coeffs: np.ndarray, trans_params: np.ndarray) -> np.ndarray:
    """N×257 coefficients and N×5 trans_params → PIRender's N×260 rows: the 257 values, then s, tx, ty
    (trans_params[2:5]), float32 as PIRender's preprocessing stores them."""
    coeffs = np.asarray(coeffs, np.float32).reshape(-1, NUM_COEFFS)
    trans_params = np.asarray(trans_params, np.float64).reshape(-1, 5)
    if len(coeffs) != len(trans_params):
        raise ValueError(f"{len(coeffs)} coefficient rows but {len(trans_params)} trans_params rows")
    return np.concatenate([coeffs, trans_params[:, 2:5].astype(np.float32)], axis=1)


def to_input(crops: np.ndarray) -> Tensor:
    """N×224×224×3 uint8 crops → N×3×224×224 float32 in [0, 1]."""
    crops = np.asarray(crops)
    if crops.ndim == 3:
        crops = crops[None]
    return torch.from_numpy(np.ascontiguousarray(crops.transpose(0, 3, 1, 2))).float() / 255.0


class FaceReconRunner:
    """The regressor on a device, batched; uint8 crops in, float32 N×257 out."""

    def __init__(self, model: FaceReconNet, device: str = "auto", precision: str = "fp32", batch: int = 16) -> None:
        self.model, self.device, self.dtype = place(model, device, precision)
        self.batch = batch

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        x = to_input(crops)
        parts = []
        with torch.inference_mode():
            for i in range(0, len(x), self.batch):
                parts.append(self.model(x[i:i + self.batch].to(self.device, self.dtype)).float().cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, NUM_COEFFS), np.float32)
