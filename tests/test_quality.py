"""Ground-truth benchmark pieces and the beyond-the-paper ops: motion mattes, tracking, person-safe fuse.

Built on the sample's public-domain astronaut portrait and its true person mask (shipped with the package).
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from segfuse.ops.fuse import fusion_mask
from segfuse.ops.motion import (
    LayerCosts,
    dense_flow,
    reference_matte_from_motion,
    refine_outline,
    row_fractions,
    track_matte,
    warp_by_flow,
)
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.research.quality.recipe import paper_recipe
from segfuse.research.quality.synth import DEFECTS, make_clip
from segfuse.research.scoring import reduction, score_clip
from segfuse.runtime import bind, load_graph, save_graph

from .sample_portrait import SIZE, motion_settings, sample_portrait, track_flow, u8


@pytest.fixture(scope="module")
def portrait():
    """The sample's reference at 128² (float sRGB) and its true person mask."""
    return sample_portrait()


def test_truth_scores_zero_and_the_raw_render_zero_reduction(portrait):
    clip = make_clip(*portrait, frames=6, seed=3)
    raw = score_clip(clip, clip.generated)
    perfect = score_clip(clip, clip.truth, clip.truth_alpha)
    assert perfect.overall == 0.0 and perfect.background == 0.0 and perfect.person == 0.0
    assert perfect.matte_iou == pytest.approx(1.0)
    assert raw.background > 1.0, "the defects must show on the background"
    assert raw.person < 0.01, "defects touch the background only (mixed edge pixels aside)"
    assert reduction(raw, raw) == 0.0 and reduction(raw, perfect) == 1.0


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_defect_is_switchable_and_stays_off_the_person(portrait, defect):
    clip = make_clip(*portrait, frames=5, seed=1, defects=(defect,))
    for t in range(5):
        person = clip.truth_alpha[t] >= 0.999
        assert np.abs(clip.generated[t][person] - clip.truth[t][person]).max() <= 1.01 / 255
    changed = sum(float(np.abs(g - t).mean()) for g, t in zip(clip.generated, clip.truth, strict=True))
    assert changed > 0, f"{defect} changed nothing"


def test_unknown_defect_is_refused(portrait):
    with pytest.raises(ValueError, match="unknown defects"):
        make_clip(*portrait, frames=2, defects=("blur",))


