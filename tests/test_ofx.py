"""The OFX bundle, loaded as hosts load it: enumeration, description, frames needed, renders equal
to the Python runtime's, errors as statuses and messages, and a plain C host embedding Python."""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.plugin.ofx.build import build_bundle
from segfuse.runtime import Evaluator, FrameRange, bind

from .ofx_host import ClipSource, Host

FILTER, GENERAL = "OfxImageEffectContextFilter", "OfxImageEffectContextGeneral"
FRAMES = 6
SIDE = 128  # the built-in sample shrunk (conftest's small_sample): the bridge does not depend on size
GENERATED = REFERENCE = None  # set by the module's sample fixture


@pytest.fixture(scope="module", autouse=True)
def sample(small_sample):
    """The clip every test here hands the host: GENERATED (a PNG sequence) and REFERENCE, 128×128."""
    global GENERATED, REFERENCE
    GENERATED, REFERENCE = small_sample
    return small_sample


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("ofx"))


@pytest.fixture(scope="module")
def host(bundle) -> Host:
    return Host(bundle)


@pytest.fixture(scope="module")
def runtime(sample):
    """The Python runtime's paper graph on the sample: the reference for every comparison."""
    doc = paper_graph(FixOptions(str(GENERATED), str(REFERENCE), "unused.mp4", frames=FrameRange(0, FRAMES - 1),
                                 preset="classic"))  # what the Fix node runs
    return Evaluator(bind(doc))


@pytest.fixture(scope="module")
def best(sample):
    """The command line's default graph (the best preset) on the sample's first frames: what the Fix
    filter runs with recipe 'best' in a host that hands it any frame of the clip."""
    doc = paper_graph(FixOptions(str(GENERATED), str(REFERENCE), "unused.mp4", frames=FrameRange(0, FRAMES - 1)))
    return Evaluator(bind(doc))


def whole_clip(evaluator) -> ClipSource:
    """The sample as a host clip over its whole range (Motion Matte samples frames across all of it)."""
    last = evaluator.graph.nodes["generated"].spec.frames.last
    return ClipSource(lambda t: rgba(evaluator.render("generated", t)), 0, last)


def rendered(host, instance):
    """A cached frame → output function for an effect instance; a failed render fails the test."""

    @functools.cache
    def frame(t):
        status, out = instance.render(t)
        assert status == 0, host.messages
        return out

    return frame


def rgba(image) -> np.ndarray:
    px = image.pixels
    if px.shape[2] == 1:
        return px
    return np.concatenate([px, np.ones_like(px[:, :, :1])], axis=2)


def test_every_node_but_read_and_write_is_an_effect(host):
    plugins = host.plugins()
    assert plugins == {"org.segfuse.Fix": (2, 0), "org.segfuse.GrabCutSegment": (1, 1),
                       "org.segfuse.FaceCoefficients": (1, 0),
                       "org.segfuse.MODNetMatte": (1, 0), "org.segfuse.MotionMatte": (2, 8),
                       "org.segfuse.PIRenderDrive": (1, 1),
                       "org.segfuse.ReferenceFuse": (1, 3), "org.segfuse.TemporalMedian": (1, 0),
                       "org.segfuse.TrackMatte": (1, 4)}
    median = host.describe("org.segfuse.TemporalMedian", FILTER)
    assert median["props"]["OfxPropLabel"] == [b"Temporal Median"]
    assert median["props"]["OfxImageEffectPropTemporalClipAccess"] == [1]
    assert set(median["clips"]) == {"Output", "Source"}
    window = host.objects[median["params"]["window"]["props"]].values
    assert (window["OfxParamPropDefault"], window["OfxParamPropMin"], window["OfxParamPropMax"]) == ([5], [1], [31])
    fuse = host.describe("org.segfuse.ReferenceFuse", GENERAL)
    assert set(fuse["clips"]) == {"Output", "Generated", "Reference", "GeneratedMatte", "ReferenceMatte"}
    assert fuse["props"]["OfxImageEffectPropSupportedContexts"] == [GENERAL.encode()]
    grabcut = host.describe("org.segfuse.GrabCutSegment", FILTER)
    hint = host.objects[grabcut["clips"]["Hint"]["props"]].values
    assert hint["OfxImageClipPropOptional"] == [1]
    init = host.objects[grabcut["params"]["init"]["props"]].values
    assert init["OfxParamPropChoiceOption"] == [b"auto", b"hint", b"rect", b"portrait", b"border"]


