"""The motion evidence behind the best preset's mattes (head fit, layer costs, hull, dragged background) and its blend.

Built on the sample's public-domain astronaut portrait and its true person mask (shipped with the package).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segfuse.ops.fuse import fuse, fusion_mask, match_colour
from segfuse.ops.grabcut import FGD, PR_BGD, PR_FGD
from segfuse.ops.motion import (
    NECK,
    dense_flow,
    face_core,
    frame_motions,
    frame_person_evidence,
    head_motion,
    kept_by_motion,
    layer_costs,
    layer_costs_at,
    ordered_map,
    pulled_in_above,
    reference_matte_from_motion,
    star_hull,
    track_matte,
)
from segfuse.research.quality.synth import Motion, make_clip
from segfuse.research.scoring import scored_region

from .sample_portrait import SIZE, motion_settings, sample_portrait, track_flow, u8


@pytest.fixture(scope="module")
def portrait():
    """The sample's reference at 128² (float sRGB) and its true person mask."""
    return sample_portrait()


def test_head_motion_recovers_a_known_similarity(portrait):
    reference = u8(portrait[0])
    known = cv2.getRotationMatrix2D((64.0, 50.0), 3.0, 1.0)
    known[:, 2] += (3.0, -2.0)
    moved = cv2.warpAffine(reference, known, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
    core = face_core(SIZE, SIZE)
    fitted = head_motion(dense_flow(reference, moved), core)
    ys, xs = np.nonzero(core)
    points = np.stack([xs, ys, np.ones_like(xs)], axis=1).astype(np.float32)
    assert np.abs(points @ fitted.T - points @ known.T).max() < 0.5, "the face's rigid motion to half a pixel"


def test_layer_costs_tell_the_moving_person_from_dragged_and_still_background(portrait):
    clip = make_clip(*portrait, frames=12, seed=2, defects=("drag",))
    costs = layer_costs(u8(clip.reference), [u8(clip.generated[t]) for t in range(1, 12, 2)])
    person = portrait[1] > 0.5
    outside = cv2.distanceTransform((~person).astype(np.uint8), cv2.DIST_L2, 3)
    head = person & (np.arange(SIZE)[:, None] < 0.45 * SIZE)
    dragged = (outside > 2) & (outside < 8) & (np.arange(SIZE)[:, None] < 0.45 * SIZE)
    far = outside > 25
    assert np.median(costs.moving_evidence()[head]) > 0.015, "the head moves with the head"
    assert np.median(costs.drag_evidence()[dragged]) < 0.0, "dragged background follows only part of the way"
    assert np.median(costs.moving_evidence()[far]) <= 0.005, "far background stays put"


def test_a_scale_costed_later_from_the_frames_motions_sums_to_the_same_costs(portrait):
    """Motion Matte costs its fine scale on a thread of its own while GrabCut solves, from the flows
    the coarse scale measured: the matte must not depend on that order or on the thread count."""
    clip = make_clip(*portrait, frames=8, seed=3, defects=("drag",))
    reference, frames = u8(clip.reference), [u8(clip.generated[t]) for t in range(1, 8, 2)]
    together = layer_costs_at(reference, frames, ((1.0, 5), (0.5, 1)))
    motions = frame_motions(reference, frames)
    apart = [layer_costs_at(reference, frames, (scale,), motions=motions, threads=threads)[0]
             for scale, threads in (((1.0, 5), 2), ((0.5, 1), 1))]
    for whole, alone in zip(together, apart, strict=True):
        for name in ("still", "dragged", "head", "shoulders", "tapered", "travel"):
            assert np.array_equal(getattr(whole, name), getattr(alone, name)), name
    with pytest.raises(ValueError, match="3 motions for 4 frames"):
        layer_costs_at(reference, frames, ((1.0, 5),), motions=motions[:3])


def test_star_hull_fills_an_outline_and_ignores_specks():
    outline = np.zeros((100, 100), np.uint8)
    cv2.circle(outline, (50, 50), 30, 1, 4)
    outline[50, 75:85] = 0  # a one-pixel gap in the outline: a few rays find nothing there
    outline[5:7, 5:7] = 1  # a 2×2 speck far outside
    hull = star_hull(outline, (50.0, 50.0))
    disk = np.zeros((100, 100), np.uint8)
    cv2.circle(disk, (50, 50), 31, 1, -1)
    assert hull[disk > 0].mean() > 0.99, "the inside of the outline is filled, through the gap too"
    beyond = np.ones((100, 100), np.uint8)
    cv2.circle(beyond, (50, 50), 34, 0, -1)  # past the outline's outer edge
    assert hull[5:7, 5:7].max() == 0.0 and hull[beyond > 0].max() == 0.0, "a speck is not the outline"


def _star_hull_by_definition(mask: np.ndarray, centre: tuple[float, float], rays: int = 720) -> np.ndarray:
    """star_hull as defined: every ray sampled each half pixel out to the image's diagonal, every
    pixel tested against its ray's reach (median of 9 neighbouring rays)."""
    height, width = mask.shape
    clean = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    cx, cy = centre
    angles = np.linspace(0.0, 2 * np.pi, rays, endpoint=False)
    radii = np.arange(0.0, float(np.hypot(height, width)), 0.5)
    px, py = cx + np.cos(angles)[:, None] * radii, cy + np.sin(angles)[:, None] * radii
    inside = (px >= 0) & (px <= width - 1) & (py >= 0) & (py <= height - 1)
    hits = (clean[np.clip(np.round(py), 0, height - 1).astype(int), np.clip(np.round(px), 0, width - 1).astype(int)]
            > 0) & inside
    outermost = np.where(hits, np.arange(radii.size), -1).max(axis=1)
    reach = np.where(outermost >= 0, radii[np.maximum(outermost, 0)], 0.0)
    reach = np.median(np.lib.stride_tricks.sliding_window_view(np.concatenate([reach[-4:], reach, reach[:4]]), 9),
                      axis=1)
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float32)
    ray = np.round(np.mod(np.arctan2(gy - cy, gx - cx), 2 * np.pi) / (2 * np.pi) * rays).astype(int) % rays
    return (np.hypot(gx - cx, gy - cy) <= reach[ray] + 0.5).astype(np.float32)


