"""Pixels the repair does not change leave bit for bit as they came in (no colour round trip).

The shots are paste-backs made from the built-in sample (its frames and reference portrait,
shrunk and placed into a small generated plate): outside the pasted crop every frame equals the
reference, so nothing there may change.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from segfuse import color
from segfuse.errors import InputError
from segfuse.image import Encoded, Image, alpha_image, same_pixels
from segfuse.io.frames import FrameRange, frame_path
from segfuse.io.images import read_codes, write_codes
from segfuse.io.movie import MovieReader, MovieWriter
from segfuse.nodes.read import Read
from segfuse.nodes.reference_fuse import ReferenceFuse
from segfuse.nodes.write import Write
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.research.sample import GENERATED, REFERENCE
from segfuse.runtime import ClipFrames, bind, render_graph
from segfuse.runtime.params import ParamValues

W, H, CROP, X, Y = 128, 72, 48, 64, 12  # plate size, crop size and where the crop goes


def params(node_cls, **values) -> ParamValues:
    return ParamValues({**{p.name: p.default for p in node_cls.descriptor.params}, **values})


def plate16(rng: np.random.Generator) -> np.ndarray:
    """A smooth 16-bit background whose low bits are noise (a colour round trip would lose them)."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    base = np.stack([0.3 + 0.4 * x / W, 0.35 + 0.3 * y / H, 0.6 - 0.2 * x / W], axis=-1)
    return np.clip(base * 65535 + rng.integers(-300, 300, (H, W, 3)), 0, 65535).astype(np.uint16)


