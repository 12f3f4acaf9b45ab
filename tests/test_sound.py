"""A talking head's sound leaves with its pictures: copied as it came, in sync, cut to the frames written."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from segfuse.io.movie import MovieReader, MovieWriter
from segfuse.io.sound import SoundSpec

from .sample_portrait import write_shrunk_sample
from .test_cli import assert_one_line_error, segfuse

FPS = 25
RATE = 48_000
FRAMES = 12
PER_FRAME = RATE // FPS  # 1920 samples a frame


def _chirp(seconds: float, channels: int) -> np.ndarray:
    """A tone sweeping 300 Hz → 6 kHz: each moment differs, so a shift shows in a correlation, and AAC
    codes it faithfully (white noise it would replace by the decoder's own noise)."""
    t = np.arange(round(seconds * RATE)) / RATE
    wave = 0.3 * np.sin(2 * np.pi * (300 * t + (6000 - 300) * t * t / (2 * seconds)))
    return np.repeat(wave[None], channels, axis=0).astype(np.float32)


def _mux_aac(video_only: Path, output: Path) -> None:
    """``video_only``'s pictures (copied) with the chirp as mono AAC beside them."""
    source = av.open(str(video_only))
    target = av.open(str(output), "w")
    pictures = target.add_stream_from_template(source.streams.video[0])
    sound = target.add_stream("aac", rate=RATE)
    sound.layout = "mono"
    for packet in source.demux(source.streams.video[0]):
        if packet.dts is not None:
            packet.stream = pictures
            target.mux(packet)
    wave = _chirp(FRAMES / FPS, 1)
    for start in range(0, wave.shape[1], 1024):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, start:start + 1024]), format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts = RATE, start
        for packet in sound.encode(frame):
            target.mux(packet)
    for packet in sound.encode():
        target.mux(packet)
    target.close()
    source.close()


def _write_wav(path: Path, samples: np.ndarray) -> None:
    target = av.open(str(path), "w")
    stream = target.add_stream("pcm_s16le", rate=RATE)
    stream.layout = "stereo"
    codes = np.round(samples.T * 32767).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(codes, format="s16", layout="stereo")
    frame.sample_rate, frame.pts = RATE, 0
    for packet in stream.encode(frame):
        target.mux(packet)
    for packet in stream.encode():
        target.mux(packet)
    target.close()


@pytest.fixture(scope="module")
def talk(tmp_path_factory) -> dict[str, Path]:
    """A 96×96, 12-frame talking head (the sample shrunk) as an H.264 movie with AAC sound, the same
    chirp as a stereo 16-bit .wav, a movie without sound, and the reference."""
    folder = tmp_path_factory.mktemp("talk")
    sequence, reference = write_shrunk_sample(folder, 96, FRAMES)
    silent = folder / "silent.mp4"
    writer = MovieWriter(silent, 96, 96, FPS)
    for t in range(FRAMES):
        writer.write(cv2.cvtColor(cv2.imread(str(sequence).replace("####", f"{t:04d}")), cv2.COLOR_BGR2RGB))
    writer.close()
    _mux_aac(silent, folder / "talk.mp4")
    _write_wav(folder / "talk.wav", _chirp(FRAMES / FPS, 2))
    return {"movie": folder / "talk.mp4", "wav": folder / "talk.wav", "silent": silent, "ref": reference}