def test_temporal_median_asks_for_the_four_previous_frames(host):
    source = ClipSource(lambda t: np.zeros((8, 8, 1), np.float32), 0, 47, "OfxImageComponentAlpha")
    inst = host.instance("org.segfuse.TemporalMedian", FILTER, {"Source": source}, {})
    assert inst.frames_needed(10) == {"Source": (6.0, 10.0)}
    inst.destroy()


def test_paper_chain_through_ofx_equals_the_python_runtime(host, runtime):
    generated = ClipSource(lambda t: rgba(runtime.render("generated", t)), 0, FRAMES - 1)
    reference = ClipSource(lambda t: rgba(runtime.render("reference", 0)), 0, FRAMES - 1)
    ref_seg = host.instance("org.segfuse.GrabCutSegment", FILTER, {"Source": reference}, {"init": "portrait"})
    hint = ClipSource(rendered(host, ref_seg), 0, FRAMES - 1, "OfxImageComponentAlpha")
    gen_seg = host.instance("org.segfuse.GrabCutSegment", GENERAL, {"Source": generated, "Hint": hint},
                            {"init": "hint"})
    gen_matte = rendered(host, gen_seg)
    mattes = ClipSource(gen_matte, 0, FRAMES - 1, "OfxImageComponentAlpha")
    median = host.instance("org.segfuse.TemporalMedian", FILTER, {"Source": mattes}, {})
    medians = ClipSource(rendered(host, median), 0, FRAMES - 1, "OfxImageComponentAlpha")
    fuse = host.instance("org.segfuse.ReferenceFuse", GENERAL, {
        "Generated": generated, "Reference": reference, "GeneratedMatte": medians, "ReferenceMatte": hint}, {})
    for t in (FRAMES - 1, 2, 0):
        status, out = fuse.render(t)
        assert status == 0, host.messages
        expected = runtime.render("fuse", t).pixels
        assert np.abs(out[:, :, :3] - expected).max() <= 1e-6
        assert np.abs(out[:, :, 3] - 1).max() == 0
    assert np.abs(gen_matte(3)[:, :, 0] - runtime.render("generated_matte", 3).alpha).max() <= 1e-6


def test_segfuse_fix_filter_equals_segfuse_fix(host, runtime, best):
    """Recipe best (the default) in a host that hands any frame: frames spread over the clip's range
    are asked for, and the output equals 'segfuse fix'; recipe classic equals '--preset classic'."""
    generated = whole_clip(best)
    fix = host.instance("org.segfuse.Fix", FILTER, {"Source": generated}, {"reference": str(REFERENCE)})
    runs = fix.frames_needed(4)["Source"]  # the window 0-4, then samples spread up to the clip's last frame
    assert runs[:2] == (0.0, 4.0) and runs[-1] == generated.last and len(runs) > 4
    for t in (4, 0):
        status, out = fix.render(t)
        assert status == 0, host.messages
        assert np.abs(out[:, :, :3] - best.render("fuse", t).pixels).max() <= 1e-6
    classic = host.instance("org.segfuse.Fix", FILTER, {"Source": generated},
                            {"reference": str(REFERENCE), "recipe": 1})
    assert classic.frames_needed(4) == {"Source": (0.0, 4.0)}
    status, out = classic.render(4)
    assert status == 0, host.messages
    assert np.abs(out[:, :, :3] - runtime.render("fuse", 4).pixels).max() <= 1e-6


def test_a_python_exception_is_a_failed_render_with_a_message_and_the_next_render_works(host):
    source = ClipSource(lambda t: np.full((32, 32, 4), 0.5, np.float32), 0, 9)
    inst = host.instance("org.segfuse.Fix", FILTER, {"Source": source}, {"reference": "/nonexistent/ref.png"})
    host.messages.clear()
    status, _ = inst.render(3)
    assert status == 1
    assert any("SegFuse Fix" in m and "ref.png: file not found" in m for m in host.messages), host.messages
    inst.params["reference"]["value"] = str(REFERENCE)
    status, out = inst.render(3)
    assert status == 1 and any(f"the reference is {SIDE}×{SIDE} but 'Source' is 32×32" in m for m in host.messages)
    inst.params["reference_fit"]["value"] = 1  # stretch
    status, out = inst.render(3)
    assert status == 0 and out.shape == (32, 32, 4)


