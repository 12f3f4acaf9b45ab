"""The OFX bridge in hosts that break assumptions, emulated with the ctypes test host the way MLT and
pyofx behave: no temporal clip access, an instance per frame, render threads, optional clips with no
Connected property, 8-bit display-referred images, a mangled $OCIO, default parameters."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from segfuse import color
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.plugin.ofx import bridge
from segfuse.plugin.ofx.build import build_bundle
from segfuse.runtime import Evaluator, FrameRange, bind

from .ofx_host import OK, ClipSource, Host, PropSet

FILTER, GENERAL = "OfxImageEffectContextFilter", "OfxImageEffectContextGeneral"
FRAMES = 7
SIDE = 128  # the built-in sample shrunk (conftest's small_sample): host plumbing does not depend on size
GENERATED = REFERENCE = None  # set by the module's sample fixture


class MltLikeHost(Host):
    """Like MLT's openfx module: no temporal access, and an unconnected clip still answers clipGetImage
    with OK and an image that has no bounds; optional clips carry no Connected property."""

    def __init__(self, bundle) -> None:
        super().__init__(bundle)
        self.objects[self.host_props].values["OfxImageEffectPropTemporalClipAccess"] = [0]

    def _clip_get_image(self, handle, time, region, out) -> int:
        clip = self._obj(handle)
        if clip["name"] != "Output" and clip["source"] is None:
            return self._out(out, self.new(PropSet({"OfxImagePropField": [b"OfxFieldNone"]})))
        return super()._clip_get_image(handle, time, region, out)

    def instance(self, *args, **kw):
        inst = super().instance(*args, **kw)
        for name, clip in inst.clips.items():
            if name not in ("Source", "Output"):
                self.objects[clip["props"]].values.pop("OfxImageClipPropConnected", None)
        return inst


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build_bundle(tmp_path_factory.mktemp("ofx"))


@pytest.fixture
def mlt(bundle):
    bridge._told.clear()
    bridge._streams.clear()
    bridge._impls.clear()  # no per-clip work carried over from another test
    return MltLikeHost(bundle)


CLASSIC = {"recipe": "classic"}  # SegFuse 0.1's recipe: these tests check host plumbing


@pytest.fixture(scope="module", autouse=True)
def sample(small_sample):
    """The clip every test here hands the host: GENERATED (a PNG sequence) and REFERENCE, 128×128."""
    global GENERATED, REFERENCE
    GENERATED, REFERENCE = small_sample
    CLASSIC["reference"] = str(REFERENCE)
    return small_sample


@pytest.fixture(scope="module")
def runtime(sample):
    doc = paper_graph(FixOptions(str(GENERATED), str(REFERENCE), "unused.mp4", frames=FrameRange(0, FRAMES - 1),
                                 preset="classic"))  # what the Fix node runs with recipe classic
    return Evaluator(bind(doc))


@pytest.fixture(scope="module")
def analysed(sample, tmp_path_factory):
    """The command line's default graph on the sample, analysed (segfuse analyse): (evaluator, file)."""
    from segfuse.analysis.shot import analyse_graph

    folder = tmp_path_factory.mktemp("analysed")
    doc = paper_graph(FixOptions(str(GENERATED), str(REFERENCE), "unused.mp4", frames=FrameRange(0, FRAMES - 1)),
                      folder)
    report = analyse_graph(doc, folder / "shot.analysis.npz")
    return Evaluator(bind(doc)), report.path


