"""MODNet (Ke et al., AAAI 2022): trimap-free portrait matting, written from the paper's design.

Three branches share a MobileNetV2 encoder: the low-resolution branch predicts coarse semantics
(1/16 scale) from SE-weighted 1/32 features; the high-resolution branch predicts boundary detail
from the image and 1/2, 1/4 encoder features; the fusion branch combines both into the matte.
Normalisation is IBNorm: BatchNorm on the first half of the channels, InstanceNorm (no affine)
on the rest. ``state_dict()`` keys and shapes equal the official checkpoints'.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfuse.models.mobilenetv2 import MobileNetV2Features

ENCODER_CHANNELS = (16, 24, 32, 96, 1280)  # at 1/2, 1/4, 1/8, 1/16, 1/32
_ENCODER_SPLITS = ((0, 2), (2, 4), (4, 7), (7, 14), (14, 19))  # features[a:b] for each scale


def _resize(x: Tensor, factor: float) -> Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class IBNorm(nn.Module):
    """BatchNorm (affine) on the first ⌊C/2⌋ channels, InstanceNorm (not affine) on the rest."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.split = channels // 2
        self.bnorm = nn.BatchNorm2d(self.split, affine=True)
        self.inorm = nn.InstanceNorm2d(channels - self.split, affine=False)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.bnorm(x[:, : self.split]), self.inorm(x[:, self.split:])], dim=1)


class ConvIBNormReLU(nn.Module):
    """Conv2d (with bias) → optional IBNorm → optional ReLU, kept in ``layers``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 norm: bool = True, relu: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, stride, padding, bias=True)]
        if norm:
            layers.append(IBNorm(out_ch))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class SEBlock(nn.Module):
    """Squeeze-and-excitation channel weighting (reduction 4, no biases)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False), nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels, bias=False), nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        weights = self.fc(x.mean(dim=(2, 3)))
        return x * weights[:, :, None, None]


class Backbone(nn.Module):
    """The encoder; ``model.features`` is MobileNetV2. Returns features at 1/2 … 1/32."""

    def __init__(self) -> None:
        super().__init__()
        self.model = MobileNetV2Features(3)

    def forward(self, x: Tensor) -> list[Tensor]:
        out = []
        for first, last in _ENCODER_SPLITS:
            for layer in self.model.features[first:last]:
                x = layer(x)
            out.append(x)
        return out


class LRBranch(nn.Module):
    """Semantic estimation at low resolution (holds the shared encoder)."""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone
        self.se_block = SEBlock(ENCODER_CHANNELS[4])
        self.conv_lr16x = ConvIBNormReLU(ENCODER_CHANNELS[4], ENCODER_CHANNELS[3], 5, padding=2)
        self.conv_lr8x = ConvIBNormReLU(ENCODER_CHANNELS[3], ENCODER_CHANNELS[2], 5, padding=2)
        self.conv_lr = ConvIBNormReLU(ENCODER_CHANNELS[2], 1, 3, stride=2, padding=1, norm=False, relu=False)

    def forward(self, img: Tensor, inference: bool) -> tuple[Tensor | None, Tensor, Tensor, Tensor]:
        enc2x, enc4x, _, _, enc32x = self.backbone(img)
        lr16x = self.conv_lr16x(_resize(self.se_block(enc32x), 2))
        lr8x = self.conv_lr8x(_resize(lr16x, 2))
        semantic = None if inference else torch.sigmoid(self.conv_lr(lr8x))
        return semantic, lr8x, enc2x, enc4x


class HRBranch(nn.Module):
    """Boundary detail at high resolution from the image and shallow encoder features."""

    def __init__(self, hr: int = 32) -> None:
        super().__init__()
        self.tohr_enc2x = ConvIBNormReLU(ENCODER_CHANNELS[0], hr, 1)
        self.conv_enc2x = ConvIBNormReLU(hr + 3, hr, 3, stride=2, padding=1)
        self.tohr_enc4x = ConvIBNormReLU(ENCODER_CHANNELS[1], hr, 1)
        self.conv_enc4x = ConvIBNormReLU(2 * hr, 2 * hr, 3, padding=1)
        self.conv_hr4x = nn.Sequential(
            ConvIBNormReLU(3 * hr + 3, 2 * hr, 3, padding=1), ConvIBNormReLU(2 * hr, 2 * hr, 3, padding=1),
            ConvIBNormReLU(2 * hr, hr, 3, padding=1))
        self.conv_hr2x = nn.Sequential(
            ConvIBNormReLU(2 * hr, 2 * hr, 3, padding=1), ConvIBNormReLU(2 * hr, hr, 3, padding=1),
            ConvIBNormReLU(hr, hr, 3, padding=1), ConvIBNormReLU(hr, hr, 3, padding=1))
        self.conv_hr = nn.Sequential(
            ConvIBNormReLU(hr + 3, hr, 3, padding=1), ConvIBNormReLU(hr, 1, 1, norm=False, relu=False))

    def forward(self, img: Tensor, enc2x: Tensor, enc4x: Tensor, lr8x: Tensor,
                inference: bool) -> tuple[Tensor | None, Tensor]:
        img2x, img4x = _resize(img, 0.5), _resize(img, 0.25)
        enc2x = self.tohr_enc2x(enc2x)
        hr4x = self.conv_enc2x(torch.cat([img2x, enc2x], dim=1))
        hr4x = self.conv_enc4x(torch.cat([hr4x, self.tohr_enc4x(enc4x)], dim=1))
        hr4x = self.conv_hr4x(torch.cat([hr4x, _resize(lr8x, 2), img4x], dim=1))
        hr2x = self.conv_hr2x(torch.cat([_resize(hr4x, 2), enc2x], dim=1))
        detail = None if inference else torch.sigmoid(self.conv_hr(torch.cat([_resize(hr2x, 2), img], dim=1)))
        return detail, hr2x


