"""Deep3DFaceRecon's five-point alignment on the vox portraits against the official crops, by hand.

    python benchmarks/parity_deep3d_vox.py [--shared ../shared]

The official crops (``fixtures/deep3d/align.npz``, made with github.com/sicxu/Deep3DFaceRecon_pytorch)
are crops of the CC BY-NC vox portraits, so neither they nor the portraits are in the repository, and
the tests (which never read ../shared) check the alignment on a public-domain portrait instead
(tests/fixtures/deep3d/README.md). This reads both from the project's shared folder and prints, per
portrait, the largest code-value difference between our crop and the official one (0 or 1 is parity).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from segfuse.models.face_recon import align_face

TOLERANCE = 1  # 8-bit code values: the official crop goes through Pillow's resize, ours matches it to a step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared",
                        help="the project's shared folder (fixtures/deep3d/align.npz, data/vox_portraits/)")
    args = parser.parse_args()
    fixture = args.shared / "fixtures" / "deep3d" / "align.npz"
    if not fixture.is_file():
        print(f"segfuse: error: {fixture} not found: give the shared folder with --shared", file=sys.stderr)
        return 2
    data = np.load(fixture)
    worst = 0
    for case, name in enumerate(str(n) for n in data["names"]):
        path = args.shared / "data" / "vox_portraits" / f"{name}.jpg"
        image = cv2.imread(str(path))
        if image is None:
            print(f"segfuse: error: {path} cannot be read", file=sys.stderr)
            return 2
        crop, _, _ = align_face(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), data[f"lm_in_topleft_{case}"])
        difference = int(np.abs(crop.astype(int) - data[f"aligned_{case}"].astype(int)).max())
        worst = max(worst, difference)
        print(f"{name}: largest |ours - official| {difference} code values over the 224×224 crop")
    print("parity" if worst <= TOLERANCE else f"NOT at parity (largest difference {worst} > {TOLERANCE})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    raise SystemExit(main())