@pytest.mark.slow
def test_fix_in_an_editor_like_host_with_the_analysis_file_equals_segfuse_fix(mlt, analysed):
    """Recipe best (the default) where the host hands one frame at a time: with 'analysis' set, every
    frame is the command line's (8-bit in and out); without it, the filter learns from the frames handed
    so far and says once how to get the full result; no error either way."""
    best, path = analysed
    source = _srgb_bytes(best)
    for t in range(FRAMES):
        out = _fix_per_frame(mlt, source, t, {"reference": str(REFERENCE), "analysis": str(path)})
    assert _mean_error(out, best, FRAMES - 1) <= 1.0
    assert not any("learning" in m for m in mlt.messages)
    bridge._streams.clear()
    bridge._impls.clear()
    for t in range(FRAMES):
        out = _fix_per_frame(mlt, source, t, {"reference": str(REFERENCE)})
    told = [m for m in mlt.messages if "segfuse analyse" in m]
    assert len(told) == 1 and told[0].startswith("OfxMessageWarning"), mlt.messages
    assert not any(m.startswith("OfxMessageError") for m in mlt.messages)
    assert _mean_error(out, best, FRAMES - 1) <= 3.0  # learnt from 7 frames only: close, not equal


def test_fix_refuses_an_analysis_of_another_reference_with_one_line(mlt, analysed, tmp_path):
    best, path = analysed
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), 255 - cv2.imread(str(REFERENCE)))
    inst = mlt.instance("org.segfuse.Fix", FILTER, {"Source": _srgb_bytes(best)},
                        {"reference": str(other), "analysis": str(path)}, output_depth="OfxBitDepthByte")
    status, _ = inst.render(0)
    assert status != OK
    assert any(m.startswith("OfxMessageError") and "stale: made from another 'Reference' image" in m
               for m in mlt.messages), mlt.messages


def _srgb_bytes(runtime):
    """The generated clip as an editor hands it: 8-bit display-referred sRGB, RGBA."""

    def frame(t):
        image = runtime.render("generated", t)
        srgb = color.convert(image.pixels, image.colorspace, "srgb")
        rgba = np.concatenate([srgb, np.ones_like(srgb[:, :, :1])], axis=2)
        return np.clip(rgba * 255 + 0.5, 0, 255).astype(np.float32) / 255

    return ClipSource(frame, 0, FRAMES - 1, depth="OfxBitDepthByte")


def _expected_srgb(runtime, t) -> np.ndarray:
    srgb = color.convert(runtime.render("fuse", t).pixels, "scene_linear", "srgb")
    return np.clip(srgb * 255 + 0.5, 0, 255).astype(np.uint8).astype(np.float32)


def _mean_error(out, runtime, t) -> float:
    """Mean error in 1/255 steps (8-bit input quantisation moves a few matte edge pixels)."""
    return float(np.abs(out[:, :, :3].astype(np.float32) - _expected_srgb(runtime, t)).mean())


def _fix_per_frame(host, source, t, params):
    """One render the way MLT does it: a fresh instance per frame, destroyed after."""
    inst = host.instance("org.segfuse.Fix", FILTER, {"Source": source}, params, output_depth="OfxBitDepthByte")
    try:
        status, out = inst.render(t)
    finally:
        inst.destroy()
    assert status == OK, host.messages
    return out


def test_fix_in_an_editor_like_host_equals_segfuse_fix_with_window_5(mlt, runtime, monkeypatch):
    monkeypatch.delenv("SEGFUSE_OFX_COLORSPACE", raising=False)
    from segfuse.nodes.grabcut_segment import GrabCutSegment

    calls = []
    original = GrabCutSegment.render
    monkeypatch.setattr(GrabCutSegment, "render", lambda self, *a: calls.append(1) or original(self, *a))
    source = _srgb_bytes(runtime)
    outputs = {t: _fix_per_frame(mlt, source, t, CLASSIC) for t in range(FRAMES)}
    # one segmentation per frame plus the reference's once: per-clip work outlives per-frame instances
    assert len(calls) == FRAMES + 1
    for t in (2, FRAMES - 1):  # 8-bit sRGB in and out, no environment variable: the window-5 result
        assert _mean_error(outputs[t], runtime, t) <= 1.0, t
    warnings = [m for m in mlt.messages if "no access to other frames" in m]
    assert len(warnings) == 1 and not any(m.startswith("OfxMessageError") for m in mlt.messages)