class FusionBranch(nn.Module):
    """Combines semantics and detail into the full-resolution alpha matte."""

    def __init__(self, hr: int = 32) -> None:
        super().__init__()
        self.conv_lr4x = ConvIBNormReLU(ENCODER_CHANNELS[2], hr, 5, padding=2)
        self.conv_f2x = ConvIBNormReLU(2 * hr, hr, 3, padding=1)
        self.conv_f = nn.Sequential(
            ConvIBNormReLU(hr + 3, hr // 2, 3, padding=1), ConvIBNormReLU(hr // 2, 1, 1, norm=False, relu=False))

    def forward(self, img: Tensor, lr8x: Tensor, hr2x: Tensor) -> Tensor:
        lr2x = _resize(self.conv_lr4x(_resize(lr8x, 2)), 2)
        f2x = self.conv_f2x(torch.cat([lr2x, hr2x], dim=1))
        return torch.sigmoid(self.conv_f(torch.cat([_resize(f2x, 2), img], dim=1)))


class MODNet(nn.Module):
    """``forward(img, inference)`` → (semantic 1/16, detail, matte); img is N×3×H×W in [-1, 1], H, W % 32 == 0."""

    def __init__(self, hr_channels: int = 32) -> None:
        super().__init__()
        self.backbone = Backbone()
        self.lr_branch = LRBranch(self.backbone)
        self.hr_branch = HRBranch(hr_channels)
        self.f_branch = FusionBranch(hr_channels)

    def forward(self, img: Tensor, inference: bool = True) -> tuple[Tensor | None, Tensor | None, Tensor]:
        semantic, lr8x, enc2x, enc4x = self.lr_branch(img, inference)
        detail, hr2x = self.hr_branch(img, enc2x, enc4x, lr8x, inference)
        return semantic, detail, self.f_branch(img, lr8x, hr2x)


# ---- the official image-inference path ---------------------------------------------------------

def inference_size(height: int, width: int, ref_size: int = 512) -> tuple[int, int]:
    """(h, w) the network runs at: short side to ``ref_size`` when the image is smaller than it
    or larger on both sides (aspect kept with int()), then both floored to a multiple of 32."""
    if max(height, width) < ref_size or min(height, width) > ref_size:
        if width >= height:
            height, width = ref_size, int(width / height * ref_size)
        else:
            height, width = int(height / width * ref_size), ref_size
    return height - height % 32, width - width % 32


def to_network_input(images: list, ref_size: int = 512) -> tuple[Tensor, tuple[int, int]]:
    """uint8 H×W×{1,3,4} images (one size) → N×3×h×w in [-1, 1] at the inference size ('area')."""
    import numpy as np

    batch = []
    for image in images:
        rgb = np.asarray(image)
        if rgb.ndim == 2:
            rgb = rgb[:, :, None]
        if rgb.shape[2] == 1:
            rgb = np.repeat(rgb, 3, axis=2)
        batch.append(rgb[:, :, :3])
    x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float() / 255.0
    x = (x - 0.5) / 0.5
    height, width = x.shape[2:]
    size = inference_size(height, width, ref_size)
    if min(size) < 32:
        raise ValueError(f"image {width}×{height} is too small for MODNet (inference size {size[1]}×{size[0]})")
    return F.interpolate(x, size=size, mode="area"), (height, width)


def infer_mattes(runner, images: list, ref_size: int = 512):
    """Mattes (float32 N×H×W in [0, 1]) of same-size uint8 RGB images; ``runner`` maps the
    network input to N×1×h×w mattes (a MODNet module, or a backend runner)."""
    x, (height, width) = to_network_input(images, ref_size)
    if isinstance(runner, nn.Module):
        with torch.inference_mode():
            matte = runner(x, True)[2]
    else:
        matte = runner(x)
    return F.interpolate(matte.float(), size=(height, width), mode="area")[:, 0].numpy()


def infer_matte(model, image):
    """The matte (float32 H×W) of one uint8 RGB image, exactly as MODNet's image demo computes it."""
    return infer_mattes(model, [image])[0]