def test_star_hull_equals_its_definition_wherever_the_centre_lies():
    """star_hull samples only what can land in the image; the region is the definition's, pixel for
    pixel: outlines and specks, centres inside, on a pixel, and outside the image, empty masks."""
    rng = np.random.default_rng(5)
    for case in range(60):
        height, width = (int(n) for n in rng.integers(8, 160, 2))
        mask = np.zeros((height, width), np.uint8)
        if case % 3 == 0:
            mask = (rng.random((height, width)) < 0.2 * rng.random()).astype(np.uint8)
        elif case % 3 == 1:
            cv2.ellipse(mask, (int(rng.integers(0, width)), int(rng.integers(0, height))),
                        (int(rng.integers(1, width)), int(rng.integers(1, height))), 0, 0, 360, 1, 3)
        centre = (float(rng.uniform(-0.4 * width, 1.4 * width)), float(rng.uniform(-0.4 * height, 1.4 * height)))
        if case % 4 == 0:
            centre = (float(round(centre[0])), float(round(centre[1])))
        np.testing.assert_array_equal(star_hull(mask, centre), _star_hull_by_definition(mask, centre),
                                      err_msg=f"case {case}: {height}×{width}, centre {centre}")


def test_reference_matte_from_motion_keeps_the_person_and_cuts_the_dragged_ring(portrait):
    clip = make_clip(*portrait, frames=12, seed=2)  # every defect
    matte = reference_matte_from_motion(u8(clip.reference), [u8(clip.generated[t]) for t in range(1, 12, 2)],
                                        **motion_settings())
    person = portrait[1] > 0.5
    ours = matte > 0.5
    assert (person & ~ours).sum() / person.sum() < 0.06, "almost none of the person is lost"
    assert (ours & ~person).sum() / (~person).sum() < 0.3, "most of the background is found"
    outside = cv2.distanceTransform((~person).astype(np.uint8), cv2.DIST_L2, 3)
    ring = (outside > 4) & (outside < 12) & (np.arange(SIZE)[:, None] < 0.45 * SIZE)
    assert ours[ring].mean() < 0.5, "the dragged ring around the head is background"


def test_best_restores_a_known_dragged_region_and_leaves_the_person(portrait):
    from segfuse.research.quality.runner import run_preset

    clip = make_clip(*portrait, frames=10, seed=5, defects=("drag",))
    best = run_preset(clip, "best")
    raw_drag = ours_drag = raw_person = ours_person = 0.0
    for t in range(10):
        truth, alpha = clip.truth[t], clip.truth_alpha[t]
        region = scored_region(alpha, clip.unknown[t], 2.0)
        person = alpha >= 0.5
        outside = cv2.distanceTransform((~person).astype(np.uint8), cv2.DIST_L2, 3)
        drag = region & (outside > 3) & (outside < 20) & (np.arange(SIZE)[:, None] < 0.45 * SIZE)  # by the head
        raw_error = np.abs(clip.generated[t] - truth).mean(axis=2)
        our_error = np.abs(best.frames[t] - truth).mean(axis=2)
        raw_drag += raw_error[drag].sum()
        ours_drag += our_error[drag].sum()
        raw_person += raw_error[region & person].mean()
        ours_person += our_error[region & person].mean()
    assert ours_drag < 0.5 * raw_drag, "at least half the dragged background's error is gone"
    assert 255 * (ours_person - raw_person) / 10 < 0.25, "the person is barely touched (< 0.25/255)"


