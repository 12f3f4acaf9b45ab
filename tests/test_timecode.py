"""A timecoded movie's repair keeps its timecode, so an editor can conform it back into the cut."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from segfuse.io.timecode import advanced, from_frames, to_frames

from .movies import encode_movie
from .test_cli import segfuse

NTSC = 30000 / 1001


@pytest.mark.parametrize(("start", "frames", "fps", "expected"), [
    ("01:00:10:05", 20, 25, "01:00:11:00"),
    ("23:59:59:24", 1, 25, "00:00:00:00"),  # a day wraps
    ("00:00:59;29", 1, NTSC, "00:01:00;02"),  # drop-frame skips ;00 and ;01 at each minute…
    ("00:09:59;29", 1, NTSC, "00:10:00;00"),  # …but not every tenth
    ("00:00:59;59", 1, 2 * NTSC, "00:01:00;04"),  # 59.94 drops four
    ("00:00:59:29", 1, NTSC, "00:01:00:00"),  # non-drop at 29.97 counts 30 a second
    ("10:00:00:00", 24, 24000 / 1001, "10:00:01:00"),
    ("not a timecode", 3, 25, ""), ("00:61:00:00", 1, 25, ""), ("00:00:00:25", 1, 25, ""),
])
def test_timecode_moves_on_by_frames_in_its_own_style(start, frames, fps, expected):
    assert advanced(start, frames, fps) == expected


def test_drop_frame_labels_and_counts_agree_over_hours():
    for fps, step in ((NTSC, 7), (2 * NTSC, 13)):
        for count in range(0, 3 * 60 * 60 * round(fps), step * 97):
            assert to_frames(from_frames(count, fps, True), fps) == count


def _timecoded_movie(path: Path, timecode: str, frames: int = 10) -> Path:
    def tag(stream) -> None:
        stream.metadata["timecode"] = timecode

    return encode_movie(path, [np.full((64, 64, 3), 20 * t, np.uint8) for t in range(frames)], tag)


def _timecode(path: Path) -> str | None:
    with av.open(str(path)) as container:
        return container.streams.video[0].metadata.get("timecode")


@pytest.mark.parametrize("container", ["mov", "mp4"])
def test_a_render_starts_at_its_first_frames_timecode_through_the_graph(tmp_path, container):
    source = _timecoded_movie(tmp_path / f"plate.{container}", "01:00:10:05")
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "frames": "4-9", "nodes": {
        "plate": {"type": "org.segfuse.Read", "params": {"path": str(source)}},
        "median": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "plate"}},
        "write": {"type": "org.segfuse.Write", "params": {"path": f"out.{container}"},
                  "inputs": {"Source": "median"}}}}))
    segfuse("render", str(graph), "-q")
    assert _timecode(tmp_path / f"out.{container}") == "01:00:10:09"  # frame 4 of a clip starting at :05
    with av.open(str(tmp_path / f"out.{container}")) as written:
        assert [s.type for s in written.streams] == ["video", "data"]  # FFmpeg's timecode track
    untimed = _timecoded_movie(tmp_path / "plain.mp4", "")
    graph.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "nodes": {
        "plate": {"type": "org.segfuse.Read", "params": {"path": str(untimed)}},
        "write": {"type": "org.segfuse.Write", "params": {"path": "none.mp4"}, "inputs": {"Source": "plate"}}}}))
    segfuse("render", str(graph), "-q")
    assert _timecode(tmp_path / "none.mp4") is None  # nothing made up


def test_header_timecode_round_trips_every_digit_and_the_drop_flag():
    from segfuse.io.timecode import from_bcd, to_bcd

    assert to_bcd("01:00:10:05") == 0x01001005
    for label in ("00:00:00:00", "23:59:59:29", "12:34:56:23", "09:59:59;29", "10:00:00;02"):
        assert from_bcd(to_bcd(label)) == label
    assert to_bcd("nonsense") is None


@pytest.mark.parametrize("extension", ["exr", "dpx"])
def test_each_frame_file_records_its_timecode_and_a_sequence_reads_it_back(tmp_path, extension):
    """Movie → EXR/DPX frames 4-6 → movie: every header holds its own frame's timecode and the rate,
    and a movie made from those frames starts where they do."""
    from segfuse.io.images import read_timing

    source = _timecoded_movie(tmp_path / "plate.mov", "01:00:10:05")
    frames = tmp_path / f"f.####.{extension}"
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "frames": "4-6", "nodes": {
        "plate": {"type": "org.segfuse.Read", "params": {"path": str(source)}},
        "write": {"type": "org.segfuse.Write", "params": {"path": str(frames)}, "inputs": {"Source": "plate"}}}}))
    segfuse("render", str(graph), "-q")
    for t, label in ((4, "01:00:10:09"), (5, "01:00:10:10"), (6, "01:00:10:11")):
        assert read_timing(str(frames).replace("####", f"{t:04d}")) == (label, 25.0)
    graph.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "nodes": {
        "plate": {"type": "org.segfuse.Read", "params": {"path": str(frames)}},
        "write": {"type": "org.segfuse.Write", "params": {"path": "back.mov"}, "inputs": {"Source": "plate"}}}}))
    segfuse("render", str(graph), "-q")
    assert _timecode(tmp_path / "back.mov") == "01:00:10:09"


def test_frames_without_a_recorded_rate_get_no_timecode_made_up(tmp_path):
    from segfuse.io.images import read_timing, write_pixels

    write_pixels(tmp_path / "plain.exr", np.zeros((4, 4, 3), np.float32))
    write_pixels(tmp_path / "plain.png", np.zeros((4, 4, 3), np.float32))
    assert read_timing(tmp_path / "plain.exr") == ("", None) == read_timing(tmp_path / "plain.png")


def test_an_anamorphic_movie_keeps_its_pixel_aspect_through_the_graph(tmp_path):
    """A 1440×1080 HDV-style movie shows 16:9 because its pixels are 4/3 wide: written with square
    pixels it would play squeezed. The sample aspect ratio passes through the graph like the rate."""
    from fractions import Fraction

    def anamorphic(stream) -> None:
        stream.codec_context.sample_aspect_ratio = Fraction(4, 3)

    source = encode_movie(tmp_path / "hdv.mp4", [np.full((48, 64, 3), 20 * t, np.uint8) for t in range(6)],
                          anamorphic)
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "nodes": {
        "plate": {"type": "org.segfuse.Read", "params": {"path": str(source)}},
        "median": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "plate"}},
        "write": {"type": "org.segfuse.Write", "params": {"path": "out.mov"}, "inputs": {"Source": "median"}}}}))
    segfuse("render", str(graph), "-q")
    with av.open(str(tmp_path / "out.mov")) as written:
        stream = written.streams.video[0]
        assert stream.sample_aspect_ratio == Fraction(4, 3) and stream.display_aspect_ratio == Fraction(16, 9)
    for extension in ("exr", "dpx"):  # movie → frames → movie: each frame's header records it
        graph.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "nodes": {
            "plate": {"type": "org.segfuse.Read", "params": {"path": str(source)}},
            "write": {"type": "org.segfuse.Write", "params": {"path": f"f.####.{extension}"},
                      "inputs": {"Source": "plate"}}}}))
        segfuse("render", str(graph), "-q")
        graph.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "nodes": {
            "plate": {"type": "org.segfuse.Read", "params": {"path": f"f.####.{extension}"}},
            "write": {"type": "org.segfuse.Write", "params": {"path": f"back_{extension}.mov"},
                      "inputs": {"Source": "plate"}}}}))
        segfuse("render", str(graph), "-q")
        with av.open(str(tmp_path / f"back_{extension}.mov")) as written:
            assert written.streams.video[0].sample_aspect_ratio == Fraction(4, 3), extension
    square = encode_movie(tmp_path / "square.mp4", [np.zeros((48, 64, 3), np.uint8)] * 3)
    graph.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "nodes": {
        "plate": {"type": "org.segfuse.Read", "params": {"path": str(square)}},
        "write": {"type": "org.segfuse.Write", "params": {"path": "sq.mp4"}, "inputs": {"Source": "plate"}}}}))
    segfuse("render", str(graph), "-q")
    with av.open(str(tmp_path / "sq.mp4")) as written:
        assert written.streams.video[0].sample_aspect_ratio in (None, Fraction(0, 1), Fraction(1, 1))
