"""Shot analysis: the file is validated data, a stale analysis is detected, and every reader (a render,
farm chunks, the Fix filter) uses the same matte. Inputs: the built-in sample scaled down (tiny_sample)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from segfuse.analysis import AnalysisError, Section, ShotAnalysis, load_analysis, save_analysis
from segfuse.analysis.shot import analyse_graph, as_analysed, check_graph
from segfuse.analysis.store import decode, encode
from segfuse.io.frames import FrameRange
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.runtime import Evaluator, bind, load_graph, save_graph
from tests.sample_portrait import write_shrunk_sample

SIZE, FRAMES = 96, 48  # the sample's 48 frames, small: a farm's default chunking splits 48 frames


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    """The sample's first frames and its reference at SIZE² (PNG sequence, PNG)."""
    return write_shrunk_sample(tmp_path_factory.mktemp("tiny"), SIZE, FRAMES)


def best_graph(tiny, folder: Path):
    generated, reference = tiny
    folder.mkdir(parents=True, exist_ok=True)
    return paper_graph(FixOptions(str(generated), str(reference), "out/f.####.png", frames=FrameRange(0, FRAMES - 1)),
                       folder)


@pytest.fixture(scope="module")
def analysed(tiny, tmp_path_factory):
    """A saved best graph, analysed (segfuse analyse): (graph path, analysis path)."""
    folder = tmp_path_factory.mktemp("shot")
    doc = best_graph(tiny, folder)
    report = analyse_graph(doc)
    path = folder / "shot.json"
    save_graph(doc, path)
    return path, report.path


# --- the file: versioned, validated data, never unpickled ---

def test_a_section_round_trips_and_keeps_its_key_data_and_arrays(tmp_path):
    matte = (np.arange(12, dtype=np.float32).reshape(3, 4, 1) > 5).astype(np.float32)
    track = {"boxes": [[1, 2, 3, 4]], "landmarks": [[[0.5, 0.5]] * 5]}  # e.g. a head track's to_dict()
    analysis = ShotAnalysis({"reference_matte": Section({"a": {"params": {"x": 1}}}, {"node": "m"}, {"image": matte}),
                             "head_track": Section({"b": 2}, track)})
    path = save_analysis(analysis, tmp_path / "shot.analysis.npz")
    back = load_analysis(path)
    assert back.sections["reference_matte"].key == {"a": {"params": {"x": 1}}}
    np.testing.assert_array_equal(back.sections["reference_matte"].arrays["image"], matte)
    assert back.sections["head_track"].data == track and back.sections["head_track"].arrays == {}
    assert [p.name for p in tmp_path.iterdir()] == ["shot.analysis.npz"]  # no temporary left behind


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _meta(doc) -> np.ndarray:
    return np.frombuffer(json.dumps(doc).encode(), np.uint8)


@pytest.mark.parametrize("blob, message", [
    (b'{"not": "a zip"}', "not a zip of arrays"),
    (_npz(meta=np.array([{"x": 1}], dtype=object)), "not a SegFuse analysis file"),  # pickled objects: refused
    (_npz(image=np.zeros(3)), "meta: missing"),
    (_npz(meta=_meta({"format": "other", "version": 1, "sections": {}})), "format: expected"),
    (_npz(meta=_meta({"format": "segfuse.analysis", "version": 99, "sections": {}})), "version 99 is not supported"),
    (_npz(meta=_meta({"format": "segfuse.analysis", "version": 1,
                      "sections": {"m": {"key": {}, "arrays": ["image"]}}})), "array 'image' is missing"),
    (_npz(meta=_meta({"format": "segfuse.analysis", "version": 1, "sections": {"m": {"key": {}, "arrays": ["image"]}}}),
          **{"m.image": np.array([np.nan], np.float32)}), "NaN"),
    (_npz(meta=_meta({"format": "segfuse.analysis", "version": 1, "sections": {"m": {"key": {}, "arrays": ["image"]}}}),
          **{"m.image": np.zeros(2, np.float64)}), "dtype float64"),
])
def test_a_malformed_file_is_one_line_naming_the_problem(blob, message):
    with pytest.raises(AnalysisError, match=message) as info:
        decode(blob, "shot.analysis.npz")
    assert "\n" not in str(info.value) and str(info.value).startswith("shot.analysis.npz: ")


def test_the_file_holds_no_pickle():
    blob = encode(ShotAnalysis({"m": Section({}, {}, {"image": np.zeros((2, 2, 1), np.float32)})}))
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        for name in archive.namelist():
            with archive.open(name) as member:
                array = np.load(io.BytesIO(member.read()), allow_pickle=False)  # raises on a pickled member
            assert not array.dtype.hasobject, name


