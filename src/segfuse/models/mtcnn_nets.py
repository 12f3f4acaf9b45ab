"""MTCNN's three networks run with numpy alone (no torch in the process that detects faces).

Why: the networks are tiny (1.9 MB of weights; a 640x360 frame costs a few million multiply-adds),
while importing torch costs a `segfuse fix` process or a host's plugin 2.5 s and 200 MB before the
first frame. Layers follow the state-dict layout of the facenet-pytorch wheel's files (weights
O x C x kh x kw, biases O, PReLU slopes C, dense O x I), computed in channels-last order:
valid convolutions as one matrix product over the sliding windows, max pooling with the output size
rounded up (windows past the edge see only the pixels inside), dense layers fed in the column-major
order the original Caffe/MATLAB models were trained with.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import as_strided

Weights = Mapping[str, np.ndarray]

# what each network's arrays are called and shaped (the wheel's state-dict keys)
LAYOUT: dict[str, dict[str, tuple[int, ...]]] = {
    "pnet": {"conv1.weight": (10, 3, 3, 3), "conv1.bias": (10,), "prelu1.weight": (10,),
             "conv2.weight": (16, 10, 3, 3), "conv2.bias": (16,), "prelu2.weight": (16,),
             "conv3.weight": (32, 16, 3, 3), "conv3.bias": (32,), "prelu3.weight": (32,),
             "conv4_1.weight": (2, 32, 1, 1), "conv4_1.bias": (2,),
             "conv4_2.weight": (4, 32, 1, 1), "conv4_2.bias": (4,)},
    "rnet": {"conv1.weight": (28, 3, 3, 3), "conv1.bias": (28,), "prelu1.weight": (28,),
             "conv2.weight": (48, 28, 3, 3), "conv2.bias": (48,), "prelu2.weight": (48,),
             "conv3.weight": (64, 48, 2, 2), "conv3.bias": (64,), "prelu3.weight": (64,),
             "dense4.weight": (128, 576), "dense4.bias": (128,), "prelu4.weight": (128,),
             "dense5_1.weight": (2, 128), "dense5_1.bias": (2,),
             "dense5_2.weight": (4, 128), "dense5_2.bias": (4,)},
    "onet": {"conv1.weight": (32, 3, 3, 3), "conv1.bias": (32,), "prelu1.weight": (32,),
             "conv2.weight": (64, 32, 3, 3), "conv2.bias": (64,), "prelu2.weight": (64,),
             "conv3.weight": (64, 64, 3, 3), "conv3.bias": (64,), "prelu3.weight": (64,),
             "conv4.weight": (128, 64, 2, 2), "conv4.bias": (128,), "prelu4.weight": (128,),
             "dense5.weight": (256, 1152), "dense5.bias": (256,), "prelu5.weight": (256,),
             "dense6_1.weight": (2, 256), "dense6_1.bias": (2,),
             "dense6_2.weight": (4, 256), "dense6_2.bias": (4,),
             "dense6_3.weight": (10, 256), "dense6_3.bias": (10,)},
}


def check_layout(name: str, weights: Weights) -> None:
    """Raise ValueError unless ``weights`` holds exactly network ``name``'s arrays, shaped as it needs."""
    expected = LAYOUT[name]
    if set(weights) != set(expected):
        raise ValueError(f"{name}: arrays {sorted(set(weights) ^ set(expected))} missing or unexpected")
    for key, shape in expected.items():
        if tuple(weights[key].shape) != shape:
            raise ValueError(f"{name}.{key}: shape {tuple(weights[key].shape)}, expected {shape}")


def conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Valid stride-1 convolution of N x H x W x C ``x`` by an O x C x kh x kw kernel: each output
    pixel's window read as kh runs of kw x C consecutive values (channels last makes a window row one
    run), times the kernel laid out in the same (kh, kw, C) order."""
    out_ch, in_ch, kh, kw = weight.shape
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, h, w, _ = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    if kh == kw == 1:
        columns = x.reshape(-1, in_ch)
    else:
        s_n, s_h, s_w, s_c = x.strides
        windows = as_strided(x, (n, oh, ow, kh, kw * in_ch), (s_n, s_h, s_w, s_h, s_c), writeable=False)
        columns = windows.reshape(-1, kh * kw * in_ch)
    out = columns @ weight.transpose(2, 3, 1, 0).reshape(-1, out_ch)
    out += bias
    return out.reshape(n, oh, ow, out_ch)


def prelu(x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Parametric ReLU with one slope per channel (the last axis), in place."""
    negative = np.minimum(x, 0.0)
    negative *= slope - 1.0
    x += negative
    return x