def _packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def _samples(path: Path) -> np.ndarray:
    """The first audio stream decoded, its first channel as float32 (FFmpeg's edit lists applied)."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray() for f in container.decode(container.streams.audio[0])]
    data = np.concatenate([f if f.shape[0] > 1 or f.dtype != np.int16 else f.reshape(-1, 2).T for f in frames],
                          axis=1)
    first = data[0].astype(np.float32)
    return first / 32768 if data.dtype == np.int16 else first


def _fix(talk, output: Path, *extra: str):
    return segfuse("fix", "--generated", str(talk["movie"]), "--reference", str(talk["ref"]), "-o", str(output),
                   "-q", *extra)


def test_fix_carries_the_clips_sound_packet_for_packet_and_none_drops_it(talk, tmp_path):
    _fix(talk, tmp_path / "fixed.mp4")
    assert _packets(tmp_path / "fixed.mp4") == _packets(talk["movie"])  # copied, not re-encoded
    assert len(MovieReader(tmp_path / "fixed.mp4")) == FRAMES

    _fix(talk, tmp_path / "mute.mp4", "--audio", "none")
    with av.open(str(tmp_path / "mute.mp4")) as container:
        assert not container.streams.audio
        assert container.streams.video[0].frames == FRAMES


@pytest.mark.parametrize(("container", "late"), [("mkv", 0), ("avi", 1024)])
def test_matroska_and_avi_carry_the_sound_too(talk, tmp_path, container, late):
    """Neither has MP4's edit list: Matroska starts the pictures after the codec's priming samples,
    in sync; AVI cannot, so its sound plays one AAC frame (1024 samples, 21 ms) late, as FFmpeg's own
    stream copy does."""
    out = tmp_path / f"fixed.{container}"
    _fix(talk, out, "--frames", "0-3")
    with av.open(str(out)) as written:
        assert [s.type for s in written.streams] == ["video", "audio"]
        pictures_start = round(float(written.streams.video[0].start_time * written.streams.video[0].time_base)
                               * RATE)
    decoded, source = _samples(out), _samples(talk["movie"])
    match = np.correlate(decoded[:6000], source[1024:3072], mode="valid")
    priming = int(np.argmax(match)) - 1024  # where the clip's first sample lies in the file's sound
    assert abs(priming - pictures_start - late) <= 16  # Matroska's millisecond clock: 16 samples


def test_a_frame_range_keeps_the_sound_in_sync(talk, tmp_path):
    _fix(talk, tmp_path / "part.mp4", "--frames", "4-9")
    whole, part = _samples(talk["movie"]), _samples(tmp_path / "part.mp4")
    assert len(MovieReader(tmp_path / "part.mp4")) == 6
    # it ends with the pictures, to within one AAC packet
    assert 6 * PER_FRAME <= len(part) <= 6 * PER_FRAME + 1024
    # output time 0 is the clip's frame 4: past the codec's first packet the samples are the clip's own
    start = 4 * PER_FRAME
    np.testing.assert_allclose(part[1024:6 * PER_FRAME], whole[start + 1024:start + 6 * PER_FRAME], atol=1e-4)


def test_pcm_goes_into_a_mov_sample_exact_and_into_an_mp4_as_aac(talk, tmp_path):
    for name in ("cut.mov", "cut.mp4"):
        graph = tmp_path / f"{name}.json"
        graph.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "frames": "3-8", "nodes": {
            "plate": {"type": "org.segfuse.Read", "params": {"path": str(talk["movie"])}},
            "write": {"type": "org.segfuse.Write", "params": {"path": name, "audio": str(talk["wav"])},
                      "inputs": {"Source": "plate"}}}}))
        segfuse("render", str(graph), "-q")
    wav = _samples(talk["wav"])
    with av.open(str(tmp_path / "cut.mov")) as container:
        assert container.streams.audio[0].codec_context.name == "pcm_s16le"
    np.testing.assert_array_equal(_samples(tmp_path / "cut.mov"), wav[3 * PER_FRAME:9 * PER_FRAME])
    with av.open(str(tmp_path / "cut.mp4")) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
    aac = _samples(tmp_path / "cut.mp4")
    assert 6 * PER_FRAME <= len(aac) <= 6 * PER_FRAME + 2048
    match = np.correlate(wav[3 * PER_FRAME:9 * PER_FRAME], aac[2048:6144], mode="valid")
    assert int(np.argmax(match)) == 2048  # re-encoded in sync, to the sample


def test_a_writer_never_lags_its_sound_behind_a_later_first_frame(talk, tmp_path):
    """MovieWriter on its own: frames from the clip's frame 5 on carry the sound from that moment."""
    writer = MovieWriter(tmp_path / "w.mov", 96, 96, FPS, sound=SoundSpec(talk["wav"], 5, 4))
    for _ in range(4):
        writer.write(np.zeros((96, 96, 3), np.uint8))
    writer.close()
    np.testing.assert_array_equal(_samples(tmp_path / "w.mov"), _samples(talk["wav"])[5 * PER_FRAME:9 * PER_FRAME])


