"""PIRenderer (Ren et al., ICCV 2021): portrait reenactment driven by 3DMM coefficients.

Written from the paper and the official model's architecture facts; ``state_dict()`` keys,
order and shapes equal the official checkpoints' (``warpping_net`` spelling included).

- Mapping net: 1-D convolutions over a 27-frame window of 73 coefficients (expression 64,
  angles 3, translation 3, crop 3) → one 256-d motion descriptor per frame.
- Warping net: an AdaIN hourglass (instance norm modulated by the descriptor) predicts a flow
  field at 1/4 resolution; it is turned into a sampling grid and applied with grid_sample.
- Editing net: an encoder over [source, warped] and an AdaIN-modulated decoder with skip
  connections refine the warped image into the output (tanh, [-1, 1]).

Official weights are CC BY-NC 4.0 (non-commercial): see the weights registry.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfuse.models.driving import driving_windows, load_coefficients, select_semantics  # noqa: F401 (API)

COEFF_NC = 73
WINDOW = 27
_SLOPE = 0.1  # LeakyReLU slope used throughout


def _act(x: Tensor) -> Tensor:
    return F.leaky_relu(x, _SLOPE)


class LayerNorm2d(nn.Module):
    """Layer norm over C×H×W with a per-channel affine (weights shaped C×1×1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape[1:]
        return F.layer_norm(x, shape, self.weight.expand(shape), self.bias.expand(shape))


class AdaIN(nn.Module):
    """Instance norm whose scale (1 + gamma) and shift (beta) come from the motion descriptor."""

    def __init__(self, channels: int, descriptor_nc: int, hidden: int = 128) -> None:
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Linear(descriptor_nc, hidden), nn.ReLU())
        self.mlp_gamma = nn.Linear(hidden, channels)
        self.mlp_beta = nn.Linear(hidden, channels)

    def forward(self, x: Tensor, descriptor: Tensor) -> Tensor:
        h = self.mlp_shared(descriptor.flatten(1))
        gamma, beta = self.mlp_gamma(h)[:, :, None, None], self.mlp_beta(h)[:, :, None, None]
        return F.instance_norm(x) * (1 + gamma) + beta


class MappingNet(nn.Module):
    def __init__(self, coeff_nc: int = COEFF_NC, descriptor_nc: int = 256, layer: int = 3) -> None:
        super().__init__()
        self.layer = layer
        self.first = nn.Sequential(nn.Conv1d(coeff_nc, descriptor_nc, 7))
        for i in range(layer):
            setattr(self, f"encoder{i}", nn.Sequential(nn.LeakyReLU(_SLOPE), nn.Conv1d(descriptor_nc, descriptor_nc,
                                                                                      3, dilation=3)))

    def forward(self, semantic: Tensor) -> Tensor:
        out = self.first(semantic)
        for i in range(self.layer):
            out = getattr(self, f"encoder{i}")(out) + out[:, :, 3:-3]  # each dilated conv trims 3 per side
        return out.mean(dim=2, keepdim=True)


class _EncoderBlock(nn.Module):
    """AdaIN → act → 4×4 stride-2 conv, then AdaIN → act → 3×3 conv."""

    def __init__(self, in_ch: int, out_ch: int, descriptor_nc: int) -> None:
        super().__init__()
        self.conv_0 = nn.Conv2d(in_ch, out_ch, 4, 2, 1)
        self.conv_1 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.norm_0 = AdaIN(in_ch, descriptor_nc)
        self.norm_1 = AdaIN(out_ch, descriptor_nc)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        x = self.conv_0(_act(self.norm_0(x, z)))
        return self.conv_1(_act(self.norm_1(x, z)))