def test_a_plain_c_host_embeds_python_and_enumerates(bundle, tmp_path):
    source = tmp_path / "host.c"
    source.write_text(textwrap.dedent("""
        #include <dlfcn.h>
        #include <stdio.h>
        typedef struct { const char *api; int version; const char *id; unsigned major, minor;
                         void *set_host; void *main_entry; } Plugin;
        int main(int argc, char **argv) {
            void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
            if (!lib) { fprintf(stderr, "%s\\n", dlerror()); return 2; }
            int (*count)(void) = (int (*)(void))dlsym(lib, "OfxGetNumberOfPlugins");
            Plugin *(*get)(int) = (Plugin *(*)(int))dlsym(lib, "OfxGetPlugin");
            int n = count();
            for (int i = 0; i < n; i++) printf("%s %u.%u\\n", get(i)->id, get(i)->major, get(i)->minor);
            return n > 0 ? 0 : 1;
        }"""))
    subprocess.run(["cc", str(source), "-o", str(tmp_path / "host"), "-ldl"], check=True)
    binary = next((bundle / "Contents").glob("Linux-*/SegFuse.ofx"))
    result = subprocess.run([str(tmp_path / "host"), str(binary)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "org.segfuse.TemporalMedian 1.0" in result.stdout and "org.segfuse.Fix 2.0" in result.stdout


def test_install_command_builds_into_the_plugin_path(tmp_path):
    env_path = tmp_path / "plugins"
    result = subprocess.run([sys.executable, "-m", "segfuse.cli", "install", "ofx", "--prefix", str(env_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (env_path / "SegFuse.ofx.bundle" / "Contents" / "Linux-x86-64" / "SegFuse.ofx").is_file()
    assert sys.executable in (env_path / "SegFuse.ofx.bundle" / "Contents" / "Resources" / "python.txt").read_text()


def test_renders_from_several_host_threads_equal_serial_renders(host, best):
    from concurrent.futures import ThreadPoolExecutor

    runtime = best
    generated = whole_clip(best)
    instances = [host.instance("org.segfuse.Fix", FILTER, {"Source": generated}, {"reference": str(REFERENCE)})
                 for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda job: job[0].render(job[1]), [(instances[0], 1), (instances[1], 2)]))
    for (status, out), t in zip(results, (1, 2), strict=True):
        assert status == 0
        assert np.abs(out[:, :, :3] - runtime.render("fuse", t).pixels).max() <= 1e-6


def test_a_host_without_temporal_access_is_told_what_happens(bundle, runtime):
    host = Host(bundle)
    host.objects[host.host_props].values["OfxImageEffectPropTemporalClipAccess"] = [0]
    mattes = ClipSource(lambda t: runtime.render("generated_matte", t).pixels, 0, FRAMES - 1, "OfxImageComponentAlpha")
    median = host.instance("org.segfuse.TemporalMedian", FILTER, {"Source": mattes}, {})
    for t in range(4):  # in order, as editors render: the bridge serves the frames it was handed
        status, out = median.render(t)
        assert status == 0
    assert np.abs(out - runtime.render("median", 3).pixels).max() <= 1e-6
    assert any(m.startswith("OfxMessageWarning") and "no access to other frames" in m for m in host.messages)


def test_display_referred_hosts_get_and_give_srgb(host, best, monkeypatch):
    from segfuse import color

    runtime = best
    monkeypatch.setenv("SEGFUSE_OFX_COLORSPACE", "srgb")

    def srgb_frame(t):
        image = runtime.render("generated", t)
        return rgba(image.with_pixels(color.convert(image.pixels, image.colorspace, "srgb")))

    last = best.graph.nodes["generated"].spec.frames.last
    fix = host.instance("org.segfuse.Fix", FILTER, {"Source": ClipSource(srgb_frame, 0, last)},
                        {"reference": str(REFERENCE)})
    status, out = fix.render(3)
    assert status == 0, host.messages
    expected = color.convert(runtime.render("fuse", 3).pixels, "scene_linear", "srgb")
    assert np.abs(out[:, :, :3] - expected).max() <= 2e-4  # two OCIO round trips (its sRGB curve is approximated)


def test_8bit_images_in_and_out(host):
    rng = np.random.default_rng(5)
    frames = {t: rng.integers(0, 256, (10, 14, 1)).astype(np.float32) / 255 for t in range(8)}
    source = ClipSource(lambda t: frames[t], 0, 7, "OfxImageComponentAlpha", "OfxBitDepthByte")
    median = host.instance("org.segfuse.TemporalMedian", FILTER, {"Source": source}, {},
                           output_depth="OfxBitDepthByte")
    status, out = median.render(5)
    assert status == 0 and out.dtype == np.uint8
    expected = np.median(np.stack([frames[t] for t in range(1, 6)]), axis=0)
    np.testing.assert_array_equal(out, np.clip(expected * 255 + 0.5, 0, 255).astype(np.uint8))
