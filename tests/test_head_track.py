"""Head track (box + 5 landmarks per frame, smoothed, gaps filled, motion fallback), its JSON form,
and the best preset at any framing: the same clip at two positions gives the same repair moved,
and a shot with no person passes through with one message.

Clips are made from the built-in sample's public-domain astronaut portrait (tests/sample_portrait.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from segfuse.models.face_detector import Face
from segfuse.models.weights import WeightsError, find_weights
from segfuse.ops import head_track
from segfuse.ops.head_track import HeadTrack, PortraitBox, motion_box, track_head
from segfuse.research.quality.runner import run_preset
from segfuse.research.quality.synth import Clip, make_clip

from .sample_portrait import sample_portrait


def _model_installed() -> bool:
    try:
        find_weights("mtcnn")
        return True
    except WeightsError:
        return False


needs_model = pytest.mark.skipif(not _model_installed(),
                                 reason="MTCNN not installed (segfuse models fetch mtcnn)")

LAYOUT = np.float32([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]])


def _face(x: float, y: float, size: float) -> Face:
    box = (x, y, x + size, y + size)
    return Face(box, (np.float32([x, y]) + LAYOUT * size).astype(np.float32), 0.99)


def _frames(count: int, height: int = 40, width: int = 60) -> list[np.ndarray]:
    return [np.full((height, width, 3), 100, np.uint8) for _ in range(count)]


def test_track_fills_a_missed_frame_and_drops_a_one_frame_outlier():
    xs = [10.0 + 2 * t for t in range(9)]
    faces = {t: [_face(x, 5.0, 20.0)] for t, x in enumerate(xs)}
    faces[3] = []  # missed
    faces[6] = [_face(xs[6] + 7.0, 5.0, 20.0)]  # one wild detection (still near enough to follow)
    frames = _frames(9)
    calls = iter(range(9))
    track = track_head(frames, detector=lambda image: faces[next(calls)])
    assert track.source == "detector" and len(track) == 9
    assert not track.found[3] and track.found[6]
    left = track.boxes[:, 0]
    assert abs(left[3] - xs[3]) < 0.5  # filled between its neighbours
    assert abs(left[6] - xs[6]) < 1.5  # the outlier mostly gone (7 px before smoothing)
    assert track.landmarks.shape == (9, 5, 2)


def test_person_picks_the_next_largest_face_and_follows_it():
    frames = _frames(4, 100, 200)
    big, small = [_face(10, 10, 60) for _ in range(4)], [_face(120 + 3 * t, 20, 40) for t in range(4)]
    calls = iter(range(4))
    track = track_head(frames, person=1, detector=lambda image: (lambda t: [big[t], small[t]])(next(calls)))
    assert track.person == 1 and track.found.all()
    assert np.allclose(track.boxes[:, 2] - track.boxes[:, 0], 40, atol=0.01)
    assert track.boxes[0, 0] > 100


def test_no_face_falls_back_to_motion_and_no_motion_means_no_person():
    still = _frames(5, 120, 160)
    assert track_head(still, detector=lambda image: []).source == "none"
    moving = []
    for t in range(5):
        frame = np.full((120, 160, 3), 100, np.uint8)
        frame[40:120, 60 + 2 * t:110 + 2 * t] = 200  # a person-sized block, moving
        moving.append(frame)
    track = track_head(moving, detector=lambda image: [])
    assert track.source == "motion" and not track.found.any()
    box = track.boxes[0]
    assert 55 < box[0] < 100 and 65 < box[2] < 120 and 35 < box[1] < 50
    assert motion_box(still) is None


def test_track_round_trips_through_json_and_bad_data_is_named():
    faces = [_face(10.0 + t, 5.0, 20.0) for t in range(3)]
    calls = iter(range(3))
    track = track_head(_frames(3), first=1001, detector=lambda image: [faces[next(calls)]])
    data = json.loads(json.dumps(track.to_dict()))
    again = HeadTrack.from_dict(data)
    assert again.first == 1001 and again.source == "detector" and again.found.tolist() == [True] * 3
    assert np.allclose(again.boxes, track.boxes, atol=1e-3) and np.allclose(again.landmarks, track.landmarks, atol=1e-3)
    for key, value, message in (("version", 9, "version"), ("width", "wide", "'width'"), ("source", "guess", "source"),
                                ("boxes", [[1, 2, 3]] * 3, "'boxes'"), ("found", [1, 0, 1], "'found'")):
        with pytest.raises(ValueError, match=message):
            HeadTrack.from_dict({**data, key: value})
    with pytest.raises(ValueError, match="finite"):
        HeadTrack.from_dict({**data, "boxes": [[float("nan")] * 4] * 3})


def test_portrait_box_follows_the_face_and_its_region_ends_half_a_box_below_it():
    """The region of interest: about the box (a paste-back crop), from a little above it to half a box
    below it or the frame's bottom; the source shot below a pasted crop is untouched."""
    face = _face(100, 50, 40)
    box = PortraitBox.from_landmarks(face.landmarks)
    moved = PortraitBox.from_landmarks(face.landmarks + np.float32([30, 10]))
    assert np.allclose([moved.x0 - box.x0, moved.y0 - box.y0, moved.side - box.side], [30, 10, 0], atol=1e-4)
    x0, y0, x1, y1 = box.roi(360, 640)
    assert x0 < 100 < 140 < x1 and y0 < 50
    assert y1 == min(360, int(np.ceil(box.y0 + 1.5 * box.side)))
    assert box.roi(2000, 640)[3] == int(np.ceil(box.y0 + 1.5 * box.side)) < 2000