def test_best_blend_pastes_the_whole_background_and_leaves_the_person_inside_its_edge():
    """The best preset's blend (protect 1, feather inside): every background pixel but the one next to
    the person gets all of the reference (no smear left half-blended beside the head); the ramp lies
    on the person's edge, where the picture has an edge of its own, and fades out inside it."""
    person = np.zeros((40, 40), np.float32)
    person[10:30, 12:28] = 1
    mask = fusion_mask(person, person, 7, protect=1, feather="inside")
    inner = cv2.distanceTransform(person.astype(np.uint8), cv2.DIST_L2, 5) > 2.5
    assert mask[inner].max() < 0.5 / 255, "no visible reference more than 2 px inside the person"
    row = mask[20, :16]
    assert np.array_equal(row[:11], np.ones(11, np.float32)), "the background, all reference"
    assert 0 < row[11] < 0.5 and np.all(np.diff(row[11:]) <= 1e-6), "then a ramp down across the edge"
    assert row[15] < 0.5 / 255, "gone 3 px into the person"


def test_colour_match_takes_a_drifted_renders_colours_and_leaves_no_step():
    rng = np.random.default_rng(0)
    plate = cv2.GaussianBlur(rng.uniform(0.2, 0.8, (60, 60, 3)).astype(np.float32), (0, 0), 3)
    drifted = plate * np.float32([1.06, 0.97, 1.0]) + np.float32([0.02, -0.01, 0.03])
    person = np.zeros((60, 60), np.float32)
    person[15:45, 20:40] = 1
    mask = fusion_mask(person, person, 7, protect=1)
    plain = fuse(drifted, plate, mask)
    matched = fuse(drifted, match_colour(plate, drifted, mask), mask)
    background = mask > 0.99
    assert np.abs(plain - drifted)[background].mean() > 0.01, "without matching the plate's colours show"
    assert np.abs(matched - drifted).max() < 2e-3, "matched: the frame's own colours everywhere, no step"
    few = np.zeros_like(mask)
    few[0, 0] = 1.0
    assert match_colour(plate, drifted, few) is plate, "too few background pixels: left as it is"


def test_hold_moving_keeps_shoulders_the_reference_matte_missed(portrait):
    clip = make_clip(*portrait, frames=8, seed=3, defects=("speckle",), motion=Motion(shoulder_shift=3.0))
    missing = portrait[1].copy()
    missing[int(NECK * SIZE):] = 0.0  # a reference matte that lost the shoulders
    below_neck = np.arange(SIZE)[:, None] > NECK * SIZE
    for t in (3, 5, 7):
        person = clip.truth_alpha[t] >= 0.5
        change = np.abs(clip.generated[t] - clip.reference).mean(axis=2)  # what pasting would do
        carried = track_matte(u8(clip.generated[t]), u8(clip.reference), missing, track_flow()) > 0.5
        held = track_matte(u8(clip.generated[t]), u8(clip.reference), missing, track_flow(), hold_moving=0.03) > 0.5
        assert carried[person & below_neck].mean() < 0.05, "the carried matte alone loses them"
        damage_before = change[person & below_neck & ~carried].sum()
        damage_after = change[person & below_neck & ~held].sum()
        assert damage_after < 0.3 * damage_before, "most of what pasting would change on the shoulders is kept"
        assert held[~person & below_neck].mean() < 0.05, "the background below the neck stays background"


