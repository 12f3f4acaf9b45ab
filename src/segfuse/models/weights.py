"""The weights registry: each official file, its licence, checksum and source, and where to find it.

Lookup order: an explicit path → ``$SEGFUSE_MODELS`` → the user cache dir
(``$XDG_CACHE_HOME/segfuse/models``, default ``~/.cache/segfuse/models``) → folders a host adds
(ComfyUI: models/segfuse). Nothing here downloads;
``install/fetch_weights.py`` does that where a network exists, ``segfuse models import`` copies a
local file in after checking it loads.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from segfuse.errors import SegFuseError


class WeightsError(SegFuseError):
    """A weights file is missing, unreadable, or not the network it should be."""


@dataclass(frozen=True)
class WeightsEntry:
    name: str
    filename: str
    network: str
    licence: str
    source: str
    sha256: str | None  # None: not recorded (no published checksum we could verify)
    description: str
    url: str | None = None  # a direct official download link, where one exists
    installer: str | None = None  # "module:function(target_dir) -> Path" that fetches it from a registry


REGISTRY: dict[str, WeightsEntry] = {e.name: e for e in (
    WeightsEntry(
        "modnet-photographic", "modnet_photographic_portrait_matting.ckpt", "modnet", "Apache-2.0",
        "MODNet's official pretrained folder (github.com/ZHKKKe/MODNet, pretrained/README.md)", None,
        "MODNet trained for photographic portraits (the paper's segmenter)"),
    WeightsEntry(
        "modnet-webcam", "modnet_webcam_portrait_matting.ckpt", "modnet", "Apache-2.0",
        "MODNet's official pretrained folder (github.com/ZHKKKe/MODNet, pretrained/README.md)", None,
        "MODNet trained for webcam video"),
    WeightsEntry(
        "pirender-face", "pirender_face.pt", "pirender", "CC BY-NC 4.0 (non-commercial)",
        "PIRender's official release (github.com/RenYurui/PIRender README: face.zip, the checkpoint in "
        "result/face/; import it with --as pirender-face)", None,
        "PIRenderer face generator trained on VoxCeleb (non-commercial use only)"),
    WeightsEntry(
        "lpips-alexnet", "alexnet-owt-7be5be79.pth", "alexnet", "BSD-3-Clause",
        "torchvision's ImageNet AlexNet (pytorch.org)", None,
        "AlexNet backbone of the LPIPS metric (the paper's Table 1)",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
    WeightsEntry(
        "lpips-vgg16", "vgg16-397923af.pth", "vgg16", "BSD-3-Clause",
        "torchvision's ImageNet VGG16 (pytorch.org)", None,
        "VGG16 backbone of the LPIPS metric",
        "https://download.pytorch.org/models/vgg16-397923af.pth"),
    WeightsEntry(
        "mtcnn", "facenet_pytorch-2.6.0-py3-none-any.whl", "mtcnn", "MIT",
        "the facenet-pytorch 2.6.0 wheel on PyPI (its facenet_pytorch/data/{pnet,rnet,onet}.pt; fetched with "
        "'pip download --no-deps', nothing installed)",
        "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca",
        "MTCNN face detector: boxes and 5 landmarks for the head track",
        installer="segfuse.models.face_detector:install"),
)}


_host_dirs: list[Path] = []


def add_search_dir(folder: Path | str) -> None:
    """Also search a host's own models folder (e.g. ComfyUI's models/segfuse), after the usual ones."""
    path = Path(folder).expanduser()
    if path not in _host_dirs:
        _host_dirs.append(path)


def search_dirs() -> list[Path]:
    """Where weights are looked for, in order: $SEGFUSE_MODELS (if set), the user cache dir, then
    folders a host added with ``add_search_dir``."""
    dirs = []
    env = os.environ.get("SEGFUSE_MODELS", "").strip()
    if env:
        dirs.append(Path(env).expanduser())
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    dirs.append(Path(cache) / "segfuse" / "models")
    return dirs + [d for d in _host_dirs if d not in dirs]


def models_dir() -> Path:
    """Where imported weights go: the first folder searched."""
    return search_dirs()[0]


def find_weights(name: str, explicit: str = "") -> Path:
    """The file for registry entry ``name`` (or ``explicit``); a one-line error says how to get it."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file {path} not found")
        return path
    entry = REGISTRY[name]
    for folder in search_dirs():
        candidate = folder / entry.filename
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(d) for d in search_dirs())
    how = (f"run 'python install/fetch_weights.py {entry.name}'" if entry.url or entry.installer else
           f"get it from {entry.source}, then run 'segfuse models import FILE'")
    raise WeightsError(f"{entry.filename} ({entry.description}) not found in {looked}; {how} "
                       "(or give its path explicitly)")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
