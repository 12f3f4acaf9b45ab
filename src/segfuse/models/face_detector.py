"""Face detector: boxes and five landmarks per face (MTCNN, run by our own PyTorch modules).

Why MTCNN: its output is exactly the 5-point set the head track and Deep3DFaceRecon-style
landmark steps use (eye centres, nose tip, mouth corners), it runs on torch (already a
dependency: no new runtime), and its weights come from a registry package: the MIT-licensed
``facenet-pytorch`` 2.6.0 wheel on PyPI carries them as plain state dicts
(``facenet_pytorch/data/{pnet,rnet,onet}.pt``, 1.9 MB in all). We keep that wheel, pinned by
sha256, in the models folder and read the three members from it; nothing else of the package
is installed or imported (its own requirements pin torch < 2.3 and numpy < 2).

Install: ``python install/fetch_weights.py mtcnn`` (``pip download`` of the pinned wheel, checked
by sha256), or ``segfuse models import facenet_pytorch-2.6.0-py3-none-any.whl``.

The three stages follow Zhang et al. 2016 ("Joint Face Detection and Alignment using Multi-task
Cascaded Convolutional Networks"): a fully convolutional proposal net over an image pyramid,
a refine net on 24x24 crops, an output net on 48x48 crops that also gives the landmarks.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from segfuse.models.weights import REGISTRY, WeightsError, find_weights, sha256_of

MODEL_NAME = "mtcnn"
WHEEL_REQUIREMENT = "facenet-pytorch==2.6.0"
MEMBERS = {"pnet": "facenet_pytorch/data/pnet.pt", "rnet": "facenet_pytorch/data/rnet.pt",
           "onet": "facenet_pytorch/data/onet.pt"}
MEMBER_SHA256 = {"pnet": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
                 "rnet": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
                 "onet": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"}


@dataclass(frozen=True)
class Face:
    """One detected face. ``box``: x0, y0, x1, y1 in pixels; ``landmarks``: 5x2 float32 (x right,
    y down): image-left eye centre, image-right eye centre, nose tip, image-left mouth corner,
    image-right mouth corner (the MTCNN / Deep3DFaceRecon order); ``score``: the output net's
    face probability."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float


# --- the three networks (state-dict keys and shapes equal the wheel's files) ------------------------

class _PNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


def _flatten_caffe(x: torch.Tensor) -> torch.Tensor:
    """Flatten in the order the original (Caffe/MATLAB, column-major) dense layers were trained on."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class _RNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu4(self.dense4(_flatten_caffe(self.prelu3(self.conv3(x)))))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class _ONet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu5(self.dense5(_flatten_caffe(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


# --- weights: the pinned wheel ----------------------------------------------------------------------

_nets: tuple[_PNet, _RNet, _ONet] | None = None
_lock = threading.Lock()


def load_networks(path: Path | str | None = None) -> tuple[_PNet, _RNet, _ONet]:
    """The three networks from the facenet-pytorch wheel at ``path`` (default: the models folder).

    Each member is checked against its recorded sha256 and loaded with ``weights_only=True``."""
    wheel = Path(path) if path else find_weights(MODEL_NAME)
    nets = (_PNet(), _RNet(), _ONet())
    try:
        with zipfile.ZipFile(wheel) as archive:
            for (key, member), net in zip(MEMBERS.items(), nets, strict=True):
                data = archive.read(member)
                if hashlib.sha256(data).hexdigest() != MEMBER_SHA256[key]:
                    raise WeightsError(f"{wheel}: {member} is not the recorded MTCNN file (sha256 differs)")
                net.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
                net.eval()
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError) as exc:
        raise WeightsError(f"{wheel}: not the facenet-pytorch 2.6.0 wheel with MTCNN weights ({exc})") from None
    return nets


def _networks() -> tuple[_PNet, _RNet, _ONet]:
    global _nets
    with _lock:
        if _nets is None:
            _nets = load_networks()
        return _nets


def install(target_dir: Path | None = None) -> Path:
    """Fetch the pinned facenet-pytorch wheel with pip (no dependencies, nothing installed), check its
    sha256 and place it in the models folder. Returns the file's path; raises WeightsError."""
    from segfuse.io.atomic import atomic_output
    from segfuse.models.weights import models_dir

    entry = REGISTRY[MODEL_NAME]
    target = (target_dir or models_dir()) / entry.filename
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--dest", tmp, WHEEL_REQUIREMENT]
        done = subprocess.run(cmd, capture_output=True, text=True)
        got = Path(tmp) / entry.filename
        if done.returncode != 0 or not got.is_file():
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise WeightsError(f"{MODEL_NAME}: 'pip download {WHEEL_REQUIREMENT}' failed: {last}")
        digest = sha256_of(got)
        if digest != entry.sha256:
            raise WeightsError(f"{MODEL_NAME}: downloaded {got.name} has sha256 {digest}, expected {entry.sha256}")
        load_networks(got)
        with atomic_output(target) as out:
            Path(out).write_bytes(got.read_bytes())
    return target


# --- detection ---------------------------------------------------------------------------------------

