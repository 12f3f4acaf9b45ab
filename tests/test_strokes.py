"""Paint strokes: the Strokes param's validation, rasterising, reach, and GrabCut's hard labels."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from segfuse.ops.strokes import UNTOUCHED, apply_strokes, rasterise, strokes_near
from segfuse.runtime import Evaluator, Strokes
from segfuse.runtime.params import ParamError, Stroke, strokes_to_json
from tests.studio_clip import write_clip

PARAM = Strokes("strokes")


def test_strokes_coerce_graph_file_form_and_json_text():
    raw = {"3": [{"label": "fg", "radius": 0.05, "points": [[0.5, 0.5], [0.6, 0.5]]}]}
    value = PARAM.coerce(raw)
    assert value == {3: (Stroke("fg", 0.05, ((0.5, 0.5), (0.6, 0.5))),)}
    assert PARAM.coerce(json.dumps(raw)) == value
    assert strokes_to_json(value) == raw
    assert PARAM.coerce(None) == {} and PARAM.coerce("") == {}


@pytest.mark.parametrize("raw, message", [
    ({"x": []}, "frame key 'x' is not a whole number"),
    ({"1": [{"label": "hair", "radius": 0.1, "points": [[0, 0]]}]}, "label 'hair' is not one of fg, bg, erase"),
    ({"1": [{"label": "fg", "radius": 0.9, "points": [[0, 0]]}]}, "radius 0.9 is outside (0, 0.5]"),
    ({"1": [{"label": "fg", "radius": 0.1, "points": []}]}, "points must be a non-empty list"),
    ({"1": [{"label": "fg", "radius": 0.1, "points": [[0, 0]], "code": "x"}]}, "unknown field 'code'"),
    ("{not json", "not valid JSON"),
])
def test_strokes_refuse_bad_data_with_a_message(raw, message):
    with pytest.raises(ParamError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        PARAM.coerce(raw)


def test_rasterise_paints_labels_in_order_and_erase_gives_pixels_back():
    fg = Stroke("fg", 0.1, ((0.2, 0.5), (0.8, 0.5)))
    bg = Stroke("bg", 0.1, ((0.5, 0.5),))
    erase = Stroke("erase", 0.05, ((0.2, 0.5),))
    out = rasterise([fg, bg, erase], 100, 100)
    assert out[50, 70] == cv2.GC_FGD and out[50, 50] == cv2.GC_BGD  # the later bg dab wins
    assert out[50, 20] == UNTOUCHED and out[10, 10] == UNTOUCHED
    trimap = np.full((100, 100), cv2.GC_PR_BGD, np.uint8)
    stamped = apply_strokes(trimap, {4: (fg,)}, 5, reach=1)
    assert stamped[50, 70] == cv2.GC_FGD and stamped[10, 10] == cv2.GC_PR_BGD
    assert apply_strokes(trimap, {4: (fg,)}, 6, reach=1) is trimap  # out of reach: untouched
    assert apply_strokes(trimap, None, 6, reach=1) is trimap  # the declared default: no strokes


def test_strokes_near_orders_farther_frames_first():
    a, b, c = (Stroke("fg", 0.1, ((0.1 * i, 0.1),)) for i in range(1, 4))
    assert strokes_near({3: (a,), 5: (b,), 4: (c,)}, 4, 1) == [a, b, c]
    assert strokes_near({3: (a,), 9: (b,)}, 4, 2) == [a]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip"))


def test_grabcut_segment_applies_strokes_as_hard_labels_on_frame_and_neighbours(make_graph, clip):
    plate, _ = clip
    rect = [0.1, 0.1, 0.9, 1.0]
    stroke = {"label": "bg", "radius": 0.08, "points": [[0.4, 0.45], [0.6, 0.45]]}
    plain = make_graph({"plate": ("org.segfuse.Read", {"path": str(plate)}, {}),
                        "matte": ("org.segfuse.GrabCutSegment", {"init": "rect", "rect": rect}, {"Source": "plate"})})
    painted = make_graph({"plate": ("org.segfuse.Read", {"path": str(plate)}, {}),
                          "matte": ("org.segfuse.GrabCutSegment",
                                    {"init": "rect", "rect": rect, "strokes": {"3": [stroke]}, "stroke_reach": 1},
                                    {"Source": "plate"})})
    before, after = Evaluator(plain), Evaluator(painted)
    for t in (2, 3, 4):
        assert before.render("matte", t).alpha[43, 48] == 1.0  # the head, found by GrabCut
        assert after.render("matte", t).alpha[43, 48] == 0.0  # painted background
    np.testing.assert_array_equal(before.render("matte", 6).pixels, after.render("matte", 6).pixels)