def to16(rgb8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    small = cv2.resize(rgb8, (CROP, CROP), interpolation=cv2.INTER_AREA).astype(np.int64) * 257
    return np.clip(small + rng.integers(-100, 100, small.shape), 0, 65535).astype(np.uint16)


def paste_back_sequence(folder: Path, frames: int) -> tuple[str, str]:
    """16-bit PNG paste-back shot: (generated pattern, reference path)."""
    rng = np.random.default_rng(7)
    background = plate16(rng)
    reference = background.copy()
    portrait = cv2.cvtColor(cv2.imread(str(REFERENCE), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    reference[Y:Y + CROP, X:X + CROP] = to16(portrait, rng)
    write_codes(folder / "reference.png", reference)
    with av.open(str(GENERATED)) as container:
        for t, frame in zip(range(frames), container.decode(video=0), strict=False):
            shot = background.copy()
            shot[Y:Y + CROP, X:X + CROP] = to16(frame.to_ndarray(format="rgb24"), rng)
            write_codes(frame_path(folder / "generated.%04d.png", t), shot)
    return str(folder / "generated.%04d.png"), str(folder / "reference.png")


def test_png_sequence_round_trip_is_bit_exact_outside_the_repaired_crop(tmp_path):
    generated, reference = paste_back_sequence(tmp_path, 6)
    doc = paper_graph(FixOptions(generated, reference, str(tmp_path / "out.%04d.png")))
    doc.nodes["write"].params["bit_depth"] = "16"
    render_graph(bind(doc))
    outside = np.ones((H, W), bool)
    outside[Y:Y + CROP, X:X + CROP] = False
    changed_inside = 0
    for t in range(6):
        source = read_codes(frame_path(generated, t))
        out = read_codes(tmp_path / f"out.{t:04d}.png")
        assert out.dtype == np.uint16
        assert np.array_equal(out[outside], source[outside]), f"frame {t}: pixels outside the crop changed"
        changed_inside += int((out != source).any(axis=2).sum())
    assert changed_inside > 0  # the repair did work inside the crop


def test_sixteen_bit_colour_round_trip_is_not_exact():
    """Why the test above can fail: converting 16-bit codes to the working space and back loses bits."""
    codes = plate16(np.random.default_rng(1))
    working = color.decode(codes, "srgb", color.working_space())
    back = np.clip(color.convert(working, color.working_space(), "srgb") * 65535 + 0.5, 0, 65535)
    assert not np.array_equal(back.astype(np.uint16), codes)


@pytest.fixture
def small_movie(tmp_path) -> Path:
    rng = np.random.default_rng(3)
    writer = MovieWriter(tmp_path / "in.mp4", 64, 48, crf=20, preset="ultrafast")
    for _ in range(2):
        writer.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.close()
    return tmp_path / "in.mp4"


def untagged_movie(path: Path, frames: list[np.ndarray]) -> None:
    """An H.264 movie with no colour tags, as many tools write them (decoded as BT.601)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.options = {"crf": "20", "preset": "ultrafast"}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def decoded_planes(path: Path) -> tuple[list[list[np.ndarray]], int]:
    """Each frame's Y, U, V planes as stored, and the stream's colourspace tag."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [[np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width].copy() for p in f.planes]
                  for f in container.decode(stream)]
        return frames, int(stream.codec_context.colorspace)


def assert_planes_kept_outside(before: list[list[np.ndarray]], after: list[list[np.ndarray]], roi) -> None:
    """Each frame's Y, U, V planes: equal outside the (even) ``roi``, changed inside it (repaired)."""
    for t, (planes_in, planes_out) in enumerate(zip(before, after, strict=True)):
        for k, (a, b) in enumerate(zip(planes_in, planes_out, strict=True)):
            scale = 1 if k == 0 else 2
            inside = np.zeros(a.shape, bool)
            inside[roi[1] // scale:roi[3] // scale, roi[0] // scale:roi[2] // scale] = True
            assert np.array_equal(a[~inside], b[~inside]), (t, k)
            assert not np.array_equal(a[inside], b[inside]), (t, k)


@pytest.mark.parametrize("tagged", [True, False], ids=["bt709", "untagged"])
def test_movie_planes_outside_the_repair_reach_the_file_unchanged(tmp_path, tagged):
    """A movie repaired inside the mattes' ROI: outside it the written movie holds the decoded 4:2:0
    planes bit for bit (a lossless encode, crf 0, shows them), with no RGB round trip (which changes
    them); an untagged movie, decoded as BT.601, stays BT.601 inside and out."""
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2)]
    source = tmp_path / "in.mp4"
    if tagged:
        writer = MovieWriter(source, 64, 48, crf=20, preset="ultrafast")
        for rgb in frames:
            writer.write(rgb)
        writer.close()
    else:
        untagged_movie(source, frames)
    read, fuse, write = Read(), ReferenceFuse(), Write()
    read_p = params(Read, path=str(source))
    roi = (16, 8, 40, 30)  # even: the repair's rectangle is the ROI itself
    reference = Image(np.full((48, 64, 3), 0.25, np.float32), color.working_space())
    background = alpha_image(np.zeros((48, 64), np.float32))  # all background: the blend wants everything
    output = tmp_path / "o.mp4"
    sink = write.open_sink(read.output_spec({}, read_p), FrameRange(0, 1), params(Write, path=str(output), crf=0))
    for t in range(2):
        frame = read.render(t, {}, read_p)
        inputs = {"Generated": ClipFrames("Generated", None, t, {t: frame}),
                  "Reference": ClipFrames("Reference", None, t, {t: reference}),
                  "GeneratedMatte": ClipFrames("GeneratedMatte", None, t, {t: background.with_roi(roi)}),
                  "ReferenceMatte": ClipFrames("ReferenceMatte", None, t, {t: background})}
        fused = fuse.render(t, inputs, params(ReferenceFuse))
        assert fused.patch_box == roi and not fused.is_converted and not frame.is_converted
        sink.write(t, fused)
    sink.close()
    (before, tag_in), (after, tag_out) = decoded_planes(source), decoded_planes(output)
    assert tag_in == (1 if tagged else 2) and tag_out == (1 if tagged else 5)
    assert_planes_kept_outside(before, after, roi)
    repaired = MovieReader(output).read_codes(1)[roi[1]:roi[3], roi[0]:roi[2]].astype(int)
    assert np.abs(repaired - 137).max() <= 2  # the reference (linear 0.25: sRGB code 137) blended in, as read back


def ten_bit_movie(path: Path, frames: list[np.ndarray]) -> None:
    """A 10-bit 4:2:0 H.264 movie (High 10, BT.709), as a camera or a mastering transcode writes one."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p10le"
        stream.codec_context.colorspace = av.video.reformatter.Colorspace.ITU709
        stream.options = {"crf": "20", "preset": "ultrafast"}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le").reformat(
                format="yuv420p10le", dst_colorspace=av.video.reformatter.Colorspace.ITU709)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_a_10_bit_movie_stays_10_bit_and_its_planes_outside_the_repair_reach_the_encoder_unchanged(
        tmp_path, monkeypatch):
    """A 10-bit source written as 8-bit H.264 would lose two bits of every pixel, the ones nothing
    touched too. At the default depth the movie is 10-bit (High 10) and the decoded planes outside
    the repaired rectangle are what x264 gets (the frames handed to it are checked: a 10-bit encode
    at crf 0 is not lossless); `bit_depth` 8 writes 8-bit for players that take no other."""
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 65536, (48, 64, 3), dtype=np.uint16) for _ in range(2)]
    source = tmp_path / "in10.mp4"
    ten_bit_movie(source, frames)
    handed = []
    original = MovieWriter._frame

    def recorded(self, *item):
        frame = original(self, *item)
        handed.append([np.frombuffer(p, np.uint16).reshape(p.height, p.line_size // 2)[:, :p.width].copy()
                       for p in frame.planes])
        return frame

    monkeypatch.setattr(MovieWriter, "_frame", recorded)
    read, fuse, write = Read(), ReferenceFuse(), Write()
    read_p = params(Read, path=str(source))
    roi = (16, 8, 40, 30)
    reference = Image(np.full((48, 64, 3), 0.25, np.float32), color.working_space())
    background = alpha_image(np.zeros((48, 64), np.float32))

    def render(output: Path, **write_params) -> None:
        sink = write.open_sink(read.output_spec({}, read_p), FrameRange(0, 1), params(Write, path=str(output),
                                                                                      **write_params))
        for t in range(2):
            inputs = {"Generated": ClipFrames("Generated", None, t, {t: read.render(t, {}, read_p)}),
                      "Reference": ClipFrames("Reference", None, t, {t: reference}),
                      "GeneratedMatte": ClipFrames("GeneratedMatte", None, t, {t: background.with_roi(roi)}),
                      "ReferenceMatte": ClipFrames("ReferenceMatte", None, t, {t: background})}
            sink.write(t, fuse.render(t, inputs, params(ReferenceFuse)))
        sink.close()

    render(tmp_path / "o10.mp4", crf=0)  # near lossless at 10 bits: the flat repair reads back as written
    with av.open(str(source)) as container:
        before = [[np.frombuffer(p, np.uint16).reshape(p.height, p.line_size // 2)[:, :p.width].copy()
                   for p in f.planes] for f in container.decode(video=0)]
    with av.open(str(tmp_path / "o10.mp4")) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
    assert_planes_kept_outside(before, handed, roi)
    inner = (slice(roi[1] + 4, roi[3] - 4), slice(roi[0] + 4, roi[2] - 4))  # away from the noise's blocks
    back = MovieReader(tmp_path / "o10.mp4").read_codes(1)
    assert back.dtype == np.uint16
    assert np.abs(back[inner] / 257 - 137).max() <= 2  # the reference (sRGB code 137 at 8 bits), read back

    render(tmp_path / "o8.mp4", bit_depth="8", crf=0)
    with av.open(str(tmp_path / "o8.mp4")) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert np.abs(MovieReader(tmp_path / "o8.mp4").read_codes(1)[inner].astype(int) - 137).max() <= 2
    with pytest.raises(InputError, match=r"o16\.mp4: H\.264 is written at 8 or 10 bits .* not '16'"):
        write.open_sink(read.output_spec({}, read_p), FrameRange(0, 1), params(Write, path=str(tmp_path / "o16.mp4"),
                                                                               bit_depth="16"))


def test_16_bit_srgb_code_values_reach_the_mattes_as_8_bit_without_a_float_trip():
    """A 10-bit movie's (or a 16-bit PNG's) sRGB codes: what GrabCut and the flow see is each code
    rounded to 8 bits, as the full conversion gives it, at the cost of one rescale."""
    codes = np.random.default_rng(9).integers(0, 65536, (30, 40, 3), dtype=np.uint16)
    image = Image(encoded=Encoded(codes, color.srgb_space()), colorspace=color.working_space())
    fast = image.srgb_uint8()
    assert np.array_equal(fast, np.floor(codes / 257 + 0.5).astype(np.uint8))
    assert np.abs(fast.astype(int) - color.to_srgb_uint8(image.rgb, image.colorspace).astype(int)).max() <= 1
    assert np.array_equal(image.srgb_uint8((4, 6, 20, 18)), fast[6:18, 4:20])


def test_roi_zeroes_the_fusion_mask_outside_it():
    size = (40, 30)
    frame = Image(np.random.default_rng(0).random((30, 40, 3), np.float32), color.working_space())
    matte = alpha_image(np.zeros((30, 40), np.float32))
    inputs = {"Generated": ClipFrames("Generated", None, 0, {0: frame}),
              "Reference": ClipFrames("Reference", None, 0, {0: frame.with_pixels(np.zeros((30, 40, 3)))}),
              "GeneratedMatte": ClipFrames("GeneratedMatte", None, 0, {0: matte.with_roi((5, 6, 25, 20))}),
              "ReferenceMatte": ClipFrames("ReferenceMatte", None, 0, {0: matte.with_roi((10, 0, 40, 30))})}
    mask = ReferenceFuse().render(0, inputs, params(ReferenceFuse, output="mask")).alpha
    assert mask.shape == size[::-1]
    assert mask[6:20, 10:25].min() > 0.99  # the two ROIs' intersection
    outside = np.ones(mask.shape, bool)
    outside[6:20, 10:25] = False
    assert mask[outside].max() == 0


def test_image_region_and_patch_match_whole_frame_conversion():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 256, (30, 40, 4), dtype=np.uint8)
    image = Image(encoded=Encoded(codes, color.srgb_space()), colorspace=color.working_space())
    box = (7, 3, 29, 21)
    part = image.region(box)
    assert not image.is_converted
    assert np.array_equal(part, image.pixels[3:21, 7:29])
    expected = color.convert(codes.astype(np.float32) * np.float32(1 / 255), color.srgb_space(), color.working_space())
    assert np.array_equal(image.pixels, expected)  # the lookup table equals OCIO's processor exactly
    patched = image.with_patch((10, 10, 20, 15), np.full((5, 10, 4), 0.5, np.float32))
    patched = patched.with_patch((2, 2, 6, 6), np.zeros((4, 4, 4), np.float32))  # merged into one patch
    assert patched.patch_box == (2, 2, 20, 15)
    out = patched.codes_in(color.srgb_space(), np.uint8)
    changed = np.zeros((30, 40), bool)
    changed[10:15, 10:20] = changed[2:6, 2:6] = True
    assert np.array_equal(out[~changed], codes[~changed])
    assert (out[2:6, 2:6, :3] == 0).all() and (out[10:15, 10:20, 3] == 128).all()
    assert np.array_equal(patched.pixels[10:15, 10:20], np.full((5, 10, 4), 0.5, np.float32))
    assert patched.codes_in(color.working_space(), np.uint8) is None  # another encoding: convert it all
    assert patched.codes_in(color.srgb_space(), np.uint16) is None


def test_srgb_uint8_hands_out_the_codes_without_converting(monkeypatch):
    codes = np.random.default_rng(4).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    image = Image(encoded=Encoded(codes, color.srgb_space()), colorspace=color.working_space())
    monkeypatch.setattr(color, "convert", lambda *a: pytest.fail("converted"))
    assert np.array_equal(image.srgb_uint8((2, 3, 10, 9)), codes[3:9, 2:10])


def test_same_pixels_compares_codes_and_knows_patches():
    codes = np.random.default_rng(5).integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    other = codes.copy()
    other[4, 5, 2] += 1
    a = Image(encoded=Encoded(codes, "srgb"), colorspace=color.working_space())
    b = Image(encoded=Encoded(other, "srgb"), colorspace=color.working_space())
    same = same_pixels(a, b, (0, 0, 12, 10))
    assert not same[4, 5] and same.sum() == 119
    patched = a.with_patch((0, 0, 2, 2), np.zeros((2, 2, 3), np.float32))
    assert same_pixels(patched, a, (0, 0, 12, 10))[:2, :2].sum() == 0
    assert same_pixels(a, Image(np.zeros((10, 12, 3), np.float32), color.working_space()), (0, 0, 12, 10)) is None


def test_encoder_errors_surface_and_leave_no_file(tmp_path, monkeypatch):
    import segfuse.io.movie as movie

    class Broken:
        @staticmethod
        def from_ndarray(array, format):  # noqa: A002 - PyAV's keyword
            raise ValueError("no such pixel format")

    writer = MovieWriter(tmp_path / "bad.mp4", 64, 48, preset="ultrafast")
    monkeypatch.setattr(movie, "VideoFrame", Broken)
    writer.write(np.zeros((48, 64, 3), np.uint8))  # queued: the encoder thread fails on it
    with pytest.raises(InputError, match="encoding failed: no such pixel format"):
        writer.close()
    writer.abort()
    assert not list(tmp_path.iterdir())


def test_write_records_and_checks_its_h264_settings(tmp_path):
    from segfuse.runtime import load_graph, save_graph
    from segfuse.runtime.params import ParamError

    doc = paper_graph(FixOptions("in.mp4", "ref.png", str(tmp_path / "o.mp4"), crf=30, encoder_preset="veryfast"))
    save_graph(doc, tmp_path / "g.json")
    assert load_graph(tmp_path / "g.json").nodes["write"].params == {"path": str(tmp_path / "o.mp4"), "crf": 30,
                                                                     "preset": "veryfast"}
    with pytest.raises(ParamError, match="'fastest' is not one of ultrafast"):
        Write.descriptor.param("preset").coerce("fastest")
    with pytest.raises(InputError, match="preset 'fastest'"):
        MovieWriter(tmp_path / "x.mp4", 64, 48, preset="fastest")
    for preset, subme in (("veryfast", b"subme=2"), ("medium", b"subme=7")):
        writer = MovieWriter(tmp_path / f"{preset}.mp4", 64, 48, crf=30, preset=preset)
        writer.write(np.zeros((48, 64, 3), np.uint8))
        writer.close()
        data = (tmp_path / f"{preset}.mp4").read_bytes()
        assert b"crf=30.0" in data and subme in data  # x264 stores its settings in the stream


def test_temporal_median_carries_the_window_roi():
    from segfuse.nodes.temporal_median import TemporalMedian

    frames = {t: alpha_image(np.full((8, 10), t / 4, np.float32), roi=(t, 1, 5 + t, 6)) for t in range(3)}
    node = TemporalMedian()
    out = node.render(2, {"Source": ClipFrames("Source", None, 2, frames)}, params(TemporalMedian, window=3))
    assert out.roi == (0, 1, 7, 6)
    frames[0] = alpha_image(np.zeros((8, 10), np.float32))
    out = node.render(2, {"Source": ClipFrames("Source", None, 2, frames)}, params(TemporalMedian, window=3))
    assert out.roi is None


def test_region_param_limits_the_repair():
    frame = Image(encoded=Encoded(np.full((30, 40, 3), 200, np.uint8), "srgb"), colorspace=color.working_space())
    matte = alpha_image(np.zeros((30, 40), np.float32))
    inputs = {"Generated": ClipFrames("Generated", None, 0, {0: frame}),
              "Reference": ClipFrames("Reference", None, 0, {0: frame.with_pixels(np.zeros((30, 40, 3)))}),
              "GeneratedMatte": ClipFrames("GeneratedMatte", None, 0, {0: matte}),
              "ReferenceMatte": ClipFrames("ReferenceMatte", None, 0, {0: matte})}
    out = ReferenceFuse().render(0, inputs, params(ReferenceFuse, region=(0.25, 0.5, 0.5, 1.0)))
    assert out.patch_box == (10, 15, 20, 30)
    codes = out.codes_in(color.srgb_space(), np.uint8)
    assert (codes[15:, 10:20] == 0).all() and (codes[:15] == 200).all() and (codes[:, :10] == 200).all()


def test_frame_cache_counts_frames_that_grew_when_converted():
    from segfuse.runtime import FrameCache

    codes = np.zeros((100, 100, 3), np.uint8)  # 30 kB of codes, 120 kB more once converted
    cache = FrameCache(max_bytes=200_000)
    first = cache.get_or_compute(("read", 0), lambda: Image(encoded=Encoded(codes, "srgb"),
                                                             colorspace=color.working_space()))
    assert first.pixels.nbytes == 120_000  # a node converts it whole: 150 kB now
    cache.get_or_compute(("read", 1), lambda: Image(encoded=Encoded(codes, "srgb"), colorspace=color.working_space()))
    assert cache.nbytes == 150_000 + 30_000
    cache.get_or_compute(("read", 2), lambda: Image(encoded=Encoded(codes, "srgb"), colorspace=color.working_space()))
    assert not cache.contains(("read", 0)) and cache.nbytes == 60_000


@pytest.mark.parametrize("feather", ["centered", "outside", "inside"])
def test_mask_in_a_roi_equals_the_whole_frame_computation(feather):
    from segfuse.ops.fuse import fusion_mask

    rng = np.random.default_rng(9)
    gen_alpha = (cv2.GaussianBlur(rng.random((60, 80), np.float32), (0, 0), 3) > 0.5).astype(np.float32)
    ref_alpha = np.roll(gen_alpha, 3, axis=1)
    frame = Image(np.zeros((60, 80, 3), np.float32), color.working_space())
    inputs = {"Generated": ClipFrames("Generated", None, 0, {0: frame}),
              "Reference": ClipFrames("Reference", None, 0, {0: frame}),
              "GeneratedMatte": ClipFrames("GeneratedMatte", None, 0, {0: alpha_image(gen_alpha, roi=(2, 20, 50, 60))}),
              "ReferenceMatte": ClipFrames("ReferenceMatte", None, 0, {0: alpha_image(ref_alpha)})}
    p = params(ReferenceFuse, output="mask", protect=2, feather=feather)
    mask = ReferenceFuse().render(0, inputs, p).alpha
    whole = fusion_mask(gen_alpha, ref_alpha, 7, 0.0, 2, feather)
    assert np.array_equal(mask[20:60, 2:50], whole[20:60, 2:50]) and whole[20:60, 2:50].any()
    assert not mask[:20].any() and not mask[:, 50:].any()


def test_roi_alpha_holds_only_its_region_and_reads_like_the_whole_frame():
    from segfuse.image import roi_alpha

    values = np.random.default_rng(11).random((30, 20), np.float32)
    matte = roi_alpha(values, (50, 40, 70, 70), (200, 100))
    whole = np.ones((100, 200), np.float32)
    whole[40:70, 50:70] = values
    assert matte.size == (200, 100) and matte.roi == (50, 40, 70, 70)
    assert matte.nbytes < 3000  # the region and one constant, not 80 kB of frame
    assert np.array_equal(matte.region((45, 35, 75, 90))[:, :, 0], whole[35:90, 45:75])
    assert not matte.is_converted
    matte.check_finite("matte")
    assert np.array_equal(matte.alpha, whole)
    with pytest.raises(ValueError, match="do not fit"):
        roi_alpha(values, (0, 0, 10, 10), (200, 100))


def test_median_and_fuse_work_only_inside_the_mattes_region():
    """ROI mattes (as Track Matte and Motion Matte make them) go through the median and the blend
    without any whole-frame matte being made, and give the whole-frame computation's pixels."""
    from segfuse.image import roi_alpha
    from segfuse.nodes.temporal_median import TemporalMedian

    rng = np.random.default_rng(12)
    roi, size = (30, 10, 90, 60), (128, 72)
    codes = rng.integers(0, 256, (72, 128, 3), dtype=np.uint8)
    frame = Image(encoded=Encoded(codes, color.srgb_space()), colorspace=color.working_space())
    reference = Image(encoded=Encoded(rng.integers(0, 256, (72, 128, 3), dtype=np.uint8), color.srgb_space()),
                      colorspace=color.working_space())
    blobs = [(cv2.GaussianBlur(rng.random((50, 60), np.float32), (0, 0), 4) > 0.5).astype(np.float32)
             for _ in range(3)]
    mattes = {t: roi_alpha(b, roi, size) for t, b in enumerate(blobs)}
    reference_matte = roi_alpha(blobs[0], roi, size)
    median = TemporalMedian().render(2, {"Source": ClipFrames("Source", None, 2, mattes)},
                                     params(TemporalMedian, window=3, hold_current=True))
    fused = ReferenceFuse().render(2, {
        "Generated": ClipFrames("Generated", None, 2, {2: frame}),
        "Reference": ClipFrames("Reference", None, 2, {2: reference}),
        "GeneratedMatte": ClipFrames("GeneratedMatte", None, 2, {2: median}),
        "ReferenceMatte": ClipFrames("ReferenceMatte", None, 2, {2: reference_matte})},
        params(ReferenceFuse, protect=1))
    assert not any(m.is_converted for m in (*mattes.values(), reference_matte, median))
    assert median.roi == roi
    box = fused.patch_box
    assert box is not None and roi[0] <= box[0] and roi[1] <= box[1] and box[2] <= roi[2] and box[3] <= roi[3]
    # the same mattes made whole: the same pixels
    whole = {t: alpha_image(m.alpha, roi=roi) for t, m in mattes.items()}
    expected = ReferenceFuse().render(2, {
        "Generated": ClipFrames("Generated", None, 2, {2: frame}),
        "Reference": ClipFrames("Reference", None, 2, {2: reference}),
        "GeneratedMatte": ClipFrames("GeneratedMatte", None, 2, {2: TemporalMedian().render(
            2, {"Source": ClipFrames("Source", None, 2, whole)}, params(TemporalMedian, window=3, hold_current=True))}),
        "ReferenceMatte": ClipFrames("ReferenceMatte", None, 2, {2: alpha_image(reference_matte.alpha, roi=roi)})},
        params(ReferenceFuse, protect=1))
    assert np.array_equal(fused.codes_in(color.srgb_space(), np.uint8), expected.codes_in(color.srgb_space(), np.uint8))
    out = fused.codes_in(color.srgb_space(), np.uint8)
    outside = np.ones((72, 128), bool)
    outside[roi[1]:roi[3], roi[0]:roi[2]] = False
    assert np.array_equal(out[outside], codes[outside])