def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (overlap over union, or over the smaller box)."""
    x0, y0, x1, y1 = boxes.T
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(scores)[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + 1)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        order = rest[inter / denom <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2:4] = out[:, 0:2] + side[:, None]
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, :4] = boxes[:, :4] + reg * np.stack([w, h, w, h], axis=1)
    return out


def _normalise(patches: np.ndarray) -> torch.Tensor:
    return torch.from_numpy((patches.astype(np.float32) - 127.5) * 0.0078125).permute(0, 3, 1, 2).contiguous()


def _crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """size x size crops of ``boxes`` (zero outside the image), as the original pipeline takes them."""
    h, w = image.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.uint8)
    for k, (x0, y0, x1, y1) in enumerate(np.trunc(boxes[:, :4]).astype(np.int64)):
        bw, bh = x1 - x0 + 1, y1 - y0 + 1
        if bw < 2 or bh < 2:
            continue
        patch = np.zeros((bh, bw, 3), np.uint8)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1 + 1, w), min(y1 + 1, h)
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


@torch.inference_mode()
def _detect(image: np.ndarray, min_size: float, thresholds: tuple[float, float, float]) -> list[Face]:
    pnet, rnet, onet = _networks()
    h, w = image.shape[:2]
    scale = 12.0 / min_size
    side = min(h, w) * scale
    proposals = []
    while side >= 12:
        sh, sw = int(h * scale + 1), int(w * scale + 1)
        level = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        reg, prob = pnet(_normalise(level[None]))
        prob, reg = prob[0, 1].numpy(), reg[0].numpy()
        ys, xs = np.nonzero(prob >= thresholds[0])
        if len(ys):
            cells = np.stack([xs, ys], axis=1).astype(np.float64)
            q0 = np.floor((2 * cells + 1) / scale)
            q1 = np.floor((2 * cells + 12) / scale)
            found = np.hstack([q0, q1, prob[ys, xs][:, None], reg[:, ys, xs].T])
            proposals.append(found[_nms(found[:, :4], found[:, 4], 0.5)])
        scale *= 0.709
        side *= 0.709
    if not proposals:
        return []
    boxes = np.vstack(proposals)
    boxes = boxes[_nms(boxes[:, :4], boxes[:, 4], 0.7)]
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    refined = boxes[:, :4] + boxes[:, 5:9] * np.stack([bw, bh, bw, bh], axis=1)
    boxes = _square(np.hstack([refined, boxes[:, 4:5]]))

    reg, prob = rnet(_normalise(_crops(image, boxes, 24)))
    score = prob[:, 1].numpy()
    keep = score > thresholds[1]
    boxes, reg = np.hstack([boxes[keep, :4], score[keep, None]]), reg.numpy()[keep]
    if not len(boxes):
        return []
    kept = _nms(boxes[:, :4], boxes[:, 4], 0.7)
    boxes = _square(_regress(boxes[kept], reg[kept]))

    reg, points, prob = onet(_normalise(_crops(image, boxes, 48)))
    score = prob[:, 1].numpy()
    keep = score > thresholds[2]
    boxes, reg, points = np.hstack([boxes[keep, :4], score[keep, None]]), reg.numpy()[keep], points.numpy()[keep]
    if not len(boxes):
        return []
    bw = boxes[:, 2] - boxes[:, 0] + 1
    bh = boxes[:, 3] - boxes[:, 1] + 1
    xs = bw[:, None] * points[:, 0:5] + boxes[:, 0:1] - 1
    ys = bh[:, None] * points[:, 5:10] + boxes[:, 1:2] - 1
    boxes = _regress(boxes, reg)
    kept = _nms(boxes[:, :4], boxes[:, 4], 0.7, "min")
    return [Face(tuple(float(v) for v in boxes[k, :4]), np.stack([xs[k], ys[k]], axis=1).astype(np.float32),
                 float(boxes[k, 4])) for k in kept]


def detect_faces(rgb_uint8: np.ndarray, min_face: float = 0.08, work_size: int = 640,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)) -> list[Face]:
    """Faces in an H x W x 3 uint8 RGB frame, largest (box area) first.

    ``min_face``: the smallest face looked for, as a fraction of the frame's shorter side (talking
    heads are large; a small bound keeps the pyramid short). Frames are searched at most
    ``work_size`` px on their longer side and the results scaled back."""
    if rgb_uint8.ndim != 3 or rgb_uint8.shape[2] != 3 or rgb_uint8.dtype != np.uint8:
        raise ValueError(f"detect_faces wants an H x W x 3 uint8 RGB array, got {rgb_uint8.dtype} {rgb_uint8.shape}")
    h, w = rgb_uint8.shape[:2]
    factor = min(1.0, work_size / max(h, w))
    small = rgb_uint8 if factor == 1.0 else cv2.resize(rgb_uint8, (max(1, round(w * factor)),
                                                                    max(1, round(h * factor))),
                                                       interpolation=cv2.INTER_AREA)
    min_size = max(12.0, min_face * min(small.shape[:2]))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the nets are tiny: intra-op threads only spin (50x slower on a busy machine)
    try:
        faces = _detect(np.ascontiguousarray(small), min_size, thresholds)
    finally:
        torch.set_num_threads(threads)
    if factor != 1.0:
        sx, sy = w / small.shape[1], h / small.shape[0]
        faces = [Face((f.box[0] * sx, f.box[1] * sy, f.box[2] * sx, f.box[3] * sy),
                      (f.landmarks * np.float32([sx, sy])).astype(np.float32), f.score) for f in faces]
    return sorted(faces, key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
