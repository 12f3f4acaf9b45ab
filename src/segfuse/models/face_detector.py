"""Face detector: boxes and five landmarks per face (MTCNN, run by our own numpy networks).

Why MTCNN: its output is exactly the 5-point set the head track and Deep3DFaceRecon-style
landmark steps use (eye centres, nose tip, mouth corners), its networks are small enough to run
on numpy (``mtcnn_nets``: no torch import in the process that detects), and its weights come
from a registry package: the MIT-licensed
``facenet-pytorch`` 2.6.0 wheel on PyPI carries them as plain state dicts
(``facenet_pytorch/data/{pnet,rnet,onet}.pt``, 1.9 MB in all). We keep that wheel, pinned by
sha256, in the models folder and read the three members from it; nothing else of the package
is installed or imported (its own requirements pin torch < 2.3 and numpy < 2).

Install: ``segfuse models fetch mtcnn`` (``pip download`` of the pinned wheel, checked
by sha256), or ``segfuse models import facenet_pytorch-2.6.0-py3-none-any.whl``. The members
are read once with ``torch.load(weights_only=True)`` and kept beside the wheel as plain float32
arrays (``ARRAYS_NAME``, checked against a recorded digest on every load).

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

from segfuse.models import mtcnn_nets
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


# --- weights: the pinned wheel, converted once to plain arrays ---------------------------------------

ARRAYS_NAME = "facenet_pytorch-2.6.0-mtcnn-float32.npz"  # the converted arrays, kept beside the wheel
# arrays_digest of the three members' state dicts as float32
ARRAYS_SHA256 = "70a0f4ed37269ab097d1a209344b0c60e17c16d587cf34880323b829428793db"

_nets: dict[str, dict[str, np.ndarray]] | None = None
_lock = threading.Lock()


def arrays_digest(nets: dict[str, dict[str, np.ndarray]]) -> str:
    """sha256 over every array's name, shape and float32 bytes, in a fixed order: what the
    converted file must hold whoever wrote it."""
    digest = hashlib.sha256()
    for net in sorted(nets):
        for key in sorted(nets[net]):
            array = np.ascontiguousarray(nets[net][key], dtype="<f4")
            digest.update(f"{net}.{key}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def _read_wheel(wheel: Path) -> dict[str, dict[str, np.ndarray]]:
    """The three state dicts from the wheel, each member checked against its recorded sha256 and
    loaded with ``torch.load(weights_only=True)``: the one step that needs torch, done once."""
    import torch

    nets = {}
    try:
        with zipfile.ZipFile(wheel) as archive:
            for key, member in MEMBERS.items():
                data = archive.read(member)
                if hashlib.sha256(data).hexdigest() != MEMBER_SHA256[key]:
                    raise WeightsError(f"{wheel}: {member} is not the recorded MTCNN file (sha256 differs)")
                state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
                nets[key] = {name: value.detach().numpy().astype(np.float32) for name, value in state.items()}
                mtcnn_nets.check_layout(key, nets[key])
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, ValueError) as exc:
        raise WeightsError(f"{wheel}: not the facenet-pytorch 2.6.0 wheel with MTCNN weights ({exc})") from None
    if arrays_digest(nets) != ARRAYS_SHA256:
        raise WeightsError(f"{wheel}: its MTCNN weights convert to other arrays than recorded")
    return nets


def _read_arrays(path: Path) -> dict[str, dict[str, np.ndarray]] | None:
    """The converted arrays at ``path`` when they are exactly the recorded ones, else None (then
    the wheel is read again and the file rewritten)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            nets: dict[str, dict[str, np.ndarray]] = {}
            for name in data.files:
                net, _, key = name.partition("/")
                nets.setdefault(net, {})[key] = data[name]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    return nets if set(nets) == set(MEMBERS) and arrays_digest(nets) == ARRAYS_SHA256 else None


