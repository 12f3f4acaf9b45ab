"""A paste-back test shot: the built-in sample's moving head placed into a wide 16:9 plate.

Reenactment tools paste their 256–512 px crop back into the source shot, so at 1080p or 4K most
pixels of a frame never change. This builds such a shot from the sample (no downloads):
``generated`` frames = plate with the sample's frame pasted at a third line, ``reference`` = plate
with the sample's reference portrait pasted at the same place. Longer clips play the sample's 48
frames forwards and backwards.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from segfuse.research.sample import GENERATED, REFERENCE


def plate(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A textured, deterministic sRGB uint8 background: gradients, soft noise and a few shapes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / width, y / height
    base = np.stack([0.30 + 0.30 * u, 0.38 + 0.20 * v, 0.55 - 0.25 * u * v], axis=-1)
    small = rng.standard_normal((max(2, height // 60), max(2, width // 60), 1)).astype(np.float32)
    base += 0.05 * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)[:, :, None]
    base += 0.008 * rng.standard_normal((height, width, 3)).astype(np.float32)
    rgb = np.clip(base * 255 + 0.5, 0, 255).astype(np.uint8)
    for _ in range(6):  # shelves, frames: edges for the encoder to keep
        x0, y0 = int(rng.integers(0, width - width // 6)), int(rng.integers(0, height - height // 6))
        colour = tuple(int(c) for c in rng.integers(30, 220, 3))
        cv2.rectangle(rgb, (x0, y0), (x0 + width // 7, y0 + height // 9), colour, max(2, width // 400))
    return rgb


def sample_frames() -> list[np.ndarray]:
    """The sample's generated frames, sRGB uint8 (decoded once)."""
    with av.open(str(GENERATED)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def placement(width: int, height: int, scale: float) -> tuple[int, int, int]:
    """(x, y, size) of the head crop: its centre on the right third line, a little above the middle."""
    size = int(round(512 * scale)) // 2 * 2
    x = min(width - size, max(0, int(width * 2 / 3) - size // 2))
    y = min(height - size, max(0, int(height * 0.45) - size // 2))
    return x, y, size


def paste(background: np.ndarray, crop: np.ndarray, where: tuple[int, int, int]) -> np.ndarray:
    x, y, size = where
    out = background.copy()
    if crop.shape[0] != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC if size > crop.shape[0]
                          else cv2.INTER_AREA)
    out[y:y + size, x:x + size] = crop
    return out


def reference_frame(width: int, height: int, scale: float = 1.0) -> np.ndarray:
    ref = cv2.cvtColor(cv2.imread(str(REFERENCE), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return paste(plate(width, height), ref, placement(width, height, scale))


def generated_frames(width: int, height: int, frames: int, scale: float = 1.0):
    """Yield ``frames`` paste-back frames (sRGB uint8), the sample played back and forth."""
    background, where = plate(width, height), placement(width, height, scale)
    crops = sample_frames()
    loop = crops + crops[-2:0:-1]
    for i in range(frames):
        yield paste(background, loop[i % len(loop)], where)


def write_movie(path: Path, frames, width: int, height: int, crf: int = 16, preset: str = "veryfast") -> None:
    """Encode uint8 RGB frames to H.264 yuv420p (BT.709 tags, as Write does)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_shot(folder: Path, width: int, height: int, frames: int, scale: float = 1.0,
               sequence: bool = False) -> tuple[Path, Path]:
    """Write the shot into ``folder``: (generated movie or PNG sequence pattern, reference PNG)."""
    folder.mkdir(parents=True, exist_ok=True)
    ref_path = folder / "reference.png"
    cv2.imwrite(str(ref_path), cv2.cvtColor(reference_frame(width, height, scale), cv2.COLOR_RGB2BGR))
    if sequence:
        pattern = folder / "generated.%04d.png"
        for i, rgb in enumerate(generated_frames(width, height, frames, scale)):
            cv2.imwrite(str(pattern).replace("%04d", f"{i:04d}"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        return pattern, ref_path
    movie = folder / "generated.mp4"
    write_movie(movie, generated_frames(width, height, frames, scale), width, height)
    return movie, ref_path