# --- analysing a graph; stale analyses ---

def test_analyse_records_the_file_and_renders_equal_learning_at_render_time(tiny, analysed, tmp_path):
    path, analysis = analysed
    doc = load_graph(path)
    assert doc.nodes["reference_matte"].params["analysis"] == "shot.analysis.npz" and analysis.exists()
    assert check_graph(doc) == {}
    plain = best_graph(tiny, tmp_path)  # no analysis: Motion Matte reads the clip inside the graph
    with_file, learning = Evaluator(bind(doc)), Evaluator(bind(plain))
    for t in (0, FRAMES - 1):
        np.testing.assert_array_equal(with_file.render("fuse", t).pixels, learning.render("fuse", t).pixels)
    needed = with_file.graph.nodes["reference_matte"]
    assert needed.instance.frames_needed(0, needed.inputs, needed.params, {"Moving": FrameRange(0, 99)}) == \
        {"Reference": [0], "Moving": []}  # reads no frame of the clip


def test_a_stale_analysis_is_detected_and_says_what_changed(tiny, tmp_path):
    generated, reference = tiny
    folder = tmp_path / "shot"
    doc = best_graph(tiny, folder)
    analyse_graph(doc)
    doc.nodes["reference_matte"].params["evidence"] = 0.02
    assert check_graph(doc)["reference_matte"][0] == "stale"
    assert "param 'evidence' changed" in check_graph(doc)["reference_matte"][1]
    doc.nodes["reference_matte"].params.pop("evidence")
    copy = tmp_path / "ref2.png"
    image = cv2.imread(str(reference))
    image[0, 0] = 255 - image[0, 0]
    cv2.imwrite(str(copy), image)
    doc.nodes["reference"].params["path"] = str(copy)  # other content (same content at another path matches)
    kind, message = check_graph(doc)["reference_matte"]
    assert kind == "stale" and "node 'reference' param 'path' (file content) changed" in message


