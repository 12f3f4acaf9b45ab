"""``segfuse demo``: the repair (the best preset) on the built-in sample, with a picture and numbers.

Renders the fused movie, a side-by-side PNG (reference | generated | fixed | what the blend keeps
from the render, white = person, each panel labelled with its name and the frame number), the
graph it used (``best_graph.json``), and prints how far raw and fused frames are from the reference outside the
person (mean absolute error, PSNR), using the sample's true masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segfuse import color
from segfuse.io.images import read_pixels, write_pixels
from segfuse.io.movie import MovieReader
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.research.sample import GENERATED, REFERENCE, load_truth
from segfuse.research.scoring import iou, mean_abs_error, psnr
from segfuse.runtime import Evaluator, NodeSpec, bind, render_graph
from segfuse.runtime.render import Progress
from segfuse.runtime.resolved import save_resolved_graph


@dataclass(frozen=True)
class BackgroundScore:
    """Distance to the reference where both reference and frame show background (sRGB, 0–1)."""

    mae_raw: float
    mae_fused: float
    psnr_raw: float
    psnr_fused: float
    matte_iou: float  # GrabCut matte vs the true person mask, mean over frames


def score_background(fused_movie: Path, mattes: list[np.ndarray]) -> BackgroundScore:
    truth = load_truth()
    reference = read_pixels(REFERENCE)[:, :, :3]
    raw, fused = MovieReader(GENERATED), MovieReader(fused_movie)
    mae_raw, mae_fused, psnr_raw, psnr_fused, ious = [], [], [], [], []
    for t in range(len(raw)):
        outside = np.flatnonzero(~truth.generated[t] & ~truth.reference)  # pixels picked once per frame
        clean = reference.reshape(-1, 3)[outside]
        frame_raw, frame_fused = (movie.read(t).reshape(-1, 3)[outside] for movie in (raw, fused))
        mae_raw.append(mean_abs_error(frame_raw, clean))
        mae_fused.append(mean_abs_error(frame_fused, clean))
        psnr_raw.append(psnr(frame_raw, clean))
        psnr_fused.append(psnr(frame_fused, clean))
        ious.append(iou(mattes[t], truth.generated[t].astype(np.float32)))
    return BackgroundScore(*(float(np.mean(v)) for v in (mae_raw, mae_fused, psnr_raw, psnr_fused, ious)))


LABEL_HEIGHT = 36
GRAPH_NAME = "best_graph.json"  # the graph the demo ran: the best preset, every param resolved


def label_panel(pixels: np.ndarray, text: str) -> np.ndarray:
    """The panel (display-referred RGB, 0-1) under a dark band holding its name, so a newcomer can
    tell the panels apart."""
    import cv2

    band = np.full((LABEL_HEIGHT, pixels.shape[1], 3), 25, np.uint8)
    cv2.putText(band, text, (10, LABEL_HEIGHT - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return np.concatenate([band.astype(np.float32) / 255, np.clip(pixels, 0, 1).astype(np.float32)], axis=0)


def run_demo(out_dir: Path, progress: Progress | None = None, frame: int = 24) -> BackgroundScore:
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    options = FixOptions(str(GENERATED), str(REFERENCE), str(out_dir / "fused.mp4"))
    doc = paper_graph(options, out_dir)
    save_resolved_graph(bind(doc), out_dir / GRAPH_NAME)
    # the fusion mask M, for the picture: a second Reference Fuse on the same inputs (no Write reads
    # it), so one evaluator computes each matte once for the movie, the scores and the picture
    fuse = doc.nodes["fuse"]
    doc.nodes["fusion_mask"] = NodeSpec("fusion_mask", fuse.type, {**fuse.params, "output": "mask"}, dict(fuse.inputs))
    graph = bind(doc)
    evaluator = Evaluator(graph)
    span = graph.nodes["generated"].spec.frames
    mattes = []
    for t in span:
        mattes.append(evaluator.render("generated_matte", t).alpha)
        if progress:
            progress(len(mattes), 2 * len(span))
    mask = evaluator.render("fusion_mask", frame).pixels
    panels = [evaluator.render(name, frame) for name in ("reference", "generated", "fuse")]
    render_graph(graph, progress=(lambda done, total: progress(len(span) + done, len(span) + total))
                 if progress else None, evaluator=evaluator)
    person = 1.0 - mask  # M weighs the reference's background in; shown as compositors read mattes: white = person
    srgb = [color.convert(p.pixels, p.colorspace, color.srgb_space()) for p in panels]
    names = ("reference", f"generated, frame {frame}", f"fixed, frame {frame}",
             f"person matte (white), frame {frame}")
    strip = np.concatenate([label_panel(p, n) for p, n in zip(srgb + [np.repeat(person, 3, axis=2)], names,
                                                                strict=True)], axis=1)
    write_pixels(out_dir / "side_by_side.png", strip, bit_depth="8")
    return score_background(out_dir / "fused.mp4", mattes)