def _placed(clip: Clip, height: int, width: int, x0: int) -> Clip:
    """``clip`` in a wider frame with its left edge at ``x0`` (bottom aligned); the frame continues the
    clip's border, from the truth outside the clip."""
    import cv2

    side = clip.reference.shape[0]

    def place(image: np.ndarray) -> np.ndarray:
        return cv2.copyMakeBorder(image, height - side, 0, x0, width - x0 - side, cv2.BORDER_REPLICATE)

    inside = np.zeros((height, width), bool)
    inside[height - side:, x0:x0 + side] = True
    out = Clip(place(clip.reference), place(clip.reference_alpha))
    for generated, truth in zip(clip.generated, clip.truth, strict=True):
        out.generated.append(np.where(inside[:, :, None], place(generated), place(truth)))
    return out


@needs_model
@pytest.mark.slow
def test_best_repair_is_the_same_at_two_positions_up_to_the_translation():
    portrait, mask = sample_portrait(128)
    clip = make_clip(portrait, mask, frames=6, seed=3)
    a, b = 20, 117
    fixed_a = run_preset(_placed(clip, 160, 288, a), "best").frames
    fixed_b = run_preset(_placed(clip, 160, 288, b), "best").frames
    margin = 16  # compare the clip's square and a margin around it, where both frames have pixels
    diffs = [np.abs(fa[:, a - margin:a + 128 + margin] - fb[:, b - margin:b + 128 + margin]).mean()
             for fa, fb in zip(fixed_a, fixed_b, strict=True)]
    raw = np.mean([np.abs(g - t).mean() for g, t in zip(clip.generated, clip.truth, strict=True)])
    assert 255 * max(diffs) <= 0.5, [255 * d for d in diffs]
    assert 255 * raw > 1.0  # there was something to repair


@needs_model
def test_a_shot_with_no_person_passes_through_with_one_message(capfd, monkeypatch):
    monkeypatch.setattr(head_track, "_said", set())
    rng = np.random.default_rng(1)
    plate = (np.linspace(0.2, 0.8, 96)[None, :, None] * np.ones((64, 96, 3))).astype(np.float32)
    plate += rng.normal(0, 0.02, plate.shape).astype(np.float32)
    plate = np.round(np.clip(plate, 0, 1) * 255) / 255
    clip = Clip(plate.astype(np.float32), np.zeros((64, 96), np.float32))
    for _ in range(4):
        clip.generated.append(plate.astype(np.float32))
    repaired = run_preset(clip, "best")
    assert all(np.array_equal(out, gen) for out, gen in zip(repaired.frames, clip.generated, strict=True))
    notes = [line for line in capfd.readouterr().err.splitlines() if "no person found" in line]
    assert len(notes) == 1, notes