def _write_arrays(nets: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    """Keep the converted arrays beside the wheel (a read-only models folder only costs the next
    process the conversion again)."""
    from segfuse.errors import SegFuseError
    from segfuse.io.atomic import atomic_output

    try:
        with atomic_output(path) as out, open(out, "wb") as handle:
            np.savez(handle, **{f"{net}/{key}": array for net, arrays in nets.items() for key, array in arrays.items()})
    except (OSError, SegFuseError):  # e.g. a read-only or full models folder: detection goes on
        pass


def load_networks(path: Path | str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """The three networks' arrays (``mtcnn_nets.LAYOUT``) from the facenet-pytorch wheel at ``path``
    (default: the models folder).

    Without ``path``, the arrays converted beside the wheel are used when they match their recorded
    digest, so detecting faces never imports torch after the first time; with ``path`` (checking an
    install), the wheel itself is read and each member checked against its recorded sha256."""
    wheel = Path(path) if path else find_weights(MODEL_NAME)
    arrays = wheel.with_name(ARRAYS_NAME)
    nets = None if path else _read_arrays(arrays)
    if nets is None:
        nets = _read_wheel(wheel)
        if not path:  # the installed wheel: keep its arrays (a file checked elsewhere is only read)
            _write_arrays(nets, arrays)
    return nets


def _networks() -> dict[str, dict[str, np.ndarray]]:
    global _nets
    with _lock:
        if _nets is None:
            _nets = load_networks()
        return _nets


def install(target_dir: Path | None = None) -> Path:
    """Fetch the pinned facenet-pytorch wheel with pip (no dependencies, nothing installed), check its
    sha256 and place it in the models folder, its arrays converted beside it. Returns the file's
    path; raises WeightsError."""
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
        nets = _read_wheel(got)
        with atomic_output(target) as out:
            Path(out).write_bytes(got.read_bytes())
        _write_arrays(nets, target.with_name(ARRAYS_NAME))
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


def _normalise(patches: np.ndarray) -> np.ndarray:
    """uint8 N x H x W x 3 patches as the networks take them (-1..1, channels last)."""
    return (patches.astype(np.float32) - 127.5) * np.float32(0.0078125)


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


def _detect(image: np.ndarray, min_size: float, thresholds: tuple[float, float, float]) -> list[Face]:
    nets = _networks()
    h, w = image.shape[:2]
    scale = 12.0 / min_size
    side = min(h, w) * scale
    proposals = []
    while side >= 12:
        sh, sw = int(h * scale + 1), int(w * scale + 1)
        level = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        reg, prob = mtcnn_nets.pnet(_normalise(level[None]), nets["pnet"])
        prob, reg = prob[0, :, :, 1], reg[0]
        ys, xs = np.nonzero(prob >= thresholds[0])
        if len(ys):
            cells = np.stack([xs, ys], axis=1).astype(np.float64)
            q0 = np.floor((2 * cells + 1) / scale)
            q1 = np.floor((2 * cells + 12) / scale)
            found = np.hstack([q0, q1, prob[ys, xs][:, None], reg[ys, xs]])
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

    reg, prob = mtcnn_nets.in_chunks(mtcnn_nets.rnet, _normalise(_crops(image, boxes, 24)), nets["rnet"])
    score = prob[:, 1]
    keep = score > thresholds[1]
    boxes, reg = np.hstack([boxes[keep, :4], score[keep, None]]), reg[keep]
    if not len(boxes):
        return []
    kept = _nms(boxes[:, :4], boxes[:, 4], 0.7)
    boxes = _square(_regress(boxes[kept], reg[kept]))

    reg, points, prob = mtcnn_nets.in_chunks(mtcnn_nets.onet, _normalise(_crops(image, boxes, 48)), nets["onet"])
    score = prob[:, 1]
    keep = score > thresholds[2]
    boxes, reg, points = np.hstack([boxes[keep, :4], score[keep, None]]), reg[keep], points[keep]
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
    faces = _detect(np.ascontiguousarray(small), min_size, thresholds)
    if factor != 1.0:
        sx, sy = w / small.shape[1], h / small.shape[0]
        faces = [Face((f.box[0] * sx, f.box[1] * sy, f.box[2] * sx, f.box[3] * sy),
                      (f.landmarks * np.float32([sx, sy])).astype(np.float32), f.score) for f in faces]
    return sorted(faces, key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
