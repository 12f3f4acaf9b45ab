"""Evaluation: the frame cache, random access, parallel renders, resume and failure handling."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from segfuse.errors import NodeError
from segfuse.image import alpha_image
from segfuse.io.frames import frame_path
from segfuse.io.images import read_pixels
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.runtime import Evaluator, FrameCache, FrameRange, bind, render_graph


def test_cache_stays_within_its_byte_budget_and_evicts_oldest():
    cache = FrameCache(max_bytes=3 * 100 * 4)
    for t in range(5):
        cache.get_or_compute(("n", t), lambda: alpha_image(np.zeros((10, 10), np.float32)))
    assert cache.nbytes <= 1200
    assert not cache.contains(("n", 0)) and cache.contains(("n", 4))


def test_cache_computes_a_frame_once_when_threads_ask_together():
    cache = FrameCache()
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.05)
        return alpha_image(np.ones((2, 2), np.float32))

    threads = [threading.Thread(target=cache.get_or_compute, args=(("n", 1), slow)) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(calls) == 1


def test_cache_does_not_keep_failures():
    cache = FrameCache()
    with pytest.raises(RuntimeError):
        cache.get_or_compute(("n", 1), lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert cache.get_or_compute(("n", 1), lambda: alpha_image(np.ones((1, 1), np.float32))).pixels[0, 0, 0] == 1


@pytest.fixture(scope="module")
def paper_doc(tmp_path_factory, small_sample):
    out = tmp_path_factory.mktemp("paper") / "out.####.exr"
    generated, reference = small_sample
    return paper_graph(FixOptions(str(generated), str(reference), str(out), frames=FrameRange(0, 11)))


def test_paper_graph_frame_alone_equals_frame_in_sequence(paper_doc):
    in_order = Evaluator(bind(paper_doc))
    sequence = {t: in_order.render("fuse", t).pixels for t in range(12)}
    for t in (11, 6, 0):  # fresh evaluators: nothing cached, other frames never rendered
        alone = Evaluator(bind(paper_doc)).render("fuse", t).pixels
        np.testing.assert_array_equal(alone, sequence[t], err_msg=f"frame {t}")


def test_parallel_render_equals_serial_render(paper_doc, tmp_path):
    paper_doc.nodes["write"].params.update(path=str(tmp_path / "par.####.exr"), bit_depth="float")
    render_graph(bind(paper_doc), FrameRange(0, 7), workers=3)
    serial = Evaluator(bind(paper_doc))
    for t in range(8):
        written = read_pixels(frame_path(tmp_path / "par.####.exr", t))
        np.testing.assert_array_equal(written, serial.render("fuse", t).pixels)


@pytest.mark.parametrize("workers", [1, 3])
def test_render_batch_gets_consecutive_frames_each_rendered_once(registry, make_graph, tmp_path, workers):
    BatchDouble = registry.get("org.segfuse.test.BatchDouble").cls  # noqa: N806 (the class, as loaded)

    nodes = {
        "noise": ("org.segfuse.test.Noise", {"frames": "0-19"}, {}),
        "double": ("org.segfuse.test.BatchDouble", {}, {"Source": "noise"}),
        "write": ("org.segfuse.Write", {"path": str(tmp_path / "b.####.exr"), "bit_depth": "float"},
                  {"Source": "double"}),
    }
    BatchDouble.calls.clear()
    render_graph(make_graph(nodes), workers=workers, batch_size=8)
    rendered = [t for call in BatchDouble.calls for t in call]
    assert sorted(rendered) == list(range(20))  # every frame once, none twice
    assert max(len(call) for call in BatchDouble.calls) == 8
    for call in BatchDouble.calls:
        assert list(call) == list(range(call[0], call[0] + len(call)))
    alone = Evaluator(make_graph(nodes), batch_size=1)
    for t in (0, 9, 19):
        np.testing.assert_array_equal(read_pixels(frame_path(tmp_path / "b.####.exr", t)),
                                      alone.render("double", t).pixels)


def test_a_render_through_a_warm_evaluator_computes_nothing_twice(registry, make_graph, tmp_path):
    """What a caller rendered to look at (the demo's mattes) is not rendered again by the render."""
    BatchDouble = registry.get("org.segfuse.test.BatchDouble").cls  # noqa: N806 (the class, as loaded)

    nodes = {
        "noise": ("org.segfuse.test.Noise", {"frames": "0-5"}, {}),
        "double": ("org.segfuse.test.BatchDouble", {}, {"Source": "noise"}),
        "write": ("org.segfuse.Write", {"path": str(tmp_path / "w.####.exr"), "bit_depth": "float"},
                  {"Source": "double"}),
    }
    graph = make_graph(nodes)
    warm = Evaluator(graph)
    looked_at = [warm.render("double", t).pixels for t in range(6)]
    BatchDouble.calls.clear()
    assert render_graph(graph, evaluator=warm).rendered == 6
    assert BatchDouble.calls == []
    for t in (0, 5):
        np.testing.assert_array_equal(read_pixels(frame_path(tmp_path / "w.####.exr", t)), looked_at[t])
    with pytest.raises(ValueError, match="another graph"):
        render_graph(make_graph(nodes), evaluator=warm)


def test_failed_render_keeps_complete_frames_and_resume_finishes(make_graph, tmp_path):
    out = tmp_path / "f.####.exr"
    nodes = {
        "noise": ("org.segfuse.test.Noise", {"frames": "0-7"}, {}),
        "fail": ("org.segfuse.test.Fail", {"at": 5}, {"Source": "noise"}),
        "write": ("org.segfuse.Write", {"path": str(out), "bit_depth": "float"}, {"Source": "fail"}),
    }
    with pytest.raises(NodeError, match=r"node 'fail' \(org.segfuse.test.Fail\) at frame 5: refusing frame 5"):
        render_graph(make_graph(nodes), workers=1)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [f"f.{t:04d}.exr" for t in range(5)]  # complete frames only, no temporaries
    first_mtime = (tmp_path / "f.0000.exr").stat().st_mtime_ns
    nodes["fail"] = ("org.segfuse.test.Fail", {"at": -1}, {"Source": "noise"})
    report = render_graph(make_graph(nodes), resume=True, workers=1)
    assert (report.rendered, report.skipped) == (3, 5)
    assert (tmp_path / "f.0000.exr").stat().st_mtime_ns == first_mtime
    noise = Evaluator(make_graph(nodes))
    for t in range(8):
        np.testing.assert_array_equal(read_pixels(frame_path(out, t))[:, :, 0], noise.render("noise", t).alpha)


def test_failed_movie_render_leaves_no_file_and_keeps_an_old_one(make_graph, tmp_path):
    movie = tmp_path / "m.mp4"
    movie.write_bytes(b"previous good render")
    nodes = {
        "noise": ("org.segfuse.test.Noise", {"frames": "0-7", "width": 32, "height": 24}, {}),
        "fail": ("org.segfuse.test.Fail", {"at": 6}, {"Source": "noise"}),
        "write": ("org.segfuse.Write", {"path": str(movie)}, {"Source": "fail"}),
    }
    with pytest.raises(NodeError):
        render_graph(make_graph(nodes), workers=2)
    assert movie.read_bytes() == b"previous good render"
    assert [p.name for p in tmp_path.iterdir()] == ["m.mp4"]


def test_requested_frames_outside_the_input_are_refused(make_graph, tmp_path):
    from segfuse.errors import GraphError

    graph = make_graph({"noise": ("org.segfuse.test.Noise", {"frames": "0-9"}, {}),
                        "write": ("org.segfuse.Write", {"path": str(tmp_path / "o.####.png")}, {"Source": "noise"})})
    with pytest.raises(GraphError, match=r"frames 5-20 requested but its input has frames 0-9"):
        render_graph(graph, FrameRange(5, 20))


def test_node_returning_a_wrong_size_is_caught(registry, tmp_path):
    from segfuse.runtime import Alpha, Clip, node, parse_graph
    from segfuse.runtime.registry import NodeRegistry

    @node(id="org.segfuse.test.Shrink", label="Shrink")
    class Shrink:
        clips = (Clip("Source", components=(Alpha,)),)

        def render(self, t, inputs, p):
            return alpha_image(inputs["Source"].frame().alpha[:-1])

    reg = NodeRegistry()
    for d in registry.all():
        reg.add(d)
    reg.add(Shrink.descriptor)
    doc = {"format": "segfuse.graph", "version": 1, "nodes": {
        "n": {"type": "org.segfuse.test.Noise"}, "s": {"type": "org.segfuse.test.Shrink", "inputs": {"Source": "n"}}}}
    with pytest.raises(NodeError, match=r"rendered 32×23×1 but declared 32×24×1"):
        Evaluator(bind(parse_graph(doc, tmp_path), reg)).render("s", 0)
