"""Scoring clips against a reference portrait, like the paper's Table 1 (LPIPS per clip) and more.

For every frame of every clip: LPIPS to the reference, PSNR and SSIM over the whole frame and
over the background (where the reference shows no person, kept a margin away from it), and the
background's frame-to-frame flicker. Clips are read through the runtime's Read node, so they
get the same validation and colour handling as renders; metrics use display-referred sRGB.
A metric that cannot run (LPIPS without its backbone weights) is reported unavailable with the
reason; it is never filled with zeros.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from segfuse import color
from segfuse.errors import GraphError, SegFuseError
from segfuse.io.frames import FrameRange
from segfuse.research.scoring import flicker, psnr, ssim
from segfuse.runtime import Evaluator, bind
from segfuse.runtime.graphfile import GraphDoc, NodeSpec

METRICS = ("lpips", "psnr", "psnr_bg", "ssim", "ssim_bg", "flicker_bg")
LOWER_IS_BETTER = {"lpips": True, "psnr": False, "psnr_bg": False, "ssim": False, "ssim_bg": False,
                   "flicker_bg": True}
BACKGROUND_MARGIN = 0.06  # of the short side: how far the scored background keeps from the person


@dataclass(frozen=True)
class ClipInput:
    label: str
    path: str


@dataclass
class ClipScores:
    label: str
    path: str
    frames: list[int]
    values: dict[str, list[float]] = field(default_factory=dict)  # metric -> per frame (flicker: per step)

    def mean(self, metric: str) -> float | None:
        series = self.values.get(metric)
        return float(np.mean(series)) if series else None


@dataclass
class Evaluation:
    reference: str
    clips: list[ClipScores]
    unavailable: dict[str, str]  # metric -> why
    background_source: str
    reference_srgb: np.ndarray
    background: np.ndarray  # H×W bool
    frames: list[int]
    read_frame: Callable[[str, int], np.ndarray]  # label, t -> sRGB frame

    def change(self, metric: str, clip: ClipScores) -> float | None:
        """Relative change (%) of ``clip``'s mean from the first clip's (the baseline): the sign is
        the value's, so less flicker is negative and more PSNR positive (``LOWER_IS_BETTER`` says
        which way is better), as the README's tables print it."""
        base, value = self.clips[0].mean(metric), clip.mean(metric)
        if base is None or value is None or base == 0:
            return None
        return 100.0 * (value - base) / abs(base)

    def improvement(self, metric: str, clip: ClipScores) -> float | None:
        """Relative improvement (%) over the baseline: positive = better, whichever way the metric runs."""
        change = self.change(metric, clip)
        if change is None:
            return None
        return -change if LOWER_IS_BETTER[metric] else change


def _graph(reference: str, clips: list[ClipInput], background_matte: str) -> GraphDoc:
    nodes = [NodeSpec("reference", "org.segfuse.Read", {"path": reference})]
    if background_matte:
        nodes.append(NodeSpec("person", "org.segfuse.Read", {"path": background_matte, "channels": "alpha"}))
    else:
        nodes.append(NodeSpec("person", "org.segfuse.GrabCutSegment", {"init": "portrait"}, {"Source": "reference"}))
    nodes += [NodeSpec(f"clip{i}", "org.segfuse.Read", {"path": c.path}) for i, c in enumerate(clips)]
    return GraphDoc({n.name: n for n in nodes}, source="<segfuse eval>")


def _check(graph, clips: list[ClipInput], frames: FrameRange | None) -> FrameRange:
    ref = graph.nodes["reference"].spec
    lengths = {}
    for i, clip in enumerate(clips):
        spec = graph.nodes[f"clip{i}"].spec
        if spec.is_still:
            raise GraphError(f"clip '{clip.label}' ({clip.path}) is a single image, not a clip")
        if spec.size != ref.size:
            raise GraphError(f"clip '{clip.label}' is {spec.width}×{spec.height} but the reference is "
                             f"{ref.width}×{ref.height}")
        lengths[clip.label] = spec.frames
    if frames is not None:
        short = [f"{label} {span}" for label, span in lengths.items() if frames.intersect(span) != frames]
        if short:
            raise GraphError(f"frames {frames} requested but not every clip has them: {', '.join(short)}")
        return frames
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{label} {span} ({len(span)} frames)" for label, span in lengths.items())
        raise GraphError(f"clips cover different frames: {listed} (or choose a common range with --frames)")
    return next(iter(lengths.values()))


