"""Preparing frames ahead: while a still the render needs is being made (a matte learnt from the
clip), nodes with ``prepare`` do the part of coming frames that needs no such still, on a thread of
the renderer's own; the renders take it and write the same pixels as without."""

from __future__ import annotations

import numpy as np
import pytest

from segfuse.io.frames import frame_path
from segfuse.io.images import read_pixels
from segfuse.runtime import Alpha, Clip, Evaluator, Image, ahead, alpha_image, node, render_graph


@pytest.fixture
def measured(registry):
    cls = registry.get("org.segfuse.test.Measured").cls
    cls.prepared.clear()
    cls.rendered.clear()
    return cls


def learning_graph(make_graph, tmp_path, wait_for: int = 4, timeout: float = 5.0, **measured_params):
    return make_graph({
        "noise": ("org.segfuse.test.Noise", {"frames": "0-11"}, {}),
        "still": ("org.segfuse.test.SlowStill", {"wait_for": wait_for, "timeout": timeout}, {"Source": "noise"}),
        "measured": ("org.segfuse.test.Measured", measured_params, {"Source": "noise", "Still": "still"}),
        "write": ("org.segfuse.Write", {"path": str(tmp_path / "m.####.exr"), "bit_depth": "float"},
                  {"Source": "measured"}),
    })


def written(tmp_path, t: int) -> np.ndarray:
    return read_pixels(frame_path(tmp_path / "m.####.exr", t))


def test_frames_are_prepared_while_the_still_is_made_and_render_the_same_pixels(measured, make_graph, tmp_path):
    graph = learning_graph(make_graph, tmp_path)
    evaluator = Evaluator(graph)
    assert render_graph(graph, workers=2, evaluator=evaluator).rendered == 12
    ahead_of_time = [t for t, thread in measured.prepared if thread == "segfuse-prepare"]
    assert len(ahead_of_time) >= 4, "the still waited for four frames prepared on the renderer's thread"
    assert ahead_of_time == sorted(ahead_of_time) and ahead_of_time[0] == 0, "the first frames, in order"
    taken = {t for t, got in measured.rendered if got}
    assert set(ahead_of_time[:4]) <= taken, "their renders took what was prepared"
    assert evaluator.prepared_count() == 0, "nothing prepared is kept after the render"
    alone = Evaluator(learning_graph(make_graph, tmp_path, wait_for=0))  # no render: nothing prepared
    for t in range(12):
        np.testing.assert_array_equal(written(tmp_path, t), alone.render("measured", t).pixels)


def test_at_most_prepare_ahead_frames_are_prepared(measured, make_graph, tmp_path, monkeypatch):
    monkeypatch.setattr(ahead, "PREPARE_AHEAD", 3)
    graph = learning_graph(make_graph, tmp_path, wait_for=10, timeout=0.3)  # the still waits it all
    render_graph(graph, workers=2)
    assert sorted(t for t, thread in measured.prepared if thread == "segfuse-prepare") == [0, 1, 2]
    measured.prepared.clear()
    render_graph(graph, workers=2, cache_bytes=4096)  # a frame cache half full with the still's one frame
    assert not any(thread == "segfuse-prepare" for _, thread in measured.prepared), "nothing read to be let go"


def test_a_failing_prepare_leaves_the_work_to_the_render(measured, make_graph, tmp_path):
    graph = learning_graph(make_graph, tmp_path, wait_for=1, timeout=0.2, fail_prepare=True)
    assert render_graph(graph, workers=2).rendered == 12
    assert not any(got for _, got in measured.rendered)
    alone = Evaluator(learning_graph(make_graph, tmp_path, wait_for=0))
    np.testing.assert_array_equal(written(tmp_path, 5), alone.render("measured", 5).pixels)


def test_nothing_is_prepared_ahead_once_the_stills_are_made(measured, make_graph, tmp_path):
    """A shot analysed beforehand (its matte read, not learnt) renders as before."""
    graph = learning_graph(make_graph, tmp_path, wait_for=0)
    warm = Evaluator(graph)
    warm.render("still", 0)
    render_graph(graph, workers=2, evaluator=warm)
    assert measured.prepared == []
    assert not any(got for _, got in measured.rendered)


def test_a_host_rendering_a_frame_alone_gets_no_prepared_result(measured, make_graph, tmp_path):
    graph = learning_graph(make_graph, tmp_path, wait_for=0)
    evaluator = Evaluator(graph)
    node_ = graph.nodes["measured"]
    image = node_.instance.render(3, evaluator.gather(node_, 3), node_.params)
    np.testing.assert_array_equal(image.pixels, evaluator.render("measured", 3).pixels)
    assert measured.rendered == [(3, False), (3, False)]


def test_a_node_with_prepare_must_name_its_clips_and_take_the_result():
    with pytest.raises(TypeError, match="prepare_clips must name some of its clips"):
        @node(id="org.segfuse.test.NoClips", label="x")
        class NoClips:
            clips = (Clip("Source", components=(Alpha,)),)

            def prepare(self, t, inputs, p):
                return None

            def render(self, t, inputs, p, prepared=None) -> Image:
                return alpha_image(np.zeros((1, 1), np.float32))

    with pytest.raises(TypeError, match="takes no 'prepared' argument"):
        @node(id="org.segfuse.test.NoArgument", label="x")
        class NoArgument:
            clips = (Clip("Source", components=(Alpha,)),)
            prepare_clips = ("Source",)

            def prepare(self, t, inputs, p):
                return None

            def render(self, t, inputs, p) -> Image:
                return alpha_image(np.zeros((1, 1), np.float32))