def test_per_frame_instances_read_the_reference_once_and_hash_each_frame_once(mlt, runtime, monkeypatch):
    """MLT's instance per frame: the reference portrait is read once per clip, not per frame, and a frame
    that stays in five renders' windows is hashed for the memo once (hashing was 35 ms of a 218 ms frame)."""
    import hashlib

    from segfuse.nodes.read import Read

    reads, hashed = [], []
    original_read, original_hash = Read.render, hashlib.blake2b
    monkeypatch.setattr(Read, "render", lambda self, *a: reads.append(1) or original_read(self, *a))

    def blake2b(data=b"", **kw):
        hashed.append(len(data))
        return original_hash(data, **kw)

    monkeypatch.setattr(hashlib, "blake2b", blake2b)
    source = _srgb_bytes(runtime)
    for t in range(FRAMES):
        _fix_per_frame(mlt, source, t, CLASSIC)
    assert len(reads) == 1
    frame_bytes, reference_bytes = SIDE * SIDE * 4 * 4, SIDE * SIDE * 3 * 4  # RGBA frames from the host, RGB portrait
    assert hashed.count(reference_bytes) == 1
    assert hashed.count(frame_bytes) <= 2 * FRAMES  # the history's check and the matte memo's key, once each


def test_render_threads_handing_frames_out_of_order_give_the_serial_frames(mlt, runtime, monkeypatch):
    from segfuse.nodes.grabcut_segment import GrabCutSegment

    calls = []
    original = GrabCutSegment.render
    monkeypatch.setattr(GrabCutSegment, "render", lambda self, *a: calls.append(1) or original(self, *a))
    source = _srgb_bytes(runtime)
    order = [1, 0, 3, 2, 5, 4, 6]
    with ThreadPoolExecutor(3) as pool:
        outputs = dict(zip(order, pool.map(lambda t: _fix_per_frame(mlt, source, t, CLASSIC),
                                           order), strict=True))
    assert len(calls) == FRAMES + 1  # threads wanting the same matte wait for it rather than redo it
    for t in (4, FRAMES - 1):
        assert _mean_error(outputs[t], runtime, t) <= 1.0, t


def test_render_threads_segment_their_own_frames_at_the_same_time(runtime, monkeypatch):
    """Host render threads on frames t and t+1 (melt's real_time=-N) each segment their own frame at once,
    not after waiting for the other's matte: otherwise N threads run one GrabCut at a time."""
    import threading

    from segfuse.nodes.segfuse_fix import Fix, _params
    from segfuse.runtime import ClipFrames

    fix = Fix()
    p = _params(Fix, reference=str(REFERENCE), recipe="classic")
    frames = {t: runtime.render("generated", t) for t in range(FRAMES)}

    def render(t):
        return fix.render(t, {"Source": ClipFrames("Source", None, t, {s: frames[s] for s in range(t - 4, t + 1)
                                                                          if s >= 0})}, p)

    render(4)  # mattes 0–4 and the reference's are known
    both = threading.Barrier(2, timeout=10)  # the mattes of 5 and 6 must be computed at the same time
    own = {frames[5].pixels.tobytes(): 5, frames[6].pixels.tobytes(): 6}
    grabcut_node = fix.nodes["org.segfuse.GrabCutSegment"]
    original = grabcut_node.render

    def grabcut(t, inputs, params):
        if inputs["Source"].frame(0).pixels.tobytes() in own:
            both.wait()
        return original(t, inputs, params)

    monkeypatch.setattr(grabcut_node, "render", grabcut)
    with ThreadPoolExecutor(2) as pool:
        outputs = list(pool.map(render, (5, 6)))
    for t, out in zip((5, 6), outputs, strict=True):
        np.testing.assert_allclose(out.pixels, runtime.render("fuse", t).pixels, atol=1e-6)