def test_flow_finds_a_known_shift_and_tracking_restores_the_moved_matte(portrait):
    rgb, mask = portrait
    shift = np.float32([[1, 0, 4], [0, 1, -3]])
    moved = cv2.warpAffine(u8(rgb), shift, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
    moved_mask = cv2.warpAffine(mask, shift, (SIZE, SIZE), flags=cv2.INTER_NEAREST)
    flow = dense_flow(moved, u8(rgb))
    inner = cv2.erode((moved_mask > 0.5).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert np.median(flow[inner][:, 0]) == pytest.approx(-4, abs=0.5)
    assert np.median(flow[inner][:, 1]) == pytest.approx(3, abs=0.5)
    tracked = track_matte(moved, u8(rgb), mask, track_flow())
    iou = ((tracked > 0.5) & (moved_mask > 0.5)).sum() / ((tracked > 0.5) | (moved_mask > 0.5)).sum()
    assert iou > 0.95
    assert np.allclose(warp_by_flow(mask, np.zeros((SIZE, SIZE, 2), np.float32)), mask)


def test_motion_matte_keeps_the_moving_person_and_drops_the_still_background(portrait):
    clip = make_clip(*portrait, frames=12, seed=2, defects=("speckle",))
    frames = [u8(clip.generated[t]) for t in (2, 4, 6, 8, 10, 11)]
    matte = reference_matte_from_motion(u8(clip.reference), frames, **motion_settings())
    person, background = portrait[1] > 0.5, portrait[1] < 0.5
    head = person & (np.arange(SIZE)[:, None] < 0.55 * SIZE)  # the head moves most
    # pull_in trims the outline's pixel on purpose (a ring of about 150 of these 2 600 px at 128²)
    assert matte[head].mean() > 0.85, "the moving head must not be cut away"
    assert matte[background].mean() < 0.25, "the still background must be found"


def _disc(radius: float, size: int = 64) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size]
    return (np.hypot(xs - 32, ys - 32) <= radius).astype(np.float32)


def test_outline_refinement_moves_the_edge_to_where_the_motion_changes_and_no_further():
    """GrabCut's outline 3 px too wide (radius 20, the motion says 17): pixels within the reach are
    decided by their own costs; beyond the reach, and where the costs tie within the margin, the
    matte stands."""
    person = _disc(17)
    fits_person = np.where(person > 0, 0.01, 0.2).astype(np.float32)  # cost of moving with the person
    fits_still = np.where(person > 0, 0.2, 0.01).astype(np.float32)
    costs = LayerCosts(still=fits_still, dragged=np.full_like(fits_still, 0.3), head=fits_person,
                       shoulders=np.full_like(fits_person, 0.3), tapered=np.full_like(fits_person, 0.3), travel=5.0)
    def differ(a: np.ndarray, b: np.ndarray) -> int:
        return int((a != b).sum())  # the cleanup's 3x3 opening takes a disc's four one-pixel tips

    wide = _disc(20)
    assert differ(refine_outline(wide, costs, reach=4, margin=0.02), person) <= 4
    one_ring_less = cv2.erode(wide, np.ones((3, 3), np.uint8))
    assert differ(refine_outline(wide, costs, reach=1, margin=0.02), one_ring_less) <= 4  # 1 px re-decided
    assert differ(refine_outline(wide, costs, reach=4, margin=0.5), wide) <= 4  # nothing beats the margin
    assert differ(refine_outline(_disc(14), costs, reach=4, margin=0.02), person) <= 4  # grows back out too


def test_row_fractions_measure_how_the_heads_motion_fades_into_the_shoulders():
    """The person's middle moves fully with the head down to row 30, then less and less to row 50,
    then not at all; beside it the background is dragged a little. The rows' fractions follow the
    middle, not the sides, and a head that does not move gives 1 (nothing to tell apart)."""
    size = 64
    head_dx, head_dy = np.full((size, size), 4.0, np.float32), np.full((size, size), -2.0, np.float32)
    truth = np.clip((50 - np.arange(size)) / 20.0, 0.0, 1.0).astype(np.float32)
    flow = np.zeros((size, size, 2), np.float32)
    flow[..., 0], flow[..., 1] = 0.2 * head_dx, 0.2 * head_dy  # dragged background everywhere ...
    middle = slice(round(0.35 * size), round(0.65 * size))
    flow[:, middle, 0] = truth[:, None] * head_dx[:, middle]  # ... but the person's middle
    flow[:, middle, 1] = truth[:, None] * head_dy[:, middle]
    rows = row_fractions(flow, head_dx, head_dy)
    assert rows.shape == (size,) and rows.dtype == np.float32
    assert np.abs(rows[:20] - 1.0).max() < 0.01 and np.abs(rows[60:]).max() < 0.01
    assert np.abs(rows - truth).max() < 0.1  # smoothed over a few rows
    still = row_fractions(flow, 0 * head_dx, 0 * head_dy)
    assert np.array_equal(still, np.ones(size, np.float32))


def test_outline_refinement_takes_the_smear_next_to_the_head_off_the_reference_matte(portrait):
    clip = make_clip(*portrait, frames=12, seed=2)  # every defect: the drag and ring hug the outline
    frames = [u8(clip.generated[t]) for t in (2, 4, 6, 8, 10, 11)]
    settings = motion_settings()
    person = portrait[1] > 0.5
    outside = cv2.dilate(person.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    outside &= ~person  # the 3 px just outside the person: the worst smear
    kept = {}
    for refine in (0.0, settings["refine"]):
        matte = reference_matte_from_motion(u8(clip.reference), frames, **{**settings, "refine": refine}) > 0.5
        kept[refine] = (matte[outside].mean(), matte[person].mean())
    assert settings["refine"] > 0
    assert kept[settings["refine"]][0] < kept[0.0][0], "the refined outline must keep less of the smear"
    assert kept[settings["refine"]][1] > 0.9, "and still keep the person"


def _layered_shot(size: int = 128):
    """A reference and 7 frames: a textured head that moves a few pixels, a torso that moves a
    little, and a textured still patch (a logo, a window) beside the torso, where a head-and-shoulders
    prior expects the shoulders; the rest is a smooth still background. Returns the images and the
    head, torso and patch masks."""
    rng = np.random.default_rng(4)

    def texture(cells: int) -> np.ndarray:
        noise = rng.uniform(0, 1, (size // cells, size // cells, 3)).astype(np.float32)
        return cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1)

    def shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
        return cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]), (size, size), flags=cv2.INTER_LINEAR)

    background = np.dstack([np.linspace(0.3, 0.5, size)[None].repeat(size, 0)] * 3).astype(np.float32)
    patch_texture, torso_texture, head_texture = texture(8), texture(6), texture(5)
    patch = np.zeros((size, size), np.float32)
    patch[98:126, 8:34] = 1
    torso, head = np.zeros((size, size), np.uint8), np.zeros((size, size), np.uint8)
    cv2.fillPoly(torso, [np.int32([[50, 78], [78, 78], [96, 128], [32, 128]])], 1)
    cv2.ellipse(head, (64, 50), (22, 30), 0, 0, 360, 1, -1)

    def render(head_shift: tuple[float, float], torso_shift: tuple[float, float]) -> np.ndarray:
        out = np.where(patch[..., None] > 0, patch_texture, background)
        for layer, colours, (dx, dy) in ((torso, torso_texture, torso_shift), (head, head_texture, head_shift)):
            alpha = shifted(layer.astype(np.float32), dx, dy)[..., None]
            out = alpha * shifted(colours, dx, dy) + (1 - alpha) * out
        return u8(out)

    frames = [render((4 * np.sin(k), 2 * np.cos(k)), (0.6 * np.sin(k), 0.3 * np.cos(k))) for k in range(1, 8)]
    return render((0, 0), (0, 0)), frames, head > 0, torso > 0, patch > 0


