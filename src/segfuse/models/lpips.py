"""LPIPS v0.1 (Zhang et al., CVPR 2018): a learned perceptual distance, as the paper's Table 1 uses.

Both images are shifted and scaled per channel, passed through a fixed backbone, and at five
depths the unit-normalised feature difference is squared, weighted per channel by the learned
linear head, averaged over space and summed over depths. Inputs are N×3×H×W in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from segfuse.models.backbones import AlexNetFeatures, VGG16Features
from segfuse.models.checkpoints import read_state_dict
from segfuse.models.weights import WeightsError

HEADS = Path(__file__).with_name("lpips_data") / "heads_v0.1.npz"
# Per-channel input shift and scale of the official metric (the backbones' ImageNet statistics in [-1, 1]).
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# Where each depth's features are read: the end of each slice of ``features`` (after its ReLU).
TAPS = {"alex": (2, 5, 8, 10, 12), "vgg": (4, 9, 16, 23, 30)}
BACKBONE_FILES = {"alex": "lpips-alexnet", "vgg": "lpips-vgg16"}


def _unit(x: Tensor, eps: float = 1e-10) -> Tensor:
    return x / (torch.sqrt(torch.sum(x * x, dim=1, keepdim=True)) + eps)


class LPIPS(nn.Module):
    """``LPIPS(net)(img0, img1)`` → N distances. ``backbone``: a state dict or a checkpoint path
    (torchvision layout; ``classifier.*`` keys are ignored); None looks the official file up."""

    def __init__(self, net: str = "alex", backbone: Mapping[str, Tensor] | str | Path | None = None) -> None:
        super().__init__()
        if net not in TAPS:
            raise ValueError(f"LPIPS net '{net}' is not one of {', '.join(TAPS)}")
        self.net_name = net
        self.net = AlexNetFeatures() if net == "alex" else VGG16Features()
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        with np.load(HEADS) as heads:
            for k in range(5):
                self.register_buffer(f"lin{k}", torch.from_numpy(heads[f"{net}.lin{k}"]).view(1, -1, 1, 1))
        self._load_backbone(backbone)
        self.eval().requires_grad_(False)

    def _load_backbone(self, backbone: Mapping[str, Tensor] | str | Path | None) -> None:
        if backbone is None:
            from segfuse.models.weights import find_weights

            backbone = find_weights(BACKBONE_FILES[self.net_name])
        source = str(backbone) if not isinstance(backbone, Mapping) else "the given state dict"
        state = read_state_dict(backbone) if not isinstance(backbone, Mapping) else dict(backbone)
        wanted = self.net.state_dict()
        features = {k: v for k, v in state.items() if k.startswith("features.")}
        missing = [k for k in wanted if k not in features]
        wrong = [k for k in wanted if k in features and tuple(features[k].shape) != tuple(wanted[k].shape)]
        if missing or wrong or len(features) != len(wanted):
            detail = f"missing {missing[:3]}" if missing else f"wrong shape {wrong[:3]}" if wrong else "extra keys"
            raise WeightsError(f"{source}: not a torchvision {self.net_name} checkpoint ({detail})")
        self.net.load_state_dict(features)

    def forward(self, img0: Tensor, img1: Tensor) -> Tensor:
        x0, x1 = (img0 - self.shift) / self.scale, (img1 - self.shift) / self.scale
        total = torch.zeros(img0.shape[0], device=img0.device)
        start = 0
        for k, end in enumerate(TAPS[self.net_name]):
            for layer in self.net.features[start:end]:
                x0, x1 = layer(x0), layer(x1)
            start = end
            diff = (_unit(x0) - _unit(x1)) ** 2
            total = total + (diff * getattr(self, f"lin{k}")).sum(dim=1).mean(dim=(1, 2))
        return total
