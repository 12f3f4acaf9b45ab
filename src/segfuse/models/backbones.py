"""AlexNet and VGG16 convolutional stacks with torchvision's ``features.N`` key layout, so the
official torchvision checkpoints (alexnet-owt-7be5be79.pth, vgg16-397923af.pth) load into them.
Only the feature layers are defined: LPIPS never uses the classifiers."""

from __future__ import annotations

from torch import nn

VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class AlexNetFeatures(nn.Module):
    """Krizhevsky's AlexNet in torchvision's single-tower variant (64-192-384-256-256 channels)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        )


class VGG16Features(nn.Module):
    """VGG16 (configuration D) without batch norm: 3×3 convolutions, ReLU, 2×2 max pooling."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in VGG16_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers)