def test_sound_mistakes_are_one_line_and_write_nothing(talk, tmp_path):
    out = tmp_path / "out" / "f.mp4"
    base = ["fix", "--generated", str(talk["movie"]), "--reference", str(talk["ref"]), "-q"]
    result = segfuse(*base, "-o", str(out), "--audio", str(tmp_path / "missing.wav"), check=False)
    assert_one_line_error(result, r"missing\.wav: sound source not found", 2)
    result = segfuse(*base, "-o", str(out), "--audio", str(talk["silent"]), check=False)
    assert_one_line_error(result, r"silent\.mp4: has no sound to carry", 2)
    result = segfuse(*base, "-o", str(tmp_path / "out" / "f.####.png"), "--audio", str(talk["wav"]), check=False)
    assert_one_line_error(result, r"--audio: applies to movie outputs", 2)
    result = segfuse(*base, "-o", str(tmp_path / "out" / "f.webm"), check=False)
    assert_one_line_error(result, r"f\.webm: a \.webm movie cannot hold H\.264; write \.mp4, .* or \.avi", 2)
    assert not (tmp_path / "out").exists()

    graph = tmp_path / "g.json"  # the sound file is one of the job's inputs: never written over
    graph.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "nodes": {
        "plate": {"type": "org.segfuse.Read", "params": {"path": str(talk["movie"])}},
        "write": {"type": "org.segfuse.Write", "params": {"path": str(tmp_path / "s.mp4"),
                                                          "audio": str(tmp_path / "s.mp4")},
                  "inputs": {"Source": "plate"}}}}))
    (tmp_path / "s.mp4").write_bytes(talk["movie"].read_bytes())
    result = segfuse("render", str(graph), "-q", check=False)
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (tmp_path / "s.mp4").read_bytes() == talk["movie"].read_bytes()


def test_fix_and_drive_take_the_sound_of_the_clip_they_start_from(talk, tmp_path):
    from segfuse.paper_graph import FixOptions, paper_graph

    def sound(**options) -> str | None:
        doc = paper_graph(FixOptions(**{"generated": "", "reference": "", **options}), base_dir=tmp_path)
        return doc.nodes["write"].params.get("audio")

    movie = str(talk["movie"])
    assert sound(generated=movie, reference=str(talk["ref"]), output="o.mp4") == movie
    assert sound(source=str(talk["ref"]), driving=movie, output="o.mp4") == movie  # segfuse drive
    assert sound(source=str(talk["ref"]), coeffs="c.npy", output="o.mp4") is None  # coefficients: no sound
    assert sound(generated=str(talk["silent"]), reference=str(talk["ref"]), output="o.mp4") is None
    assert sound(generated=movie, reference=str(talk["ref"]), output="o.####.png") is None
    assert sound(generated=movie, reference=str(talk["ref"]), output="o.mp4", audio="none") is None
    assert sound(generated=movie, reference=str(talk["ref"]), output="o.mp4", audio=str(talk["wav"])) == \
        str(talk["wav"])


def test_a_movie_written_at_another_rate_than_its_sounds_pictures_is_refused_in_one_line(talk, tmp_path):
    """Write's fps retimes the pictures, not the sound: at 30 fps the 25 fps clip's speech would run
    ahead of the lips. A .wav has no pictures: it follows the movie's rate."""
    graph = tmp_path / "g.json"

    def render(fps: float, audio: Path, output: Path):
        graph.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "nodes": {
            "plate": {"type": "org.segfuse.Read", "params": {"path": str(talk["movie"])}},
            "write": {"type": "org.segfuse.Write", "params": {"path": str(output), "fps": fps, "audio": str(audio)},
                      "inputs": {"Source": "plate"}}}}))
        return segfuse("render", str(graph), "-q", check=False)

    result = render(30.0, talk["movie"], tmp_path / "out" / "fast.mp4")
    assert_one_line_error(result, r"talk\.mp4: its pictures run at 25\.000 fps and the movie is written at "
                                  r"30\.000 fps: its sound would drift out of sync", 1)
    assert not list((tmp_path / "out").glob("*")), "no movie, no temporary left behind"
    assert render(25.0, talk["movie"], tmp_path / "same.mp4").returncode == 0
    assert render(30.0, talk["wav"], tmp_path / "wav.mp4").returncode == 0
    assert MovieReader(tmp_path / "wav.mp4").fps == pytest.approx(30.0)