class _DecoderBlock(nn.Module):
    """Residual ×2 upsampling with transposed convolutions on both paths."""

    def __init__(self, in_ch: int, out_ch: int, descriptor_nc: int) -> None:
        super().__init__()
        up = {"kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}
        self.conv_0 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.conv_1 = nn.ConvTranspose2d(out_ch, out_ch, **up)
        self.conv_s = nn.ConvTranspose2d(in_ch, out_ch, **up)
        self.norm_0 = AdaIN(in_ch, descriptor_nc)
        self.norm_1 = AdaIN(out_ch, descriptor_nc)
        self.norm_s = AdaIN(in_ch, descriptor_nc)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        shortcut = self.conv_s(_act(self.norm_s(x, z)))
        dx = self.conv_0(_act(self.norm_0(x, z)))
        return shortcut + self.conv_1(_act(self.norm_1(dx, z)))


class _HourglassEncoder(nn.Module):
    def __init__(self, image_nc: int, descriptor_nc: int, base: int, max_nc: int, layers: int) -> None:
        super().__init__()
        self.layers = layers
        self.input_layer = nn.Conv2d(image_nc, base, 7, 1, 3)
        for i in range(layers):
            setattr(self, f"encoder{i}", _EncoderBlock(min(base << i, max_nc), min(base << (i + 1), max_nc),
                                                       descriptor_nc))

    def forward(self, x: Tensor, z: Tensor) -> list[Tensor]:
        outs = [self.input_layer(x)]
        for i in range(self.layers):
            outs.append(getattr(self, f"encoder{i}")(outs[-1], z))
        return outs


class _HourglassDecoder(nn.Module):
    """Decodes the deepest ``decoder_layers`` scales, concatenating each encoder skip."""

    def __init__(self, descriptor_nc: int, base: int, max_nc: int, encoder_layers: int, decoder_layers: int) -> None:
        super().__init__()
        self.levels = list(range(encoder_layers - decoder_layers, encoder_layers))[::-1]
        for i in self.levels:
            in_ch = min(base << (i + 1), max_nc) * (1 if i == encoder_layers - 1 else 2)
            setattr(self, f"decoder{i}", _DecoderBlock(in_ch, min(base << i, max_nc), descriptor_nc))
        self.output_nc = 2 * min(base << self.levels[-1], max_nc)

    def forward(self, skips: list[Tensor], z: Tensor) -> Tensor:
        skips = list(skips)
        out = skips.pop()
        for i in self.levels:
            out = torch.cat([getattr(self, f"decoder{i}")(out, z), skips.pop()], dim=1)
        return out


class _Hourglass(nn.Module):
    def __init__(self, image_nc: int, descriptor_nc: int, base: int, max_nc: int, enc: int, dec: int) -> None:
        super().__init__()
        self.encoder = _HourglassEncoder(image_nc, descriptor_nc, base, max_nc, enc)
        self.decoder = _HourglassDecoder(descriptor_nc, base, max_nc, enc, dec)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return self.decoder(self.encoder(x, z), z)


def flow_to_grid(flow: Tensor) -> Tensor:
    """Flow in pixels (N×2×h×w, x then y) → grid_sample coordinates in [-1, 1] (N×h×w×2).

    Pixel i of n sits at 2·(i/(n-1)) - 1 and a flow of f pixels moves it by 2·f/(n-1), in that
    order of float operations (the official one, for bit-level parity)."""
    _, _, h, w = flow.shape
    xs = 2 * (torch.arange(w, dtype=flow.dtype, device=flow.device) / (w - 1)) - 1
    ys = 2 * (torch.arange(h, dtype=flow.dtype, device=flow.device) / (h - 1)) - 1
    grid = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)], dim=-1)
    offset = 2 * torch.cat([flow[:, :1] / (w - 1), flow[:, 1:] / (h - 1)], dim=1)
    return grid[None] + offset.permute(0, 2, 3, 1)


def warp(image: Tensor, flow: Tensor) -> Tensor:
    """Sample ``image`` along the (bilinearly upsampled) grid of ``flow``; zeros outside."""
    grid = flow_to_grid(flow)
    if grid.shape[1:3] != image.shape[2:]:
        grid = F.interpolate(grid.permute(0, 3, 1, 2), size=image.shape[2:], mode="bilinear",
                             align_corners=False).permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class WarpingNet(nn.Module):
    def __init__(self, image_nc: int = 3, descriptor_nc: int = 256, base_nc: int = 32, max_nc: int = 256,
                 encoder_layer: int = 5, decoder_layer: int = 3) -> None:
        super().__init__()
        self.hourglass = _Hourglass(image_nc, descriptor_nc, base_nc, max_nc, encoder_layer, decoder_layer)
        channels = self.hourglass.decoder.output_nc
        self.flow_out = nn.Sequential(LayerNorm2d(channels), nn.LeakyReLU(_SLOPE), nn.Conv2d(channels, 2, 7, 1, 3))

    def forward(self, image: Tensor, descriptor: Tensor) -> dict[str, Tensor]:
        flow = self.flow_out(self.hourglass(image, descriptor))
        return {"flow_field": flow, "warp_image": warp(image, flow)}