def test_lean_flow_carries_the_matte_as_the_refined_flow_does(portrait):
    """Track Matte's default flow (lean) leaves out DIS's variational refinement: the matte it carries
    into a frame whose head moved matches the truth as well as balanced's (which refines) does, and
    the face's rigid motion still comes out within 0.75 px (its field is rougher: 0.50 px off here,
    balanced 0.26 px; the head fit only places the moved plate the evidence compares against)."""
    assert track_flow() == "lean"
    clip = make_clip(*portrait, frames=8, seed=4, defects=("drag",))
    reference, matte = u8(clip.reference), portrait[1]
    for t in (2, 5, 7):
        truth = clip.truth_alpha[t] >= 0.5
        wrong = {preset: np.count_nonzero((track_matte(u8(clip.generated[t]), reference, matte, preset) > 0.5) != truth)
                 for preset in ("lean", "balanced")}
        assert wrong["lean"] <= wrong["balanced"] + 0.005 * SIZE * SIZE, wrong
    known = cv2.getRotationMatrix2D((64.0, 50.0), 3.0, 1.0)
    known[:, 2] += (3.0, -2.0)
    moved = cv2.warpAffine(reference, known, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
    core = face_core(SIZE, SIZE)
    fitted = head_motion(dense_flow(reference, moved, "lean"), core)
    ys, xs = np.nonzero(core)
    points = np.stack([xs, ys, np.ones_like(xs)], axis=1).astype(np.float32)
    assert np.abs(points @ fitted.T - points @ known.T).max() < 0.75


def test_person_evidence_below_a_row_equals_the_whole_frames_there(portrait):
    """Track Matte works out the evidence only below the neck: those rows are the whole frame's (up to
    float rounding, with no drift to measure), the rows above are 0."""
    reference = u8(portrait[0])
    frame = reference.copy()
    moved = cv2.warpAffine(reference, np.float32([[1, 0, 2.6], [0, 1, -1.7]]), (SIZE, SIZE),
                           borderMode=cv2.BORDER_REPLICATE)
    frame[20:90, 30:100] = moved[20:90, 30:100]  # the head moved, the rest still
    flow = dense_flow(frame, reference)
    whole = frame_person_evidence(frame, reference, flow)
    for first in (int(NECK * SIZE) + 1, SIZE - 1):
        part = frame_person_evidence(frame, reference, flow, first_row=first)
        np.testing.assert_allclose(part[first:], whole[first:], atol=1e-5)
        assert not part[:first].any()
    assert np.abs(whole[int(NECK * SIZE) + 1:]).max() > 0.01  # the rows compared hold evidence


def test_learning_threads_keep_frame_order_and_bounded_memory():
    import threading
    import time

    running, most = [0], [0]
    lock = threading.Lock()

    def work(k: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02 * (5 - k % 5))  # early items finish last
        with lock:
            running[0] -= 1
        return k * k

    assert list(ordered_map(work, list(range(10)), threads=3)) == [k * k for k in range(10)]
    assert 1 < most[0] <= 3  # ran side by side, never more than three frames in flight
    assert list(ordered_map(work, [2], threads=4)) == [4]


def test_head_travel_is_how_far_the_face_moved(portrait):
    reference = u8(portrait[0])
    moved = cv2.warpAffine(reference, np.float32([[1, 0, 3], [0, 1, 0]]), (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
    costs = layer_costs(reference, [reference, moved, reference])
    assert abs(costs.travel - 3.0) < 0.5, "the largest of the frames' face displacements, in px"


def test_a_head_that_barely_moved_gives_no_matte_to_blend_and_says_so_once(portrait, monkeypatch, capsys):
    """A host learning from its first frames (or a shot whose head holds still) has too little motion
    to tell the person's edges from the wall: without the guard those edges come out as background
    and the reference's still pixels would be blended over the moving person."""
    from segfuse.ops import head_track

    monkeypatch.setattr(head_track, "_said", set())
    still = Motion(head_shift=0.3, head_turn_deg=0.1, shoulder_shift=0.1)
    clip = make_clip(*portrait, frames=6, seed=2, motion=still)
    frames = [u8(clip.generated[t]) for t in range(1, 6)]
    settings = motion_settings()
    guarded = reference_matte_from_motion(u8(clip.reference), frames, **settings)
    again = reference_matte_from_motion(u8(clip.reference), frames[:2], **settings)
    assert guarded.min() == 1.0 and again.min() == 1.0, "nothing is blended: the frames stay as rendered"
    assert capsys.readouterr().err.count("too little to tell the person from the background") == 1
    unguarded = reference_matte_from_motion(u8(clip.reference), frames, **{**settings, "min_travel": 0.0})
    person = portrait[1] > 0.5
    assert (person & (unguarded < 0.5)).sum() / person.sum() > 0.1, "unguarded, much of the person is called wall"


def test_motion_gives_back_what_grabcuts_colours_called_background_only_where_it_moves_with_the_person():
    trimap = np.full((4, 6), PR_FGD, np.uint8)
    trimap[:, 0], trimap[:, 5] = FGD, PR_BGD
    after_grabcut = np.zeros((4, 6), np.float32)
    after_grabcut[:, 0] = 1.0
    moving = np.full((4, 6), 0.02, np.float32)
    moving[:, 2] = 0.001  # hardly better explained by the person's motion than by standing still
    partial = np.full((4, 6), 0.02, np.float32)
    partial[:, 3] = -0.02  # explained best as background the head drags
    kept = kept_by_motion(after_grabcut, trimap, moving, partial, 0.005)
    assert kept[:, [0, 1, 4]].min() == 1.0, "moving with the person: person again"
    assert kept[:, [2, 3, 5]].max() == 0.0, "too little motion, dragged, or never probable person: colours stand"
    assert after_grabcut[:, 1].max() == 0.0, "the input is not changed in place"


def test_moving_hair_the_colour_of_the_wall_stays_person(portrait, monkeypatch):
    """Where hair and wall share a colour, GrabCut's colour models call the probable person of its band
    background (simulated here: the colours call all of it background). The motion gives back the
    part that moves with the person, and hardly any wall; with keep_moving 0 none of it comes back."""
    from segfuse.ops import motion

    seen = {}

    def colours_call_the_band_background(image, trimap, iterations, seed=0):
        seen["trimap"] = trimap.copy()
        return (trimap == FGD).astype(np.float32)

    monkeypatch.setattr(motion, "segment_until_settled", colours_call_the_band_background)
    clip = make_clip(*portrait, frames=12, seed=2)
    frames = [u8(clip.generated[t]) for t in range(1, 12, 2)]
    # the outline's refinement would re-decide the band too; drag_by_colour hands dragged-looking pixels
    # to the colours on purpose, and pull_in trims the outline afterwards: both off, keep_moving alone
    settings = {**motion_settings(), "refine": 0.0, "drag_by_colour": False, "pull_in": 0}
    person = portrait[1] > 0.5
    colours_only = reference_matte_from_motion(u8(clip.reference), frames, **{**settings, "keep_moving": 0.0}) > 0.5
    band = seen["trimap"] == PR_FGD
    assert (band & person).sum() > 200 and not colours_only[band].any()
    ours = reference_matte_from_motion(u8(clip.reference), frames, **settings) > 0.5
    given_back = band & ours
    assert (given_back & person).sum() / (band & person).sum() > 0.4, "much of the band's person comes back"
    assert (given_back & person).sum() > 2.5 * (given_back & ~person).sum(), "and little of the wall"


def test_outline_is_pulled_in_above_the_neck_only():
    matte = np.zeros((12, 10), np.float32)
    matte[2:11, 2:8] = 1.0
    pulled = pulled_in_above(matte, 1, neck=6)
    assert pulled[3:6, 3:7].min() == 1.0 and pulled[2, :].max() == 0.0, "above the neck: one pixel in"
    assert pulled[:6, 2].max() == 0.0 and pulled[:6, 7].max() == 0.0
    assert np.array_equal(pulled[6:], matte[6:]), "from the neck down: as it was"
    assert matte[2, 2] == 1.0, "the input is not changed in place"


def test_background_the_head_drags_inside_the_outline_is_left_to_the_colours(portrait, monkeypatch):
    """Background beside the head that the render drags along nearly all the way lands inside the
    motion's hull as sure person; drag_by_colour hands the hull's pixels that dragging explains as well as
    the person's motion to GrabCut's colours (above the neck, never the face): they are mostly
    background, and the matte keeps far less background above the neck."""
    from segfuse.ops import motion

    trimaps = []
    grabcut = motion.segment_until_settled

    def seen(image, trimap, iterations, seed=0):
        trimaps.append(trimap.copy())
        return grabcut(image, trimap, iterations, seed)

    monkeypatch.setattr(motion, "segment_until_settled", seen)
    clip = make_clip(*portrait, frames=12, seed=2, defects=("drag",))
    frames = [u8(clip.generated[t]) for t in range(1, 12, 2)]
    settings = motion_settings()
    assert settings["drag_by_colour"], "on by default"
    on = reference_matte_from_motion(u8(clip.reference), frames, **settings) > 0.5
    off = reference_matte_from_motion(u8(clip.reference), frames, **{**settings, "drag_by_colour": False}) > 0.5
    person = portrait[1] > 0.5
    handed = (trimaps[0] == PR_FGD) & (trimaps[1] == FGD)
    above = np.arange(SIZE)[:, None] < NECK * SIZE
    assert (handed & ~person).sum() > 3 * (handed & person).sum() > 0, "mostly background"
    assert not (handed & ~above).any() and not (handed & face_core(SIZE, SIZE)).any()
    assert (on & ~person & above).sum() < 0.6 * (off & ~person & above).sum(), "far less background kept"
    assert (~on & person).sum() < (~off & person).sum() + 100, "for little person lost"