def test_the_torso_prior_yields_to_a_still_patch_beside_the_shoulders(monkeypatch):
    from segfuse.ops import motion

    reference, frames, head, torso, patch = _layered_shot()
    in_prior = patch & (motion.torso_prior(*patch.shape) > 0)
    assert in_prior.sum() > 300
    matte = reference_matte_from_motion(reference, frames, **motion_settings()) > 0.5
    assert matte[in_prior].mean() < 0.1, "a still patch where the shoulders would be is background"
    assert matte[head].mean() > 0.98 and matte[torso].mean() > 0.98, "the moving person stays"
    monkeypatch.setattr(motion, "TORSO_STILL", 1e9)  # the prior alone keeps the patch
    assert (reference_matte_from_motion(reference, frames, **motion_settings()) > 0.5)[in_prior].mean() > 0.5


def test_person_safe_fuse_never_puts_reference_on_the_person():
    person = np.zeros((40, 40), np.float32)
    person[10:30, 12:28] = 1
    paper = fusion_mask(person, person, 7)
    safe = fusion_mask(person, person, 7, protect=1, feather="outside")
    assert paper[person > 0].max() > 0.3, "the paper's centred blur reaches the person"
    assert safe[person > 0].max() == 0.0
    # no seam: the mask still rises smoothly to 1 away from the person (steps below a 7-tap Gaussian's)
    row = safe[20, :12]
    assert row[0] == pytest.approx(1.0, abs=1e-6) and np.abs(np.diff(row)).max() < 0.45