class _ConvNormAct(nn.Module):
    """conv → LayerNorm2d → act (kept in ``model``), optionally average-pooled by 2."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, pool: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, 1, kernel // 2), LayerNorm2d(out_ch),
                                   nn.LeakyReLU(_SLOPE)]
        if pool:
            layers.append(nn.AvgPool2d(2))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class _UpBlock(_ConvNormAct):
    def forward(self, x: Tensor) -> Tensor:
        return self.model(F.interpolate(x, scale_factor=2, mode="nearest"))


class _AdaINResBlock(nn.Module):
    """Residual block. In the official network the output is ``x + norm2(conv2(x), z)``: its first
    branch (conv1, norm1) is computed and then overwritten, so it never reaches the output. The
    parameters are kept for checkpoint compatibility; the dead branch is not computed."""

    def __init__(self, channels: int, descriptor_nc: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.norm1 = AdaIN(channels, descriptor_nc)
        self.norm2 = AdaIN(channels, descriptor_nc)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return x + self.norm2(self.conv2(x), z)


class _ResBlocks(nn.Module):
    def __init__(self, count: int, channels: int, descriptor_nc: int) -> None:
        super().__init__()
        self.count = count
        for i in range(count):
            setattr(self, f"res{i}", _AdaINResBlock(channels, descriptor_nc))

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        for i in range(self.count):
            x = getattr(self, f"res{i}")(x, z)
        return x


class _EditEncoder(nn.Module):
    def __init__(self, in_ch: int, base: int, max_nc: int, layers: int) -> None:
        super().__init__()
        self.layers = layers
        self.first = _ConvNormAct(in_ch, base, 7)
        for i in range(layers):
            setattr(self, f"down{i}", _ConvNormAct(min(base << i, max_nc), min(base << (i + 1), max_nc), 3, pool=True))

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = [self.first(x)]
        for i in range(self.layers):
            outs.append(getattr(self, f"down{i}")(outs[-1]))
        return outs


class _Final(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Conv2d(in_ch, out_ch, 7, 1, 3), nn.Tanh())

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class _EditDecoder(nn.Module):
    def __init__(self, image_nc: int, descriptor_nc: int, base: int, max_nc: int, layers: int, blocks: int) -> None:
        super().__init__()
        self.layers = layers
        for i in reversed(range(layers)):
            in_ch, out_ch = min(base << (i + 1), max_nc), min(base << i, max_nc)
            setattr(self, f"up{i}", _UpBlock(in_ch, out_ch, 3))
            setattr(self, f"res{i}", _ResBlocks(blocks, in_ch, descriptor_nc))
            setattr(self, f"jump{i}", _ConvNormAct(out_ch, out_ch, 3))
        self.final = _Final(base, image_nc)

    def forward(self, skips: list[Tensor], z: Tensor) -> Tensor:
        skips = list(skips)
        out = skips.pop()
        for i in reversed(range(self.layers)):
            out = getattr(self, f"up{i}")(getattr(self, f"res{i}")(out, z))
            out = getattr(self, f"jump{i}")(skips.pop()) + out
        return self.final(out)


class EditingNet(nn.Module):
    def __init__(self, image_nc: int = 3, descriptor_nc: int = 256, layer: int = 3, num_res_blocks: int = 2,
                 base_nc: int = 64, max_nc: int = 256) -> None:
        super().__init__()
        self.encoder = _EditEncoder(2 * image_nc, base_nc, max_nc, layer)
        self.decoder = _EditDecoder(image_nc, descriptor_nc, base_nc, max_nc, layer, num_res_blocks)

    def forward(self, source: Tensor, warped: Tensor, descriptor: Tensor) -> Tensor:
        return self.decoder(self.encoder(torch.cat([source, warped], dim=1)), descriptor)


class PIRenderer(nn.Module):
    """The face generator of ``config/face.yaml``. ``forward(source, semantic, stage)``: source
    N×3×256×256 in [-1, 1], semantic N×73×27 → dict with flow_field (N×2×64×64), warp_image and,
    unless ``stage == 'warp'``, fake_image."""

    def __init__(self) -> None:
        super().__init__()
        self.mapping_net = MappingNet()
        self.warpping_net = WarpingNet()  # the official spelling, kept for checkpoint keys
        self.editing_net = EditingNet()

    def forward(self, source: Tensor, semantic: Tensor, stage: str | None = None) -> dict[str, Tensor]:
        descriptor = self.mapping_net(semantic)
        out = self.warpping_net(source, descriptor)
        if stage != "warp":
            out["fake_image"] = self.editing_net(source, out["warp_image"], descriptor)
        return out
