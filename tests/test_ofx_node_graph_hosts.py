"""What node-graph OFX hosts (Natron) do that filter hosts do not, reproduced in the test hosts:
the host finalizes its own Python before it unloads plugins, it asks for clip preferences and
regions while inputs are still being wired, and its readers hand every clip RGBA."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pytest

from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.plugin.ofx.build import build_bundle
from segfuse.research.sample import GENERATED, REFERENCE
from segfuse.runtime import Evaluator, FrameRange, bind

from .ofx_host import DEFAULT, OK, ClipSource, Host, Instance

FILTER, GENERAL = "OfxImageEffectContextFilter", "OfxImageEffectContextGeneral"
FRAMES = 5


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("ofx"))


@pytest.fixture(scope="module")
def host(bundle) -> Host:
    return Host(bundle)


@pytest.fixture(scope="module")
def runtime():
    doc = paper_graph(FixOptions(str(GENERATED), str(REFERENCE), "unused.mp4", frames=FrameRange(0, FRAMES - 1),
                                 preset="classic"))  # the graph these tests wire by hand
    return Evaluator(bind(doc))


# ---- 1. a host that finalizes Python before unloading plugins ----------------------------------

EMBEDDING_HOST = r"""
#include <Python.h>
#include <dlfcn.h>
#include <stdio.h>
typedef struct { void *host; const void *(*fetch)(void *, const char *, int); } Host;
typedef int (*Entry)(const char *, const void *, void *, void *);
typedef struct { const char *api; int version; const char *id; unsigned major, minor;
                 void (*set_host)(Host *); Entry main_entry; } Plugin;
static const void *no_suite(void *host, const char *name, int version) { return NULL; }