def max_pool(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Max pooling over H and W of N x H x W x C ``x``, the output size rounded up (Caffe's rule):
    the window's shifted, strided views folded with ``np.maximum``."""
    n, h, w, c = x.shape
    out_h, out_w = -(-(h - size) // stride) + 1, -(-(w - size) // stride) + 1
    pad_h, pad_w = (out_h - 1) * stride + size - h, (out_w - 1) * stride + size - w
    if pad_h or pad_w:
        x = np.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), constant_values=-np.inf)
    out = None
    for i in range(size):
        for j in range(size):
            view = x[:, i:i + (out_h - 1) * stride + 1:stride, j:j + (out_w - 1) * stride + 1:stride]
            out = view.copy() if out is None else np.maximum(out, view, out=out)
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis."""
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def dense(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return x @ weight.T + bias


def flatten_column_major(x: np.ndarray) -> np.ndarray:
    """N x H x W x C features flattened W-major, then H, then C (the original models' order)."""
    n, h, w, c = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, h * w * c)


def _block(x: np.ndarray, w: Weights, layer: str) -> np.ndarray:
    """conv + PReLU of layer ``layer`` (e.g. "1": conv1, prelu1)."""
    return prelu(conv(x, w[f"conv{layer}.weight"], w[f"conv{layer}.bias"]), w[f"prelu{layer}.weight"])


def pnet(x: np.ndarray, w: Weights) -> tuple[np.ndarray, np.ndarray]:
    """Proposal net over N x H x W x 3 normalised images: (box offsets N x H' x W' x 4, face
    probability N x H' x W' x 2)."""
    x = max_pool(_block(x, w, "1"), 2, 2)
    x = _block(_block(x, w, "2"), w, "3")
    return conv(x, w["conv4_2.weight"], w["conv4_2.bias"]), softmax(conv(x, w["conv4_1.weight"], w["conv4_1.bias"]))


def rnet(x: np.ndarray, w: Weights) -> tuple[np.ndarray, np.ndarray]:
    """Refine net over N x 24 x 24 x 3 crops: (box offsets N x 4, face probability N x 2)."""
    x = max_pool(_block(x, w, "1"), 3, 2)
    x = max_pool(_block(x, w, "2"), 3, 2)
    x = flatten_column_major(_block(x, w, "3"))
    x = prelu(dense(x, w["dense4.weight"], w["dense4.bias"]), w["prelu4.weight"])
    return dense(x, w["dense5_2.weight"], w["dense5_2.bias"]), softmax(dense(x, w["dense5_1.weight"],
                                                                              w["dense5_1.bias"]))


def onet(x: np.ndarray, w: Weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output net over N x 48 x 48 x 3 crops: (box offsets N x 4, landmarks N x 10 (x0..x4, y0..y4,
    as fractions of the box), face probability N x 2)."""
    x = max_pool(_block(x, w, "1"), 3, 2)
    x = max_pool(_block(x, w, "2"), 3, 2)
    x = max_pool(_block(x, w, "3"), 2, 2)
    x = flatten_column_major(_block(x, w, "4"))
    x = prelu(dense(x, w["dense5.weight"], w["dense5.bias"]), w["prelu5.weight"])
    return (dense(x, w["dense6_2.weight"], w["dense6_2.bias"]), dense(x, w["dense6_3.weight"], w["dense6_3.bias"]),
            softmax(dense(x, w["dense6_1.weight"], w["dense6_1.bias"])))


CHUNK = 32  # crops per pass: a chunk's layers stay in the CPU's cache (1.5x faster than one big batch)


def in_chunks(net, x: np.ndarray, w: Weights) -> tuple[np.ndarray, ...]:
    """``rnet`` or ``onet`` over N crops, ``CHUNK`` at a time, outputs joined in order."""
    parts = [net(x[start:start + CHUNK], w) for start in range(0, len(x), CHUNK)]
    if not parts:
        parts = [net(x, w)]
    return tuple(np.concatenate(outputs) for outputs in zip(*parts, strict=True))
