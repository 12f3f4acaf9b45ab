"""The built-in sample: a talking-head-style clip with PIRender-like background defects.

Made by ``python -m segfuse.research.sample.make`` from NASA's public-domain astronaut portrait (as
bundled by scikit-image). Files:

- ``reference.png``: the 512×512 reference portrait (sRGB);
- ``generated.mp4``: 48 frames in which the head moves and the background near it is dragged,
  smeared and speckled, as PIRender's warp does;
- ``truth.npz``: the true person masks (``reference`` 512×512, ``generated`` 48×512×512), known
  because the clip is synthesised from the reference's mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_DIR = Path(__file__).resolve().parent
REFERENCE = SAMPLE_DIR / "reference.png"
GENERATED = SAMPLE_DIR / "generated.mp4"
TRUTH = SAMPLE_DIR / "truth.npz"


@dataclass(frozen=True)
class SampleTruth:
    reference: np.ndarray  # H×W bool, person = True
    generated: np.ndarray  # N×H×W bool


def load_truth() -> SampleTruth:
    """The sample's true person masks."""
    with np.load(TRUTH) as data:
        shape = tuple(int(v) for v in data["shape"])
        reference = np.unpackbits(data["reference"])[: shape[1] * shape[2]].reshape(shape[1:])
        generated = np.unpackbits(data["generated"])[: int(np.prod(shape))].reshape(shape)
    return SampleTruth(reference.astype(bool), generated.astype(bool))


def save_truth(path: Path, reference: np.ndarray, generated: np.ndarray) -> None:
    """Store masks bit-packed (the sample must stay small)."""
    np.savez_compressed(
        path, shape=np.array(generated.shape), reference=np.packbits(reference.astype(bool)),
        generated=np.packbits(generated.astype(bool)))