int main(int argc, char **argv) {
    Py_InitializeEx(0);                        /* the host embeds Python itself, as Natron does */
    PyThreadState *main_thread = PyEval_SaveThread();
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 2; }
    int (*count)(void) = (int (*)(void))dlsym(lib, "OfxGetNumberOfPlugins");
    Plugin *(*get)(int) = (Plugin *(*)(int))dlsym(lib, "OfxGetPlugin");
    if (count() < 1) return 3;
    Plugin *p = get(0);
    Host host = {NULL, no_suite};
    p->set_host(&host);
    int load = p->main_entry("OfxActionLoad", NULL, NULL, NULL);
    PyEval_RestoreThread(main_thread);
    int finalize = Py_FinalizeEx();             /* NatronRenderer: Python goes first ... */
    p->set_host(&host);
    int destroy = p->main_entry("OfxActionDestroyInstance", (void *)1, NULL, NULL);
    int unload = p->main_entry("OfxActionUnload", NULL, NULL, NULL);   /* ... then plugins unload */
    int render = p->main_entry("OfxImageEffectActionRender", (void *)1, NULL, NULL);
    printf("load=%d finalize=%d destroy=%d unload=%d render=%d\n", load, finalize, destroy, unload, render);
    dlclose(lib);
    return 0;
}
"""


def test_a_host_that_finalizes_python_before_unloading_exits_cleanly(bundle, tmp_path):
    source = tmp_path / "host.c"
    source.write_text(textwrap.dedent(EMBEDDING_HOST))
    version = sysconfig.get_config_var("LDVERSION") or sysconfig.get_python_version()
    libdir = sysconfig.get_config_var("LIBDIR")
    subprocess.run(["cc", str(source), "-o", str(tmp_path / "host"), f"-I{sysconfig.get_paths()['include']}",
                    f"-L{libdir}", f"-lpython{version}", f"-Wl,-rpath,{libdir}", "-ldl"], check=True)
    binary = next((bundle / "Contents").glob("Linux-*/SegFuse.ofx"))
    env = {**os.environ, "PYTHONHOME": sys.base_prefix}
    result = subprocess.run([str(tmp_path / "host"), str(binary)], capture_output=True, text=True, timeout=120,
                            env=env)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    # tear-down succeeds without Python; anything else fails cleanly instead of crashing
    assert result.stdout.strip() == "load=0 finalize=0 destroy=0 unload=0 render=1", result.stdout


# ---- 2. actions while the inputs are wired one at a time ----------------------------------------

def connect(instance: Instance, name: str, source: ClipSource) -> None:
    """Wire ``source`` into clip ``name`` of a live instance, as a host does when the user drags a wire."""
    clip = instance.clips[name]
    clip["source"] = source
    clip["size"] = source.frames(source.first).shape[:2]
    props = instance.host.objects[clip["props"]].values
    props.update({"OfxImageEffectPropFrameRange": [float(source.first), float(source.last)],
                  "OfxImageEffectPropComponents": [source.components.encode()],
                  "OfxImageClipPropConnected": [1]})


def ask_everything(instance: Instance, t: int = 2) -> dict[str, int]:
    """Every action a host sends while a user edits the graph; the statuses."""
    host, plugin, handle = instance.host, instance.plugin, instance.handle
    time = {"OfxPropTime": [float(t)], "OfxImageEffectPropRenderScale": [1.0, 1.0]}
    statuses = {}
    for action, args in (("OfxImageEffectActionGetClipPreferences", {}),
                         ("OfxImageEffectActionGetRegionOfDefinition", time),
                         ("OfxImageEffectActionGetRegionsOfInterest",
                          {**time, "OfxImageEffectPropRegionOfInterest": [0.0, 0.0, 64.0, 64.0]}),
                         ("OfxImageEffectActionGetFramesNeeded", time),
                         ("OfxImageEffectActionIsIdentity",
                          {**time, "OfxImageEffectPropFieldToRender": [b"OfxFieldNone"],
                           "OfxImageEffectPropRenderWindow": [0, 0, 64, 64]})):
        statuses[action.rsplit("Action", 1)[1]] = host.call(plugin, action, handle, args)[0]
    return statuses


def _rgba(t: int) -> np.ndarray:
    rng = np.random.default_rng(t)
    return np.concatenate([rng.random((24, 32, 3), np.float32), np.ones((24, 32, 1), np.float32)], axis=2)


def _matte(t: int) -> np.ndarray:
    m = np.zeros((24, 32, 1), np.float32)
    m[6:20, 8 + t:20 + t] = 1.0
    return m


WIRING = {
    "org.segfuse.ReferenceFuse": (GENERAL, {}, [
        ("Generated", ClipSource(_rgba, 0, 9)), ("Reference", ClipSource(_rgba, 0, 9)),
        ("GeneratedMatte", ClipSource(_matte, 0, 9, "OfxImageComponentAlpha")),
        ("ReferenceMatte", ClipSource(_matte, 0, 9, "OfxImageComponentAlpha"))]),
    "org.segfuse.GrabCutSegment": (GENERAL, {"init": "hint", "working_size": 32, "iterations": 1}, [
        ("Source", ClipSource(_rgba, 0, 9)), ("Hint", ClipSource(_matte, 0, 9, "OfxImageComponentAlpha"))]),
    "org.segfuse.TemporalMedian": (FILTER, {}, [("Source", ClipSource(_matte, 0, 9, "OfxImageComponentAlpha"))]),
    "org.segfuse.Fix": (FILTER, {"reference": str(REFERENCE), "reference_fit": "stretch", "working_size": 32,
                                 "iterations": 1}, [("Source", ClipSource(_rgba, 0, 9))]),
}


@pytest.mark.parametrize("ident", sorted(WIRING))
def test_wiring_inputs_one_at_a_time_raises_nothing(host, ident):
    context, params, wires = WIRING[ident]
    host.messages.clear()
    instance = host.instance(ident, context, {}, params)  # created with nothing connected
    ok = (OK, DEFAULT)
    for name, source in [(None, None)] + wires:
        if name:
            connect(instance, name, source)
        statuses = ask_everything(instance)
        assert all(s in ok for s in statuses.values()), (ident, name, statuses, host.messages)
    assert host.messages == []
    status, out = instance.render(3)  # fully wired: it renders
    assert status == OK and out.shape[:2] == (24, 32), host.messages
    instance.destroy()


def test_while_wiring_the_region_is_the_first_connected_input(host):
    instance = host.instance("org.segfuse.ReferenceFuse", GENERAL, {}, {})
    time = {"OfxPropTime": [0.0], "OfxImageEffectPropRenderScale": [1.0, 1.0]}
    status, _ = host.call(instance.plugin, "OfxImageEffectActionGetRegionOfDefinition", instance.handle, time)
    assert status == DEFAULT  # nothing wired: the host's own default
    connect(instance, "Generated", ClipSource(_rgba, 0, 9))
    status, out = host.call(instance.plugin, "OfxImageEffectActionGetRegionOfDefinition", instance.handle, time)
    assert status == OK and out.values["OfxImageEffectPropRegionOfDefinition"] == [0.0, 0.0, 32.0, 24.0]


def test_rendering_before_the_last_wire_names_the_missing_inputs(host):
    instance = host.instance("org.segfuse.ReferenceFuse", GENERAL, {"Generated": ClipSource(_rgba, 0, 9)}, {})
    host.messages.clear()
    status, _ = host.call(instance.plugin, "OfxImageEffectActionRender", instance.handle, {
        "OfxPropTime": [1.0], "OfxImageEffectPropRenderWindow": [0, 0, 32, 24],
        "OfxImageEffectPropRenderScale": [1.0, 1.0], "OfxImageEffectPropFieldToRender": [b"OfxFieldNone"]})
    assert status == 1
    assert host.messages == ["OfxMessageError: Reference Fuse: connect the 'Reference', 'GeneratedMatte', "
                             "'ReferenceMatte' inputs to render"]


# ---- 3. RGBA from every reader: a matte in alpha survives Temporal Median -----------------------

def _matte_in_rgba(runtime):
    """The generated mattes as a reader hands them: RGBA with the matte in alpha and unrelated colour."""
    def frame(t: int) -> np.ndarray:
        alpha = runtime.render("generated_matte", t).pixels
        rng = np.random.default_rng(100 + t)
        return np.concatenate([rng.random(alpha.shape[:2] + (3,), np.float32), alpha], axis=2)
    return frame


def test_temporal_median_keeps_the_alpha_of_rgba_input(host, runtime):
    source = ClipSource(_matte_in_rgba(runtime), 0, FRAMES - 1)
    median = host.instance("org.segfuse.TemporalMedian", FILTER, {"Source": source}, {})
    prefs = host.call(median.plugin, "OfxImageEffectActionGetClipPreferences", median.handle)[1].values
    assert prefs["OfxImageClipPropComponents_Source"] == [b"OfxImageComponentRGBA"]
    assert prefs["OfxImageClipPropComponents_Output"] == [b"OfxImageComponentRGBA"]
    status, out = median.render(4)
    assert status == OK, host.messages
    np.testing.assert_allclose(out[:, :, 3], runtime.render("median", 4).alpha, atol=1e-6)


def test_temporal_median_of_an_alpha_clip_outputs_alpha_the_host_can_honour(host, runtime):
    """GrabCut's matte (an alpha clip) → Temporal Median: the median asks for an alpha output, which its
    Output clip must support (Natron otherwise hands an RGB buffer, and Reference Fuse reads alpha 0)."""
    mattes = ClipSource(lambda t: runtime.render("generated_matte", t).pixels, 0, FRAMES - 1,
                        components="OfxImageComponentAlpha")
    median = host.instance("org.segfuse.TemporalMedian", FILTER, {"Source": mattes}, {})  # the host checks prefs
    assert median.clips["Output"]["components"] == "OfxImageComponentAlpha"
    status, out = median.render(FRAMES - 1)
    assert status == OK, host.messages
    np.testing.assert_allclose(out.reshape(out.shape[:2]), runtime.render("median", FRAMES - 1).alpha, atol=1e-6)


def test_an_alpha_clip_takes_the_alpha_of_rgba_and_says_so(host, runtime):
    """Reader (RGBA matte) → Temporal Median → Reference Fuse equals the CLI's paper graph."""
    def rgba(image):
        px = image.pixels
        return np.concatenate([px, np.ones_like(px[:, :, :1])], axis=2)

    generated = ClipSource(lambda t: rgba(runtime.render("generated", t)), 0, FRAMES - 1)
    reference = ClipSource(lambda t: rgba(runtime.render("reference", 0)), 0, FRAMES - 1)
    ref_matte = ClipSource(lambda t: np.concatenate([np.zeros((512, 512, 3), np.float32),
                                                     runtime.render("reference_matte", 0).pixels], axis=2),
                           0, FRAMES - 1)
    median = host.instance("org.segfuse.TemporalMedian", FILTER,
                           {"Source": ClipSource(_matte_in_rgba(runtime), 0, FRAMES - 1)}, {})
    medians = ClipSource(lambda t: median.render(t)[1], 0, FRAMES - 1)  # RGBA out of the median
    fuse = host.instance("org.segfuse.ReferenceFuse", GENERAL, {
        "Generated": generated, "Reference": reference, "GeneratedMatte": medians, "ReferenceMatte": ref_matte}, {})
    prefs = host.call(fuse.plugin, "OfxImageEffectActionGetClipPreferences", fuse.handle)[1].values
    assert prefs["OfxImageClipPropComponents_GeneratedMatte"] == [b"OfxImageComponentAlpha"]
    assert prefs["OfxImageClipPropComponents_ReferenceMatte"] == [b"OfxImageComponentAlpha"]
    for t in (FRAMES - 1, 1):
        status, out = fuse.render(t)
        assert status == OK, host.messages
        np.testing.assert_allclose(out[:, :, :3], runtime.render("fuse", t).pixels, atol=1e-6)


