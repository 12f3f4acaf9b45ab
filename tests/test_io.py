"""Readers and writers: round trips within stated tolerances, and clear errors on bad files."""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from segfuse import color
from segfuse.errors import InputError
from segfuse.io import FrameRange, open_source
from segfuse.io.frames import describe_gaps, frame_path, scan_frames
from segfuse.io.images import read_pixels, write_pixels
from segfuse.io.movie import MovieReader, MovieWriter


def rgba_ramp(h: int = 24, w: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    alpha = np.clip(xx / (w - 1), 0.05, 1.0)
    return np.stack([yy / h, xx / w, (xx + yy) / (h + w), alpha], axis=2).astype(np.float32)


def test_exr_float_rgba_round_trip_is_exact_and_stored_premultiplied(tmp_path):
    px = rgba_ramp() * np.array([4.0, 2.0, 1.0, 1.0], np.float32)  # HDR values survive
    path = tmp_path / "a.exr"
    write_pixels(path, px, bit_depth="float")
    np.testing.assert_allclose(read_pixels(path), px, rtol=1e-6, atol=1e-7)
    raw = oiio.ImageBuf(str(path)).get_pixels(oiio.FLOAT)
    np.testing.assert_allclose(raw[:, :, :3], px[:, :, :3] * px[:, :, 3:], rtol=1e-6)


def test_exr_half_rgba_round_trip_within_half_precision(tmp_path):
    px = rgba_ramp()
    write_pixels(tmp_path / "h.exr", px)  # auto: half
    back = read_pixels(tmp_path / "h.exr")
    np.testing.assert_allclose(back, px, rtol=2e-3, atol=2e-3)
    assert oiio.ImageInput.open(str(tmp_path / "h.exr")).spec().format == oiio.HALF


@pytest.mark.parametrize("name", ["p.png", "t.tif"])
def test_16bit_png_and_tiff_rgba_round_trip_within_one_code_value(tmp_path, name):
    px = rgba_ramp()
    write_pixels(tmp_path / name, px, bit_depth="16")
    np.testing.assert_allclose(read_pixels(tmp_path / name), px, atol=1.0 / 65535 + 1e-6)


def test_png_8bit_and_jpeg_and_dpx_round_trips(tmp_path):
    rgb = rgba_ramp()[:, :, :3]
    write_pixels(tmp_path / "p8.png", rgb, bit_depth="8")
    np.testing.assert_allclose(read_pixels(tmp_path / "p8.png"), rgb, atol=0.5 / 255 + 1e-6)
    write_pixels(tmp_path / "d.dpx", rgb)  # auto: 10-bit
    # OIIO truncates to 10 bits: within one code value.
    np.testing.assert_allclose(read_pixels(tmp_path / "d.dpx"), rgb, atol=1.0 / 1023 + 1e-5)
    write_pixels(tmp_path / "j.jpg", rgba_ramp())  # alpha dropped: JPEG has none
    jpg = read_pixels(tmp_path / "j.jpg")
    assert jpg.shape == rgb.shape and np.abs(jpg - rgb).mean() < 0.02


def test_grayscale_file_reads_as_one_channel(tmp_path):
    gray = rgba_ramp()[:, :, :1]
    write_pixels(tmp_path / "g.png", gray, bit_depth="16")
    assert read_pixels(tmp_path / "g.png").shape == (24, 32, 1)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_tagged_photo_reads_upright_as_viewers_show_it(tmp_path, orientation):
    """A phone stores a photo as the sensor saw it and tags it (EXIF Orientation); read, it is turned
    as OpenImageIO's own reorient turns it, and its size is the upright one."""
    from segfuse.io.images import read_codes, read_info

    stored = np.zeros((4, 6, 3), np.uint8)
    stored[0, 0], stored[0, 1], stored[1, 0, 1] = 255, 128, 200  # no symmetry: every turn differs
    spec = oiio.ImageSpec(6, 4, 3, oiio.UINT8)
    spec.attribute("Orientation", orientation)
    out = oiio.ImageOutput.create(str(tmp_path / "photo.png"))
    out.open(str(tmp_path / "photo.png"), spec)
    out.write_image(stored)
    out.close()
    upright = oiio.ImageBufAlgo.reorient(oiio.ImageBuf(str(tmp_path / "photo.png"))).get_pixels(oiio.UINT8)
    np.testing.assert_array_equal(read_codes(tmp_path / "photo.png"), upright)
    info = read_info(tmp_path / "photo.png")
    assert (info.height, info.width) == upright.shape[:2]
    source = open_source(tmp_path / "photo.png")
    assert (source.width, source.height) == (upright.shape[1], upright.shape[0])
    np.testing.assert_array_equal(source.read_codes(0), upright)


def test_mp4_round_trip_within_h264_tolerance(tmp_path):
    rgb = rgba_ramp(48, 64)[:, :, :3]
    frames = [np.clip(rgb + 0.05 * t, 0, 1) for t in range(6)]
    writer = MovieWriter(tmp_path / "m.mp4", 64, 48, fps=24, crf=0)
    for f in frames:
        writer.write(f)
    writer.close()
    reader = MovieReader(tmp_path / "m.mp4")
    assert len(reader) == 6 and reader.fps == pytest.approx(24)
    for t in (5, 0, 3, 4):  # random order: seeks backwards too
        assert np.abs(reader.read(t) - frames[t]).mean() < 0.01


def test_ocio_srgb_linear_srgb_round_trip():
    values = np.linspace(0, 1, 4096, dtype=np.float32)
    rgb = np.stack([values, values[::-1], values], axis=1).reshape(64, 64, 3)
    linear = color.convert(rgb, "srgb", "scene_linear")
    ref = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    np.testing.assert_allclose(linear, ref, atol=1e-4)
    np.testing.assert_allclose(color.convert(linear, "scene_linear", "srgb"), rgb, atol=1e-4)


def test_alpha_is_never_colour_converted():
    px = rgba_ramp()
    out = color.convert(px, "srgb", "scene_linear")
    np.testing.assert_array_equal(out[:, :, 3], px[:, :, 3])


def test_exr_with_nan_names_the_pixel(tmp_path):
    px = rgba_ramp()[:, :, :3].copy()
    px[5, 7, 1] = np.nan
    path = tmp_path / "bad.exr"
    spec = oiio.ImageSpec(32, 24, 3, oiio.FLOAT)
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(px)
    out.close()
    with pytest.raises(InputError, match=r"bad\.exr: 1 NaN/Inf pixel value\(s\), first at x=7 y=5 channel G"):
        read_pixels(path)


def test_truncated_png_is_a_clear_error(tmp_path):
    write_pixels(tmp_path / "ok.png", rgba_ramp(200, 200), bit_depth="16")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.png"):
        read_pixels(tmp_path / "cut.png")


def test_truncated_and_garbage_movies_are_clear_errors(tmp_path):
    writer = MovieWriter(tmp_path / "m.mp4", 64, 48, crf=30)
    for t in range(30):
        writer.write(np.full((48, 64, 3), t / 30, np.float32))
    writer.close()
    data = (tmp_path / "m.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.mp4").write_bytes(b"not a movie at all" * 100)
    for name in ("cut.mp4", "junk.mp4"):
        with pytest.raises(InputError, match=name.replace(".", r"\.")):
            reader = MovieReader(tmp_path / name)
            for t in range(len(reader)):
                reader.read(t)


def test_sequence_patterns_and_gaps(tmp_path):
    for t in (1, 2, 3, 5, 6, 9):
        write_pixels(frame_path(tmp_path / "s.####.png", t), rgba_ramp()[:, :, :3], bit_depth="8")
    assert frame_path("x.%04d.exr", 12).name == "x.0012.exr"
    assert frame_path("x.#.exr", 12).name == "x.12.exr"
    assert scan_frames(tmp_path / "s.%04d.png") == [1, 2, 3, 5, 6, 9]
    assert describe_gaps([1, 2, 3, 5, 6, 9], FrameRange(1, 9)) == "4, 7-8"
    with pytest.raises(InputError, match=r"missing frames 4, 7-8 in 1-9"):
        open_source(tmp_path / "s.####.png")
    assert open_source(tmp_path / "s.####.png", FrameRange(1, 3)).frames == FrameRange(1, 3)


def test_sequence_frame_of_another_size_is_named(tmp_path):
    write_pixels(frame_path(tmp_path / "s.####.png", 1), rgba_ramp()[:, :, :3], bit_depth="8")
    write_pixels(frame_path(tmp_path / "s.####.png", 2), rgba_ramp(30, 30)[:, :, :3], bit_depth="8")
    source = open_source(tmp_path / "s.####.png")
    with pytest.raises(InputError, match=r"s\.0002\.png: is 30×30 but the sequence is 32×24"):
        source.read(2)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        open_source(tmp_path / "nope.png")


def test_an_unchanged_movie_or_still_is_opened_once_a_process_and_a_changed_one_again(tmp_path):
    """`segfuse fix` binds its graph three times (check, learn, render): one open of the clip, one
    decode of the reference. A file that changed (or changed too recently to tell) opens afresh."""
    import os
    import time

    from segfuse.io import sources

    movie, still = tmp_path / "m.mp4", tmp_path / "r.png"
    writer = MovieWriter(movie, 64, 48, crf=30)
    for t in range(4):
        writer.write(np.full((48, 64, 3), t / 4, np.float32))
    writer.close()
    write_pixels(still, rgba_ramp(48, 64)[:, :, :3])
    assert open_source(movie) is not open_source(movie), "just written: its time stamp may not tell versions apart"
    settled = time.time() - 10
    for path in (movie, still):
        os.utime(path, (settled, settled))
    first = open_source(movie)
    first.verify()
    assert open_source(movie) is first
    first.read_codes(2)
    first.verify()  # passed once: no second decode of the whole clip (which would drop the frames held)
    assert 2 in first._reader._recent
    before = open_source(still)
    assert open_source(still) is before
    old_codes = before.read_codes(0)

    flipped = np.ascontiguousarray(rgba_ramp(48, 64)[::-1, :, :3])
    write_pixels(still, flipped)  # the reference replaced by another picture of the same size
    os.utime(still, (settled + 1, settled + 1))
    after = open_source(still)
    assert after is not before
    assert np.array_equal(after.read_codes(0), sources.StillSource(still).read_codes(0))
    assert not np.array_equal(after.read_codes(0), old_codes)


def test_a_movie_read_through_to_its_last_frame_needs_no_second_decode_to_be_verified(tmp_path):
    """A shot's analysis decodes the clip on its way to the frames it reads: `segfuse fix` checks
    the inputs after it, and that check must not decode the whole clip again."""
    writer = MovieWriter(tmp_path / "m.mp4", 64, 48, crf=30)
    for t in range(12):
        writer.write(np.full((48, 64, 3), t / 12, np.float32))
    writer.close()
    partly = MovieReader(tmp_path / "m.mp4")
    partly.read_codes(5)  # frames 0-5 decoded, 6-11 not: the check decodes the clip
    partly.verify()
    assert 5 not in partly._recent
    through = MovieReader(tmp_path / "m.mp4")
    for t in (3, 7, 11):  # spread over the clip, as an analysis samples it: decoded forward, every frame
        through.read_codes(t)
    through.verify()
    assert 11 in through._recent, "verified from what was decoded already, nothing decoded again"
