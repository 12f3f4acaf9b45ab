"""The README's picture of how Motion Matte finds the reference's person (public-domain sample only).

    python benchmarks/figure_motion_matte.py [-o docs/motion_matte.png]

On a synthetic clip made from the built-in sample (the person moves, the background next to the
head is dragged, every defect on), four labelled panels: the reference; where moving with the
person explains a pixel better than standing still (red) or worse (blue); where following the head
only part of the way wins (blue: dragged background); and the matte over the reference, with the
true mask's outline in green.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from segfuse.ops.motion import layer_costs, reference_matte_from_motion
from segfuse.research.quality.synth import make_clip
from segfuse.research.sample import REFERENCE, load_truth
from segfuse.runtime import default_registry

SIZE = 256


def u8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def evidence_panel(values: np.ndarray, gain: float = 20.0) -> np.ndarray:
    """Signed evidence as colour: red where positive, blue where negative."""
    panel = np.zeros((*values.shape, 3), np.uint8)
    panel[..., 0] = u8(np.clip(values * gain, 0, 1))
    panel[..., 2] = u8(np.clip(-values * gain, 0, 1))
    return panel


def labelled(panel: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((22, panel.shape[1], 3), 24, np.uint8)
    cv2.putText(bar, text, (6, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (235, 235, 235), 1, cv2.LINE_AA)
    return np.vstack([bar, panel])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).resolve().parents[1] / "docs"
                        / "motion_matte.png")
    args = parser.parse_args()
    bgr = cv2.resize(cv2.imread(str(REFERENCE), cv2.IMREAD_COLOR), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    portrait = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    truth = cv2.resize(load_truth().reference.astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_AREA) >= 0.5
    clip = make_clip(portrait, truth.astype(np.float32), frames=24, seed=7)
    reference = u8(clip.reference)
    frames = [u8(clip.generated[t]) for t in (3, 6, 9, 12, 14, 17, 20, 23)]
    costs = layer_costs(reference, frames)
    motion = {p.name: p.default for p in default_registry().get("org.segfuse.MotionMatte").params}
    settings = {k: motion[k] for k in ("evidence", "drag_cut", "edge_depth", "band", "iterations", "refine",
                                         "min_travel", "keep_moving", "pull_in", "drag_by_colour")}
    matte = reference_matte_from_motion(reference, frames, **settings, preset=motion["flow"]) > 0.5
    overlay = reference.copy()
    overlay[~matte] = (0.35 * overlay[~matte] + [0, 0, 90]).astype(np.uint8)
    outline = cv2.morphologyEx(truth.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    overlay[outline] = (60, 220, 60)
    iou = (matte & truth).sum() / (matte | truth).sum()
    panels = [
        labelled(reference, "reference"),
        labelled(u8(clip.generated[12]), "generated frame 12"),
        labelled(evidence_panel(costs.moving_evidence()), "moves with the person (red)"),
        labelled(evidence_panel(costs.drag_evidence()), "dragged / still background (blue)"),
        labelled(overlay, f"Motion Matte (IoU {iou:.2f}; green: truth)"),
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.output), cv2.cvtColor(np.hstack(panels), cv2.COLOR_RGB2BGR))
    print(f"wrote {args.output} (matte IoU vs the true mask {iou:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