def test_the_command_line_redoes_a_stale_analysis_and_refuses_a_file_that_is_not_one(analysed, tmp_path, capsys):
    from segfuse.cli import main

    path, analysis = analysed
    doc = load_graph(path)
    doc.nodes["reference_matte"].params["samples"] = 4
    doc.nodes["write"].params["path"] = str(tmp_path / "out/f.####.png")
    mine = tmp_path / "shot.json"
    doc.nodes["reference_matte"].params["analysis"] = str(tmp_path / "mine.analysis.npz")
    doc.frames = FrameRange(0, 0)
    save_graph(doc, mine)
    assert main(["render", str(mine), "-q"]) == 0
    err = capsys.readouterr().err
    assert "analysis redone" in err and "not made yet" in err
    assert check_graph(load_graph(mine)) == {}
    (tmp_path / "mine.analysis.npz").write_text("my notes")  # someone's file: never overwritten
    assert main(["render", str(mine), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a SegFuse analysis file" in err
    assert (tmp_path / "mine.analysis.npz").read_text() == "my notes"


# --- every reader uses the same analysis ---

def test_chunks_plan_on_the_analysis_and_split_the_best_graph(tiny, analysed, tmp_path):
    from segfuse.farm.preroll import default_chunk, frames_read, preroll

    path, _ = analysed
    graph = bind(load_graph(path))
    assert preroll(graph, FrameRange(0, FRAMES - 1)) == 4  # the median's window only: no whole-clip reads
    assert "generated" in frames_read(graph, "fuse", FrameRange(8, 9))
    assert min(frames_read(graph, "fuse", FrameRange(8, 9))["generated"]) == 4
    assert FRAMES // default_chunk(graph, FrameRange(0, FRAMES - 1), 2) >= 2
    unanalysed = bind(best_graph(tiny, tmp_path))
    assert default_chunk(as_analysed(unanalysed), FrameRange(0, 47), 2) == default_chunk(graph, FrameRange(0, 47), 2)


def test_the_fix_filter_reads_the_same_analysis_as_the_graph(analysed):
    """SegFuse Fix (what single-frame hosts run) with 'analysis' set gives the graph's pixels."""
    from segfuse.nodes.segfuse_fix import Fix, _params
    from segfuse.runtime import ClipFrames

    path, analysis = analysed
    graph = Evaluator(bind(load_graph(path)))
    frames = {t: graph.render("generated", t) for t in range(7)}
    fix = Fix()
    p = _params(Fix, reference=graph.graph.nodes["reference"].params.path, analysis=str(analysis))
    for t in (0, 6):
        window = {s: frames[s] for s in fix.frames_needed(t, p)["Source"] if s >= 0}
        out = fix.render(t, {"Source": ClipFrames("Source", None, t, window)}, p)
        np.testing.assert_allclose(out.pixels, graph.render("fuse", t).pixels, atol=1e-6)
    assert fix.host_notice(p) is None


def test_fix_without_an_analysis_learns_from_the_frames_handed_so_far_and_says_so(analysed):
    from segfuse.nodes.segfuse_fix import LEARN_AT, Fix, _params
    from segfuse.runtime import ClipFrames

    path, _ = analysed
    graph = Evaluator(bind(load_graph(path)))
    fix = Fix()
    p = _params(Fix, reference=graph.graph.nodes["reference"].params.path)
    learnt = []
    motion = fix.nodes["org.segfuse.MotionMatte"]
    original = motion.render
    motion.render = lambda t, inputs, q: learnt.append(len(inputs["Moving"].times)) or original(t, inputs, q)
    handed = {}
    for t in range(12):
        handed[t] = graph.render("generated", t)
        window = {s: handed[s] for s in fix.frames_needed(t, p)["Source"] if s in handed}
        out = fix.render(t, {"Source": ClipFrames("Source", None, t, window)}, p)
    assert len(learnt) == len([n for n in LEARN_AT if n <= 12])  # learnt again at steps, not per frame
    assert learnt[-1] == 8  # Motion Matte's samples, spread over the frames seen
    assert "segfuse analyse" in fix.host_notice(p)
    full = graph.render("fuse", 11).pixels  # the command line's frame, from the whole clip's analysis
    error, untouched = np.abs(out.pixels - full).mean(), np.abs(handed[11].pixels - full).mean()
    assert error < 0.6 * untouched  # learnt from 12 frames: about half of the way (0.50 here)
    for t in range(12, FRAMES):  # the rest of the clip: once learnt from all of it, the command line's frame
        handed[t] = graph.render("generated", t)
        window = {s: handed[s] for s in fix.frames_needed(t, p)["Source"] if s in handed}
        out = fix.render(t, {"Source": ClipFrames("Source", None, t, window)}, p)
    np.testing.assert_allclose(out.pixels, graph.render("fuse", FRAMES - 1).pixels, atol=1e-6)


def test_fix_learning_keeps_frames_as_rendered_while_the_head_has_not_moved(analysed):
    """In a host that hands one frame at a time, the first frames' matte is learnt from those frames
    alone; while the head in them has not moved there is nothing to learn the person from, and
    blending the reference over them made shots whose person fills the frame worse than the raw
    render (README, host quality). They come out exactly as rendered."""
    from segfuse.nodes.segfuse_fix import Fix, _params
    from segfuse.runtime import ClipFrames

    path, _ = analysed
    graph = Evaluator(bind(load_graph(path)))
    fix = Fix()
    p = _params(Fix, reference=graph.graph.nodes["reference"].params.path)
    portrait = graph.render("reference", 0).pixels
    nudge = np.float32([[1, 0, 0.3], [0, 1, 0.2]])  # the portrait, a third of a pixel off: a head at rest
    still = graph.render("reference", 0).with_pixels(
        cv2.warpAffine(portrait, nudge, portrait.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    for t in range(4):
        frames = {s: still for s in fix.frames_needed(t, p)["Source"] if 0 <= s <= t}
        out = fix.render(t, {"Source": ClipFrames("Source", None, t, frames)}, p)
        np.testing.assert_array_equal(out.pixels, still.pixels[:, :, :3])


def test_fix_keeps_the_frames_it_learns_from_as_8_bit_codes_at_most_2048_px_long():
    """What a single-frame host's learning holds per frame: the 8-bit codes Motion Matte reads (no
    float copy), at full size up to 2048 px on the long side (a 4K frame kept at 2K)."""
    from segfuse import color
    from segfuse.image import Image
    from segfuse.nodes.segfuse_fix import KEEP_LONG_SIDE, _kept

    working = color.working_space()
    rng = np.random.default_rng(0)
    for height, width in ((90, 160), (60, 3000)):
        srgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        frame = Image(color.convert(srgb.astype(np.float32) / 255, color.srgb_space(), working), working)
        kept = _kept(frame)
        codes = kept.srgb_uint8()
        assert codes.dtype == np.uint8 and max(codes.shape[:2]) == min(width, KEEP_LONG_SIDE)
        if width <= KEEP_LONG_SIDE:
            np.testing.assert_array_equal(codes, srgb)  # the frame's own codes, exactly