@needs_model
def test_fix_learning_frame_by_frame_repairs_a_paste_back_wider_than_the_working_size(tmp_path):
    """MLT (Kdenlive, Shotcut) hands SegFuse Fix one frame at a time, and Fix learns the reference's
    matte from the frames handed so far. On a paste-back wider than Motion Matte's working size
    (256 px) that learning failed ('layer_costs needs at least one frame'): the frames it kept were
    shrunk to the working size and Motion Matte's region path left frames of another size out.
    Once its steps have seen the whole clip, the host's frame is the command line's."""
    import cv2

    from segfuse import color
    from segfuse.image import Image
    from segfuse.nodes.segfuse_fix import Fix, _params
    from segfuse.runtime import ClipFrames

    portrait, mask = sample_portrait(128)
    shot = _placed(make_clip(portrait, mask, frames=8, seed=3), 160, 288, 117)
    reference = tmp_path / "reference.png"
    cv2.imwrite(str(reference), cv2.cvtColor(np.round(shot.reference * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    working = color.working_space()
    fix = Fix()
    p = _params(Fix, reference=str(reference))
    handed = {}
    for t, frame in enumerate(shot.generated):
        handed[t] = Image(color.convert(np.ascontiguousarray(frame), color.srgb_space(), working), working)
        window = {s: handed[s] for s in fix.frames_needed(t, p)["Source"] if s in handed}
        out = fix.render(t, {"Source": ClipFrames("Source", None, t, window)}, p)
    host = color.convert(out.rgb, out.colorspace, color.srgb_space())
    cli = run_preset(shot, "best").frames[-1]
    repaired = (np.abs(cli - shot.generated[-1]).max(axis=2) > 2 / 255).sum()
    assert repaired > 1000, "the command line repaired the frame"
    assert 255 * np.abs(host - cli).mean() < 0.05, "the host's last frame is the command line's"


@needs_model
def test_motion_matte_learns_from_frames_at_another_size_than_the_reference():
    """Frames of another size (a host keeps a 4K clip's frames at 2K to learn from; a clip rendered at
    another size) are brought to the reference's size, not left out: about the same matte."""
    import cv2

    from segfuse.image import Image
    from segfuse.nodes.motion_matte import MotionMatte
    from segfuse.runtime import ClipFrames, ParamValues

    portrait, mask = sample_portrait(128)
    shot = _placed(make_clip(portrait, mask, frames=8, seed=3), 160, 288, 117)
    node = MotionMatte()
    p = ParamValues({q.name: q.default for q in MotionMatte.descriptor.params})

    def matte(frames: list[np.ndarray]) -> np.ndarray:
        moving = {t: Image(frame.astype(np.float32), "sRGB") for t, frame in enumerate(frames)}
        inputs = {"Reference": ClipFrames("Reference", None, 0, {0: Image(shot.reference, "sRGB")}),
                  "Moving": ClipFrames("Moving", None, 0, moving)}
        return node.render(0, inputs, p).alpha >= 0.5

    whole = matte(shot.generated[1:])
    halved = matte([cv2.resize(f, (144, 80), interpolation=cv2.INTER_AREA) for f in shot.generated[1:]])
    assert (whole & halved).sum() / (whole | halved).sum() > 0.9


@needs_model
def test_grabcut_portrait_prior_follows_the_face_off_centre():
    import cv2

    from segfuse.models.framing import locate
    from segfuse.ops.grabcut import BGD, FGD, portrait_trimap, segment

    portrait, mask = sample_portrait(128)
    image = cv2.copyMakeBorder(np.round(portrait * 255).astype(np.uint8), 0, 0, 180, 12, cv2.BORDER_REPLICATE)
    person = cv2.copyMakeBorder(mask, 0, 0, 180, 12, cv2.BORDER_CONSTANT, value=0) > 0.5
    box = locate(image)
    trimap = portrait_trimap(128, 320, box)
    assert person[trimap == FGD].mean() > 0.99  # the sure-person cores lie on the person
    assert not person[trimap == BGD].any() or person[trimap == BGD].mean() < 0.05

    def iou(matte: np.ndarray) -> float:
        guess = matte > 0.5
        return (guess & person).sum() / (guess | person).sum()

    tracked = iou(segment(image, trimap, 3, 0))
    centred = iou(segment(image, portrait_trimap(128, 320), 3, 0))
    assert tracked > 0.6 and tracked > centred + 0.3, (tracked, centred)  # measured 0.69 vs 0.17


@needs_model
def test_pirender_face_crop_is_the_portrait_box_inside_the_frame():
    import cv2

    from segfuse.models.framing import locate
    from segfuse.models.pirender_runtime import conform

    portrait, _ = sample_portrait(128)
    wide = cv2.copyMakeBorder(np.round(portrait * 255).astype(np.uint8), 40, 0, 150, 30, cv2.BORDER_REPLICATE)
    here, there = locate(np.round(portrait * 255).astype(np.uint8)), locate(wide)
    crop = there.crop(*wide.shape[:2])
    assert crop[2] - crop[0] == crop[3] - crop[1] == round(there.side)
    assert abs(crop[0] - (round(here.x0) + 150)) <= 2 and abs(crop[1] - (round(here.y0) + 40)) <= 2
    x, box = conform(wide.astype(np.float32) / 255, "face", crop)
    assert box == crop and tuple(x.shape) == (1, 3, 256, 256)
    assert PortraitBox(-50, -20, 400).crop(100, 300) == (0, 0, 100, 100)  # larger than the frame: shrunk, in


def test_auto_framing_keeps_the_centred_priors_only_for_a_loose_square_frame_with_the_face_in_the_middle():
    from segfuse.ops.head_track import is_centred_crop

    loose = PortraitBox(160.0, 60.0, 190.0)  # the built-in sample's face in its 512x512 frame
    assert is_centred_crop(loose, 512, 512)
    assert not is_centred_crop(PortraitBox(0.0, 0.0, 256.0), 256, 256)  # a tight centred crop: the box's priors
    assert not is_centred_crop(loose, 512, 910)  # the same head at the left of a 16:9 frame
    assert not is_centred_crop(PortraitBox(260.0, 60.0, 190.0), 512, 512)  # off-centre in a square frame


def test_without_the_detector_auto_framing_notes_it_once_and_track_names_the_install(tmp_path, monkeypatch):
    from segfuse.models import face_detector
    from segfuse.models.framing import locate_for

    monkeypatch.setenv("SEGFUSE_MODELS", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(face_detector, "_nets", None)
    monkeypatch.setattr(head_track, "_said", set())
    image = np.full((64, 64, 3), 90, np.uint8)
    assert locate_for("auto", image) == (None, True)
    assert locate_for("auto", image) == (None, True)
    assert len(head_track._said) == 1 and "segfuse models fetch mtcnn" in next(iter(head_track._said))
    with pytest.raises(WeightsError, match="segfuse models fetch mtcnn"):
        locate_for("track", image)
