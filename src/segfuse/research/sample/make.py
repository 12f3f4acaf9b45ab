"""Build the built-in sample from NASA's public-domain astronaut portrait.

    python -m segfuse.research.sample.make        (needs the dev extra: scikit-image bundles the photo)

Writes reference.png, generated.mp4 and truth.npz next to this file. The person mask is cut
once here with a hand-placed GrabCut trimap; the clip is then synthesised from it (synth.py),
so its per-frame masks are exact.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from segfuse.io.images import write_pixels
from segfuse.io.movie import MovieWriter
from segfuse.research.sample import GENERATED, REFERENCE, TRUTH, save_truth
from segfuse.research.sample.synth import fit_portrait, synthesize

CROP = (30, 0, 414, 384)  # x0, y0, x1, y1 in the 512×512 photo: head and shoulders
SIZE = 512
FRAMES = 48


def astronaut_person_mask(rgb: np.ndarray) -> np.ndarray:
    """The astronaut (hair, face, collar, suit; not the helmet she holds) as a bool mask."""
    h, w = rgb.shape[:2]
    labels = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    cv2.ellipse(labels, (222, 105), (80, 95), 0, 0, 360, cv2.GC_PR_FGD, -1)
    body = np.array([[110, 150], [330, 150], [365, 300], [360, 330], [300, 345], [285, 512], [15, 512], [25, 300]])
    cv2.fillPoly(labels, [body], cv2.GC_PR_FGD)
    cv2.ellipse(labels, (224, 120), (40, 55), 0, 0, 360, cv2.GC_FGD, -1)  # face
    cv2.ellipse(labels, (210, 215), (85, 50), 0, 0, 360, cv2.GC_FGD, -1)  # collar ring
    cv2.fillPoly(labels, [np.array([[80, 320], [250, 320], [260, 500], [60, 500]])], cv2.GC_FGD)
    labels[:, :8] = cv2.GC_BGD
    labels[:60, :140] = cv2.GC_BGD
    labels[:40, 300:] = cv2.GC_BGD
    cv2.fillPoly(labels, [np.array([[375, 0], [512, 0], [512, 330], [372, 300]])], cv2.GC_BGD)  # shuttle
    cv2.ellipse(labels, (400, 440), (95, 80), 0, 0, 360, cv2.GC_BGD, -1)  # helmet
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(rgb[:, :, ::-1]), labels, None, bgd, fgd, 10, cv2.GC_INIT_WITH_MASK)
    person = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
    _, parts = cv2.connectedComponents(person)
    seeds = np.unique(parts[(labels == cv2.GC_FGD) & (person > 0)])
    person = np.isin(parts, seeds[seeds > 0]).astype(np.uint8)
    count, holes, stats, _ = cv2.connectedComponentsWithStats(1 - person)
    for i in range(1, count):
        x, y, bw, bh, _ = stats[i]
        if x > 0 and y > 0 and x + bw < w and y + bh < h:
            person[holes == i] = 1
    return person.astype(bool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REFERENCE.parent)
    args = parser.parse_args()
    from skimage import data

    photo = data.astronaut()
    person = astronaut_person_mask(photo)
    x0, y0, x1, y1 = CROP
    crop = photo[y0:y1, x0:x1].astype(np.float32) / 255.0
    reference, ref_mask = fit_portrait(crop, person[y0:y1, x0:x1], SIZE, SIZE)
    frames, masks = synthesize(reference, ref_mask, FRAMES)
    args.out.mkdir(parents=True, exist_ok=True)
    write_pixels(args.out / REFERENCE.name, reference, bit_depth="8")
    writer = MovieWriter(args.out / GENERATED.name, SIZE, SIZE, fps=25, crf=14, preset="slow")
    for frame in frames:
        writer.write(frame)
    writer.close()
    save_truth(args.out / TRUTH.name, ref_mask, np.stack(masks))
    for name in (REFERENCE.name, GENERATED.name, TRUTH.name):
        print(f"{args.out / name}: {(args.out / name).stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
