"""A phone's portrait video (landscape pictures tagged to be turned) is read and written as it plays."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from segfuse.io.movie import MovieReader
from segfuse.io.mp4_header import quarter_turns

from .movies import encode_movie
from .test_cli import segfuse


def upright() -> np.ndarray:
    """A 64×96 picture that shows which way is up: a white block at its top-left corner."""
    image = np.full((64, 96, 3), 40, np.uint8)
    image[:16, :24] = 255
    return image


def turned_movie(path: Path, degrees: int, frames: int = 3, **options: str) -> Path:
    """``upright()`` stored turned, tagged with a display rotation of ``degrees`` (counter-clockwise)
    that turns it back, as a phone writes a portrait video."""
    stored = np.rot90(upright(), -round(degrees / 90))
    return encode_movie(path, [stored] * frames, lambda stream: stream.set_display_rotation(degrees), **options)


@pytest.mark.parametrize(("degrees", "name", "options"), [
    (-90, "phone.mp4", {}), (90, "phone.mov", {}), (180, "upside.mp4", {"movflags": "+faststart"}),
    (0, "flat.mp4", {})])
def test_the_header_says_what_ffmpeg_says_and_the_reader_shows_it_upright(tmp_path, degrees, name, options):
    path = turned_movie(tmp_path / name, degrees, **options)
    with av.open(str(path)) as container:
        decoded = next(container.decode(video=0)).rotation  # FFmpeg's own reading, from a decoded frame
    assert quarter_turns(path) == round(decoded / 90) % 4 == round(degrees / 90) % 4
    reader = MovieReader(path)
    assert (reader.width, reader.height) == (96, 64)
    codes = reader.read_codes(2)
    assert codes.shape == (64, 96, 3)
    assert codes[:16, :24].min() > 240 and codes[16:, 24:].max() < 60  # the block is top-left: upright
    assert reader.read_codes_and_yuv(1)[1] is None or degrees == 0  # turned: written from its codes


def test_a_turned_movie_is_written_upright(tmp_path):
    source = turned_movie(tmp_path / "phone.mp4", -90, frames=4)
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "nodes": {
        "plate": {"type": "org.segfuse.Read", "params": {"path": str(source)}},
        "write": {"type": "org.segfuse.Write", "params": {"path": "out.mp4"}, "inputs": {"Source": "plate"}}}}))
    segfuse("render", str(graph), "-q")
    written = MovieReader(tmp_path / "out.mp4")
    assert written.turns == 0 and (written.width, written.height) == (96, 64)
    assert np.abs(written.read_codes(3).astype(int) - upright()).mean() < 2


def test_a_damaged_or_foreign_header_reads_as_not_turned(tmp_path):
    good = turned_movie(tmp_path / "phone.mp4", -90).read_bytes()
    for name, data in [("cut.mp4", good[:len(good) // 3]), ("noise.mp4", np.random.default_rng(1).bytes(5000)),
                       ("empty.mov", b""), ("huge_box.mp4", b"\x00\x00\x00\x01moov" + b"\xff" * 8 + good[:64])]:
        (tmp_path / name).write_bytes(data)
        assert quarter_turns(tmp_path / name) == 0
    (tmp_path / "clip.mkv").write_bytes(good)  # other containers: not read
    assert quarter_turns(tmp_path / "clip.mkv") == 0


def test_the_header_counts_sound_tracks_as_ffmpeg_does(tmp_path):
    from segfuse.io.mp4_header import sound_tracks

    silent = turned_movie(tmp_path / "silent.mp4", 0)
    with av.open(str(tmp_path / "two.mov"), "w") as out:  # pictures and two sound tracks
        pictures = out.add_stream("libx264", rate=25)
        pictures.width, pictures.height, pictures.pix_fmt = 96, 64, "yuv420p"
        voices = [out.add_stream("aac", rate=48000) for _ in range(2)]
        for voice in voices:
            voice.layout = "mono"
        frame = av.VideoFrame.from_ndarray(upright(), format="rgb24")
        frame.pts = 0
        for packet in pictures.encode(frame):
            out.mux(packet)
        for voice in voices:
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            sound.sample_rate, sound.pts = 48000, 0
            for packet in [*voice.encode(sound), *voice.encode()]:
                out.mux(packet)
        for packet in pictures.encode():
            out.mux(packet)
    for path in (silent, tmp_path / "two.mov"):
        with av.open(str(path)) as container:
            assert sound_tracks(path) == len(container.streams.audio)
    assert sound_tracks(tmp_path / "two.mov") == 2
    (tmp_path / "noise.mp4").write_bytes(b"\x00" * 64)
    (tmp_path / "voice.wav").write_bytes(b"RIFF")
    assert sound_tracks(tmp_path / "noise.mp4") is None and sound_tracks(tmp_path / "voice.wav") is None