def test_after_a_jump_back_the_history_restarts(mlt, runtime, monkeypatch):
    # after the jump the render waits for the earlier frames a host thread might still hand over;
    # none will here, and how long it waits is not what this checks
    monkeypatch.setenv("SEGFUSE_OFX_HISTORY_WAIT", "0.1")
    mattes = ClipSource(lambda t: runtime.render("generated_matte", t).pixels, 0, FRAMES - 1, "OfxImageComponentAlpha")
    median = mlt.instance("org.segfuse.TemporalMedian", FILTER, {"Source": mattes}, {})
    for t in range(FRAMES):
        status, out = median.render(t)
        assert status == OK
    assert np.abs(out - runtime.render("median", FRAMES - 1).pixels).max() <= 1e-6
    key = next(iter(bridge._streams._streams))
    assert bridge._streams._streams[key].times() == list(range(FRAMES))
    changed = ClipSource(lambda t: 1 - runtime.render("generated_matte", t).pixels, 0, FRAMES - 1,
                         "OfxImageComponentAlpha")  # the upstream edit: frame 6 again, different pixels
    median = mlt.instance("org.segfuse.TemporalMedian", FILTER, {"Source": changed}, {})
    status, out = median.render(FRAMES - 1)
    assert status == OK and np.abs(out - (1 - runtime.render("generated_matte", FRAMES - 1).pixels)).max() <= 1e-6


def test_an_optional_clip_the_host_never_connected_is_not_connected(mlt, runtime):
    generated = ClipSource(lambda t: np.concatenate([runtime.render("generated", t).pixels,
                                                     np.ones((SIDE, SIDE, 1), np.float32)], axis=2), 0, FRAMES - 1)
    segment = mlt.instance("org.segfuse.GrabCutSegment", FILTER, {"Source": generated}, {})
    status, out = segment.render(2)
    assert status == OK, mlt.messages
    assert out.shape == (SIDE, SIDE, 1) and 0.05 < out.mean() < 0.95