def test_premultiplied_rgba_is_divided_out(host):
    """Hosts may hand premultiplied RGBA (the image says so); nodes work on straight colour."""
    alpha = np.repeat(np.linspace(0, 1, 8, dtype=np.float32)[None, :, None], 8, axis=0)
    premultiplied = np.concatenate([np.full((8, 8, 3), 0.6, np.float32) * alpha, alpha], axis=2)
    source = ClipSource(lambda t: premultiplied, 0, 4, premultiplied=True)
    median = host.instance("org.segfuse.TemporalMedian", FILTER, {"Source": source}, {"window": 3})
    status, out = median.render(2)
    assert status == OK, host.messages
    visible = alpha[..., 0] > 0
    np.testing.assert_allclose(out[visible][:, :3], 0.6, atol=1e-5)
    np.testing.assert_allclose(out[..., 3:], alpha, atol=1e-6)


# ---- 4. Natron's frame-range conventions: the same pixels as the command line -------------------

def report_range(instance: Instance, clip: str, first: float, last: float) -> None:
    """Make a clip report another frame range than the frames it answers (Natron: a still's reader
    says 1–1 and holds its image at every time; an effect's range is the union of its inputs')."""
    instance.host.objects[instance.clips[clip]["props"]].values["OfxImageEffectPropFrameRange"] = [first, last]


