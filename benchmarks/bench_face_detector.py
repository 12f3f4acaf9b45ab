"""Face detector benchmark: hits and landmark sanity on the real portraits, and time per frame.

    python benchmarks/bench_face_detector.py [--portraits DIR] [--repeats 5]

For each portrait (default ../shared/data/vox_portraits, with the person masks of
benchmarks/data/vox_masks): the portrait as it is (256x256), and placed at 1.7x near the right
third line of a 640x360 frame and of a 1920x1080 frame. A hit: exactly one face, all five
landmarks on the person mask, eyes above the nose above the mouth, left before right. Times are
the median of ``--repeats`` calls, one thread (as detect_faces runs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from segfuse.models.face_detector import detect_faces

MASKS = Path(__file__).resolve().parent / "data" / "vox_masks"


def place(image: np.ndarray, mask: np.ndarray, size: tuple[int, int], scale: float, centre: tuple[float, float]):
    """``image`` scaled by ``scale`` x (frame height / 360) with its centre at ``centre`` (fractions), on a
    frame filled by replicating its border (so the frame has no edge where the portrait ends)."""
    width, height = size
    factor = scale * height / 360.0
    side = round(image.shape[0] * factor)
    big = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)
    big_mask = cv2.resize(mask, (side, side), interpolation=cv2.INTER_NEAREST)
    x0, y0 = round(centre[0] * width - side / 2), round(centre[1] * height - side / 2)
    pad = [max(0, -y0), max(0, y0 + side - height), max(0, -x0), max(0, x0 + side - width)]
    frame = cv2.copyMakeBorder(big, max(0, y0) + pad[0], max(0, height - y0 - side) + pad[1],
                               max(0, x0) + pad[2], max(0, width - x0 - side) + pad[3], cv2.BORDER_REPLICATE)
    frame_mask = cv2.copyMakeBorder(big_mask, max(0, y0) + pad[0], max(0, height - y0 - side) + pad[1],
                                    max(0, x0) + pad[2], max(0, width - x0 - side) + pad[3], cv2.BORDER_CONSTANT, 0)
    oy, ox = pad[0], pad[2]
    return (np.ascontiguousarray(frame[oy:oy + height, ox:ox + width]),
            np.ascontiguousarray(frame_mask[oy:oy + height, ox:ox + width]))


def hit(faces, mask: np.ndarray) -> bool:
    if len(faces) != 1:
        return False
    points = faces[0].landmarks
    inside = all(mask[min(int(y), mask.shape[0] - 1), min(int(x), mask.shape[1] - 1)] > 0 for x, y in points)
    le, re, nose, ml, mr = points
    ordered = le[0] < re[0] and ml[0] < mr[0] and max(le[1], re[1]) < nose[1] < min(ml[1], mr[1])
    return inside and ordered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portraits", type=Path,
                        default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vox_portraits")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    setups = {"256x256 as is": None, "640x360 1.7x third": ((640, 360), 1.7, (2 / 3, 0.45)),
              "1920x1080 1.7x third": ((1920, 1080), 1.7, (2 / 3, 0.45))}
    hits = dict.fromkeys(setups, 0)
    times: dict[str, list[float]] = {k: [] for k in setups}
    names = sorted(p.stem for p in MASKS.glob("*.png"))
    for name in names:
        bgr = cv2.imread(str(args.portraits / f"{name}.jpg"))
        mask = cv2.imread(str(MASKS / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
        if bgr is None or mask is None:
            print(f"bench_face_detector: cannot read {name}", file=sys.stderr)
            return 1
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        for label, setup in setups.items():
            frame, frame_mask = (rgb, mask) if setup is None else place(rgb, mask, *setup)
            faces = detect_faces(frame)
            runs = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                detect_faces(frame)
                runs.append(time.perf_counter() - start)
            times[label].append(statistics.median(runs))
            hits[label] += hit(faces, frame_mask)
    print(f"{len(names)} portraits")
    for label in setups:
        print(f"{label:22s} hits {hits[label]}/{len(names)}  median {1000 * statistics.median(times[label]):.1f} ms"
              f"  (max {1000 * max(times[label]):.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