def test_inside_feather_pastes_every_background_pixel_whole_and_treats_the_person_as_the_paper():
    """The paper's centred blur gives the last background pixels only part of the reference, so part
    of the render's smear stays next to the head; feather inside gives them all of it and keeps the
    ramp on the kept side, where it equals the centred one."""
    person = np.zeros((40, 40), np.float32)
    person[10:30, 12:28] = 1
    centred = fusion_mask(person, person, 7, protect=1)
    inside = fusion_mask(person, person, 7, protect=1, feather="inside")
    kept = cv2.dilate(person, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))) > 0  # person + protected px
    assert centred[~kept].min() < 0.7, "centred: background beside the edge gets part of the reference"
    assert inside[~kept].min() == 1.0
    np.testing.assert_array_equal(inside[kept], centred[kept])
    with pytest.raises(ValueError, match="feather must be one of"):
        fusion_mask(person, person, 7, feather="inner")


def test_best_repairs_the_background_and_leaves_the_person_where_the_recipe_damages_it(portrait):
    from segfuse.research.quality.runner import run_preset

    clip = make_clip(*portrait, frames=10, seed=5, defects=("drag", "speckle"))
    raw = score_clip(clip, clip.generated)
    best = run_preset(clip, "best")
    ours = score_clip(clip, best.frames, best.mattes)
    fused, medians = paper_recipe(clip.generated, clip.reference)
    recipe = score_clip(clip, fused, medians)
    assert ours.background < 0.9 * raw.background
    assert ours.person <= raw.person + 0.25
    assert reduction(raw, ours) > reduction(raw, recipe)


@pytest.mark.parametrize("preset", ["best", "classic", "paper"])
def test_preset_round_trips_through_a_graph_file(tmp_path, preset):
    options = FixOptions("gen.####.png", "ref.png", "out.####.png", preset=preset)
    doc = paper_graph(options, tmp_path)
    path = tmp_path / "shot.json"
    save_graph(doc, path)
    again = load_graph(path)
    assert {n: (s.type, s.params, s.inputs) for n, s in again.nodes.items()} == \
           {n: (s.type, s.params, s.inputs) for n, s in doc.nodes.items()}
    types = {s.type for s in again.nodes.values()}
    if preset == "best":
        assert {"org.segfuse.MotionMatte", "org.segfuse.TrackMatte"} <= types
        assert again.nodes["median"].params["hold_current"] is True
        assert again.nodes["fuse"].params == {"protect": 1, "feather": "inside"}
    elif preset == "paper":
        assert again.nodes["generated_matte"].params == {"init": "border", "working_size": 0}
    else:
        assert "org.segfuse.MotionMatte" not in types
    json.loads(path.read_text())


def test_paper_preset_refuses_another_segmenter():
    with pytest.raises(ValueError, match="GrabCut only"):
        paper_graph(FixOptions("g.png", "r.png", "o.png", preset="paper", segmenter="modnet"))


def test_best_graph_binds_and_motion_matte_is_a_still(tmp_path, portrait):
    clip = make_clip(*portrait, frames=4, seed=1)
    for t, frame in enumerate(clip.generated):
        cv2.imwrite(str(tmp_path / f"gen.{t:04d}.png"), cv2.cvtColor(u8(frame), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "ref.png"), cv2.cvtColor(u8(clip.reference), cv2.COLOR_RGB2BGR))
    graph = bind(paper_graph(FixOptions("gen.####.png", "ref.png", "out.####.png"), tmp_path))
    assert graph.nodes["reference_matte"].spec.is_still
    assert graph.nodes["generated_matte"].spec.frames.first == 0


def test_a_benchmark_variant_is_checked_against_the_best_graph_before_it_runs():
    """`quality_framing.py --set` / `quality.py --real --set`: a misspelt node or param is refused
    up front (naming it), not minutes into a run that would otherwise score the defaults."""
    from segfuse.errors import GraphError
    from segfuse.research.quality.runner import check_variant

    variant = {"generated_matte": {"working_size": 192}, "reference_matte": {"samples": 4}}
    assert check_variant(variant) == variant
    with pytest.raises(GraphError, match=r"Track Matte \('generated_matte'\) has no param 'workingsize'"):
        check_variant({"generated_matte": {"workingsize": 192}})
    with pytest.raises(GraphError, match=r"no node named 'track'"):
        check_variant({"track": {"working_size": 192}})