def _lpips_model(net: str, backbone: str):
    from segfuse.models.lpips import LPIPS

    return LPIPS(net, backbone or None)


def evaluate(
    reference: str, clips: list[ClipInput], *, background_matte: str = "", lpips_net: str = "alex",
    lpips_backbone: str = "", frames: FrameRange | None = None, progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    if not clips:
        raise GraphError("nothing to evaluate: give at least one clip")
    labels = [c.label for c in clips]
    if len(set(labels)) != len(labels):
        raise GraphError(f"clip labels must differ: {', '.join(labels)}")
    graph = bind(_graph(reference, clips, background_matte))
    span = _check(graph, clips, frames)
    evaluator = Evaluator(graph)

    def srgb(name: str, t: int) -> np.ndarray:
        image = evaluator.render(name, t)
        return np.clip(color.convert(image.rgb, image.colorspace, color.srgb_space()), 0.0, 1.0)

    ref = srgb("reference", 0)
    person = evaluator.render("person", 0).alpha
    if person.shape != ref.shape[:2]:
        person = cv2.resize(person, ref.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    margin = max(1, round(BACKGROUND_MARGIN * min(person.shape)))
    background = cv2.distanceTransform((person < 0.5).astype(np.uint8), cv2.DIST_L2, 3) > margin
    if not background.any():
        raise SegFuseError("no background left to score: the person matte covers the whole reference")

    unavailable: dict[str, str] = {}
    try:
        lpips = _lpips_model(lpips_net, lpips_backbone)
    except SegFuseError as exc:
        lpips, unavailable["lpips"] = None, str(exc)

    scores = [ClipScores(c.label, c.path, list(span)) for c in clips]
    total, done = len(span) * len(clips), 0
    for i, clip in enumerate(scores):
        values: dict[str, list[float]] = {m: [] for m in METRICS if m not in unavailable}
        batch: list[np.ndarray] = []
        previous_bg = []
        for t in span:
            frame = srgb(f"clip{i}", t)
            values["psnr"].append(psnr(frame, ref))
            values["psnr_bg"].append(psnr(frame, ref, background))
            values["ssim"].append(ssim(frame, ref))
            values["ssim_bg"].append(ssim(frame, ref, background))
            previous_bg.append(frame)
            if len(previous_bg) == 2:
                values["flicker_bg"] += flicker(previous_bg, background)
                previous_bg.pop(0)
            if lpips is not None:
                batch.append(frame)
                if len(batch) == 8:
                    values["lpips"] += _lpips_batch(lpips, batch, ref)
                    batch = []
            done += 1
            if progress:
                progress(done, total)
        if lpips is not None and batch:
            values["lpips"] += _lpips_batch(lpips, batch, ref)
        clip.values = values
    if len(span) < 2:
        unavailable["flicker_bg"] = "needs at least two frames"
        for clip in scores:
            clip.values.pop("flicker_bg", None)

    def read_frame(label: str, t: int) -> np.ndarray:
        return srgb(f"clip{labels.index(label)}", t)

    source = background_matte or "GrabCut Segment (portrait prior) on the reference"
    return Evaluation(reference, scores, unavailable, source, ref, background, list(span), read_frame)


def _lpips_batch(model, frames: list[np.ndarray], reference: np.ndarray) -> list[float]:
    import torch

    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() * 2 - 1
    y = torch.from_numpy(reference).permute(2, 0, 1)[None].float().expand_as(x) * 2 - 1
    with torch.inference_mode():
        return [float(v) for v in model(x, y)]