def test_natron_frame_ranges_give_the_cli_pixels(host, runtime):
    def rgba(image):
        px = image.pixels
        return np.concatenate([px, np.ones_like(px[:, :, :1])], axis=2)

    anytime = (-10_000, 10_000)  # a held still answers every time
    generated = ClipSource(lambda t: rgba(runtime.render("generated", t)), 0, FRAMES - 1, premultiplied=True)
    reference = ClipSource(lambda t: rgba(runtime.render("reference", 0)), *anytime, premultiplied=True)
    ref_seg = host.instance("org.segfuse.GrabCutSegment", GENERAL, {"Source": reference}, {"init": "portrait"})
    report_range(ref_seg, "Source", 1, 1)
    still = {}  # what the host caches: the held still's matte renders once

    def held_matte(t: int) -> np.ndarray:
        if not still:
            still[0] = ref_seg.render(t)[1]
        return still[0]

    hint = ClipSource(held_matte, *anytime, "OfxImageComponentAlpha")
    gen_seg = host.instance("org.segfuse.GrabCutSegment", GENERAL, {"Source": generated, "Hint": hint},
                            {"init": "hint"})
    report_range(gen_seg, "Hint", 1, 1)
    median = host.instance("org.segfuse.TemporalMedian", GENERAL, {"Source": ClipSource(
        lambda t: gen_seg.render(t)[1], 0, FRAMES - 1, "OfxImageComponentAlpha")}, {})
    fuse = host.instance("org.segfuse.ReferenceFuse", GENERAL, {
        "Generated": generated, "Reference": reference, "ReferenceMatte": hint,
        "GeneratedMatte": ClipSource(lambda t: median.render(t)[1], 0, FRAMES - 1, "OfxImageComponentAlpha")}, {})
    report_range(fuse, "Reference", 1, 1)
    report_range(fuse, "ReferenceMatte", 1, 1)
    for t in (0, 3):  # frame 0: the median has one frame; frame 3: four, the still's range 1–1 excludes t
        status, out = fuse.render(t)
        assert status == OK, host.messages
        np.testing.assert_allclose(out[:, :, :3], runtime.render("fuse", t).pixels, atol=1e-6)