def test_tracking_with_the_reference_worked_out_once_equals_the_per_frame_computation():
    from segfuse.ops.head_track import PortraitBox, crop_to_work, roi_matte
    from segfuse.ops.motion import TrackedReference, abs_sum, track_matte, working_scale

    rng = np.random.default_rng(13)
    a, b = rng.random((40, 30, 3), np.float32), rng.random((40, 30, 3), np.float32)
    assert np.array_equal(abs_sum(a, b), np.abs(a - b).sum(axis=2))
    portrait = cv2.cvtColor(cv2.imread(str(REFERENCE), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    with av.open(str(GENERATED)) as container:
        moved = next(container.decode(video=0)).to_ndarray(format="rgb24")
    reference, frame = np.full((180, 320, 3), 120, np.uint8), np.full((180, 320, 3), 120, np.uint8)
    reference[20:148, 150:278] = cv2.resize(portrait, (128, 128), interpolation=cv2.INTER_AREA)
    frame[20:148, 150:278] = cv2.resize(moved, (128, 128), interpolation=cv2.INTER_AREA)
    box = PortraitBox(185.0, 30.0, 60.0)
    roi = box.roi(180, 320)
    matte = np.zeros((180, 320), np.float32)
    matte[35:180, 190:250] = 1.0
    tracked = TrackedReference.build(reference, matte[roi[1]:roi[3], roi[0]:roi[2]], box, 96)
    scale = working_scale(box, 96)
    small = crop_to_work(frame, roi, scale)
    inner = box.mapped(small.shape[1] / (roi[2] - roi[0]), roi[0], roi[1])
    expected = roi_matte(track_matte(small, crop_to_work(reference, roi, scale),
                                     crop_to_work(matte, roi, scale, cv2.INTER_LINEAR), "medium", 0.03, inner), roi)
    assert tracked.roi == roi and np.array_equal(tracked.track(frame, "medium", 0.03), expected)
    measured = tracked.reference.measure(frame, "medium", 0.03)  # before the matte: a render measures ahead
    assert np.array_equal(tracked.track(frame, "medium", 0.03, measured), expected)


def test_track_matte_renders_the_same_matte_from_frames_measured_ahead(tmp_path, monkeypatch):
    """What a render measures of coming frames while the reference's matte is learnt (Track Matte's
    ``prepare``) gives the matte a render measuring each frame itself gives, bit for bit."""
    from segfuse.ops.motion import TrackedPlate
    from segfuse.runtime import Evaluator

    measured = []
    measure = TrackedPlate.measure
    monkeypatch.setattr(TrackedPlate, "measure", lambda self, *a: measured.append(1) or measure(self, *a))
    generated, reference = paste_back_sequence(tmp_path, 4)
    doc = paper_graph(FixOptions(generated, reference, str(tmp_path / "out.####.png")))
    ahead, alone = Evaluator(bind(doc)), Evaluator(bind(doc))
    for t in range(4):
        ahead.prepare_ahead("generated_matte", t)
    assert ahead.prepared_count() == 4 and len(measured) == 4
    mattes = [ahead.render("generated_matte", t).pixels for t in range(4)]
    assert ahead.prepared_count() == 0 and len(measured) == 4, "every render took its frame's measure"
    for t in range(4):
        np.testing.assert_array_equal(mattes[t], alone.render("generated_matte", t).pixels)
    assert len(measured) == 8, "a render without one measures the frame itself"
