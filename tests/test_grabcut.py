"""GrabCut Segment: accuracy on a known foreground, automatic init, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from segfuse.ops.grabcut import (
    BGD,
    FGD,
    PR_BGD,
    PR_FGD,
    portrait_trimap,
    segment,
    segment_until_settled,
    trimap_from_hint,
    trimap_from_rect,
)
from segfuse.research.scoring import iou


def synthetic_portrait(size: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A head-and-shoulders silhouette in warm textured colours on a cool textured background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    head = ((xx - 0.5) / 0.17) ** 2 + ((yy - 0.38) / 0.22) ** 2 < 1
    torso = (yy > 0.62) & (np.abs(xx - 0.5) < 0.22 + 0.6 * (yy - 0.62))
    person = head | torso
    image = np.where(person[:, :, None], [200, 120, 80], [60, 110, 170]).astype(np.float64)
    image += rng.normal(0, 18, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), person


@pytest.mark.parametrize("working_size", [0, 96])
def test_rectangle_init_reaches_iou_095(working_size):
    image, person = synthetic_portrait()
    trimap = trimap_from_rect(200, 200, (0.15, 0.1, 0.9, 1.0))
    alpha = segment(image, trimap, iterations=5, working_size=working_size)
    assert iou(alpha, person.astype(np.float32)) >= 0.95


def test_portrait_prior_needs_no_user_input():
    image, person = synthetic_portrait(seed=1)
    alpha = segment(image, portrait_trimap(200, 200), iterations=3, working_size=128)
    assert iou(alpha, person.astype(np.float32)) >= 0.95


def test_hint_init_recovers_a_moved_person():
    image, person = synthetic_portrait(seed=2)
    hint = np.roll(person, 6, axis=1).astype(np.float32)  # last frame's matte, 6 px off
    alpha = segment(image, trimap_from_hint(hint, 6, 14), iterations=3, working_size=128)
    assert iou(alpha, person.astype(np.float32)) >= 0.95
    assert iou(hint, person.astype(np.float32)) < 0.95


def test_trimap_from_hint_labels_core_band_and_far_background():
    hint = np.zeros((60, 60), np.float32)
    hint[20:40, 20:40] = 1
    trimap = trimap_from_hint(hint, 3, 5)
    assert trimap[30, 30] == FGD and trimap[21, 30] == PR_FGD
    assert trimap[18, 30] == PR_BGD and trimap[2, 2] == BGD


def test_segment_is_deterministic_whatever_ran_before():
    image, _ = synthetic_portrait(seed=3)
    trimap = portrait_trimap(200, 200)
    first = segment(image, trimap, iterations=3, working_size=100)
    other, _ = synthetic_portrait(seed=4)
    segment(other, trimap, iterations=3, working_size=100)  # moves OpenCV's global RNG
    np.testing.assert_array_equal(segment(image, trimap, iterations=3, working_size=100), first)


def test_all_sure_labels_skip_the_solver():
    image, _ = synthetic_portrait()
    trimap = np.full((200, 200), PR_FGD, np.uint8)
    assert segment(image, trimap, iterations=3, working_size=256).min() == 1.0


def test_settling_grabcut_stops_early_and_otherwise_equals_the_full_run(monkeypatch):
    import cv2

    image, person = synthetic_portrait(seed=5)
    trimap = trimap_from_hint(np.roll(person, 4, axis=1).astype(np.float32), 5, 8)
    full = segment(image, trimap, iterations=5, working_size=0)
    # never settled: iteration by iteration is the same solve as GrabCut's own five
    np.testing.assert_array_equal(segment_until_settled(image, trimap, 5, settled=-1.0), full)
    calls = []
    real = cv2.grabCut

    def counted(*args):
        calls.append(args[-1])
        return real(*args)

    monkeypatch.setattr(cv2, "grabCut", counted)
    settled = segment_until_settled(image, trimap, 5)
    assert len(calls) < 5  # an easy trimap settles before the fifth iteration
    assert iou(settled, full) >= 0.995 and iou(settled, person.astype(np.float32)) >= 0.95


def test_node_segments_the_blob_and_resizes_a_hint(make_graph):
    from segfuse.runtime import Evaluator

    graph = make_graph({
        "clip": ("org.segfuse.test.Blob", {"size": 96, "count": 3}, {}),
        "rough": ("org.segfuse.GrabCutSegment", {"init": "rect", "rect": [0.1, 0.1, 0.9, 0.98]}, {"Source": "clip"}),
        "small": ("org.segfuse.TemporalMedian", {"window": 1}, {"Source": "rough"}),
        "seg": ("org.segfuse.GrabCutSegment", {}, {"Source": "clip", "Hint": "small"}),
    })
    ev = Evaluator(graph)
    yy, xx = np.mgrid[0:96, 0:96] / 96
    for t in range(3):
        disc = ((xx - (0.5 + 0.1 * np.sin(t * 0.3))) ** 2 + (yy - 0.55) ** 2) < 0.09
        assert iou(ev.render("seg", t).alpha, disc.astype(np.float32)) >= 0.95