def test_fix_with_default_params_passes_frames_through_and_says_once_what_to_set(mlt, runtime):
    source = _srgb_bytes(runtime)
    outputs = [_fix_per_frame(mlt, source, t, {}) for t in (0, 1, 2)]
    for t, out in zip((0, 1, 2), outputs, strict=True):
        expected = np.clip(source.frames(t) * 255 + 0.5, 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(out, expected)
    told = [m for m in mlt.messages if "set 'reference'" in m]
    assert len(told) == 1 and "pass through unchanged" in told[0], mlt.messages


def test_an_unusable_ocio_falls_back_with_one_warning(bundle, runtime, monkeypatch):
    monkeypatch.setenv("OCIO", "ocio://ocio://default")  # what MLT sets when $OCIO is unset
    color.tolerate_bad_ocio()  # as the bridge does when it is imported
    color.reset_config()
    try:
        host = MltLikeHost(bundle)
        bridge._told.clear()
        source = _srgb_bytes(runtime)
        for t in (0, 1):
            out = _fix_per_frame(host, source, t, CLASSIC)
        assert _mean_error(out, runtime, 1) <= 1.0
        warned = [m for m in host.messages if "$OCIO=ocio://ocio://default cannot be loaded" in m]
        assert len(warned) == 1 and warned[0].startswith("OfxMessageWarning"), host.messages
    finally:
        monkeypatch.delenv("OCIO")
        color.reset_config()


def test_the_colourspace_param_overrides_the_depth_rule(bundle, runtime, monkeypatch):
    monkeypatch.delenv("SEGFUSE_OFX_COLORSPACE", raising=False)
    host = Host(bundle)
    linear = ClipSource(lambda t: np.concatenate([runtime.render("generated", t).pixels,
                                                  np.ones((SIDE, SIDE, 1), np.float32)], axis=2), 0, FRAMES - 1)
    fix = host.instance("org.segfuse.Fix", FILTER, {"Source": linear}, CLASSIC)
    assert host.objects[fix.params["colourspace"]["props"]].values["OfxParamPropChoiceOption"] == [
        b"auto", b"scene_linear", b"srgb"]
    status, out = fix.render(FRAMES - 1)  # float, auto: scene-linear
    assert status == OK and np.abs(out[:, :, :3] - runtime.render("fuse", FRAMES - 1).pixels).max() <= 1e-6
    fix.params["colourspace"]["value"] = 2  # srgb: the same float pixels now read as display-referred
    status, out = fix.render(FRAMES - 1)
    assert status == OK and np.abs(out[:, :, :3] - runtime.render("fuse", FRAMES - 1).pixels).max() > 1e-3



def test_the_shim_starts_its_own_interpreter_whatever_the_hosts_environment(bundle, tmp_path):
    """A host's PATH, PYTHONHOME, PYTHONPATH and working directory do not choose the Python the bundle runs."""
    from .test_packaging import list_with_a_c_host

    (tmp_path / "segfuse").mkdir()  # a decoy package in the host's working directory
    (tmp_path / "segfuse" / "__init__.py").write_text("raise ImportError('the decoy was imported')\n")
    hostile = {"PATH": "/usr/bin:/bin", "PYTHONHOME": str(tmp_path / "nowhere"), "PYTHONPATH": str(tmp_path)}
    binary = next((bundle / "Contents").glob("Linux-*/SegFuse.ofx"))
    result = list_with_a_c_host(binary, tmp_path, env=hostile, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(ident for ident, _, _ in bridge.plugin_list())


def test_the_command_line_still_refuses_fix_without_a_reference(tmp_path):
    from segfuse.errors import GraphError
    from segfuse.runtime import bind_mapping

    doc = {"format": "segfuse.graph", "version": 1, "nodes": {
        "in": {"type": "org.segfuse.Read", "params": {"path": str(GENERATED)}},
        "fix": {"type": "org.segfuse.Fix", "params": {}, "inputs": {"Source": "in"}}}}
    with pytest.raises(GraphError, match=r"node 'fix' .*set 'reference' to the reference portrait"):
        bind_mapping(doc, tmp_path)


def test_host_colourspace_order_param_then_host_name_then_env_then_depth(monkeypatch):
    from segfuse.plugin.ofx.host_colour import colourspace

    monkeypatch.delenv("SEGFUSE_OFX_COLORSPACE", raising=False)
    linear, srgb = color.working_space(), color.srgb_space()
    assert colourspace("auto", "", "OfxBitDepthByte") == srgb
    assert colourspace("auto", "", "OfxBitDepthShort") == srgb
    assert colourspace("auto", "", "OfxBitDepthFloat") == linear
    assert colourspace("auto", "ofx_scene_linear", "OfxBitDepthByte") == linear  # the host's colour management
    assert colourspace("auto", srgb, "OfxBitDepthFloat") == srgb
    assert colourspace("auto", "OfxColourspace_Source", "OfxBitDepthFloat") == linear  # a cross-reference
    monkeypatch.setenv("SEGFUSE_OFX_COLORSPACE", "srgb")
    assert colourspace("auto", "", "OfxBitDepthFloat") == srgb
    assert colourspace("scene_linear", srgb, "OfxBitDepthByte") == linear  # the param overrides everything


def test_history_serves_the_unbroken_run_and_waits_for_a_frame_in_flight():
    import threading
    import time

    from segfuse.image import Image
    from segfuse.plugin.ofx.history import SLACK, History

    def frame(v):
        return Image(np.full((2, 2, 1), v, np.float32))

    history = History(lookback=4)
    for t in range(6):
        history.add(t, frame(t))
    assert list(history.frames(5, range(1, 6))) == [1, 2, 3, 4, 5]
    history.add(7, frame(7))
    timer = threading.Timer(0.2, lambda: history.add(6, frame(6)))  # another render thread hands 6 over
    timer.start()
    started = time.monotonic()
    assert list(history.frames(7, range(3, 8), wait_s=5)) == [3, 4, 5, 6, 7]
    assert time.monotonic() - started < 4
    history.add(9, frame(9))  # frame 8 never comes: only 9 itself is unbroken
    assert list(history.frames(9, range(5, 10), wait_s=0.1)) == [9]
    history.add(9 - 4 - SLACK - 1, frame(0))  # a jump far back: everything held is dropped
    assert history.times() == [9 - 4 - SLACK - 1]
    history.add(-3, frame(1))
    assert history.times() == [-4, -3]
    history.add(-4, frame(2))  # a different image for a time already held: the input changed
    assert history.times() == [-4]
