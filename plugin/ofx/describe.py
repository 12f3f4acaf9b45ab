"""Describe: what each effect tells the host about itself (OfxActionDescribe) and its clips and params in
a context (OfxImageEffectActionDescribeInContext)."""

from __future__ import annotations

import contextlib
import ctypes as C

from segfuse.plugin.ofx import api, host_colour
from segfuse.plugin.ofx.params import define_param
from segfuse.plugin.ofx.suites import SUITES, effect_props, props
from segfuse.runtime import Alpha, Components, NodeDescriptor

FILTER, GENERAL = "OfxImageEffectContextFilter", "OfxImageEffectContextGeneral"


def filter_capable(d: NodeDescriptor) -> bool:
    """Whether the node fits OFX's filter context: a Source clip and nothing else required."""
    return any(c.name == "Source" for c in d.clips) and all(c.optional or c.name == "Source" for c in d.clips)


def describe(d: NodeDescriptor, handle: int, _in: api.Props, _out: api.Props) -> int:
    p = effect_props(handle)
    p.set_string("OfxPropLabel", d.label)
    p.set_string("OfxImageEffectPluginPropGrouping", d.group)
    p.set_string("OfxPropPluginDescription", d.help)
    p.set_strings("OfxImageEffectPropSupportedContexts", ([FILTER] if filter_capable(d) else []) + [GENERAL])
    p.set_strings("OfxImageEffectPropSupportedPixelDepths", ["OfxBitDepthFloat", "OfxBitDepthByte"])
    p.set_int("OfxImageEffectPropTemporalClipAccess", int(any(c.temporal for c in d.clips)))
    p.set_int("OfxImageEffectPropSupportsTiles", 0)
    p.set_int("OfxImageEffectPropSupportsMultiResolution", 0)
    p.set_string("OfxImageEffectPluginRenderThreadSafety", "OfxImageEffectRenderInstanceSafe")
    offer_colour_management(p)
    return api.OK


def offer_colour_management(p: api.Props) -> None:
    """Ask hosts with OpenFX 1.5 colour management to name each clip's colourspace (others ignore it)."""
    with contextlib.suppress(api.OfxError):  # a host that does not know the property
        p.set_string("OfxImageEffectPropColourManagementStyle", "OfxImageEffectPropColourManagementBasic")


def clip_components(components: tuple[Components, ...]) -> list[str]:
    """The OFX component layouts a clip accepting ``components`` supports."""
    return ["OfxImageComponentAlpha", "OfxImageComponentRGBA"] if components == (Alpha,) else [
        "OfxImageComponentRGBA", "OfxImageComponentRGB"] + (["OfxImageComponentAlpha"] if Alpha in components else [])


def output_components(d: NodeDescriptor) -> list[str]:
    """What the Output clip supports: alpha (and RGBA) for matte nodes; RGBA and RGB otherwise, plus alpha
    where the output follows an input that may be alpha (Temporal Median of a matte). Clip preferences
    may only ask for these: a node-graph host (Natron) maps anything else to another layout."""
    output = getattr(d.cls, "output", None)
    if output is Alpha:
        return clip_components((Alpha,))
    follows_alpha = output is None and any(Alpha in c.components for c in d.clips)
    return clip_components((Components.RGBA, Components.RGB) + ((Alpha,) if follows_alpha else ()))


def define_clip(handle: int, name: str, components: list[str], optional: bool, temporal: bool) -> None:
    out = api.Handle()
    SUITES["effect"].clipDefine(handle, name.encode(), C.byref(out))
    p = props(out.value)
    p.set_strings("OfxImageEffectPropSupportedComponents", components)
    p.set_int("OfxImageClipPropOptional", int(optional))
    p.set_int("OfxImageEffectPropTemporalClipAccess", int(temporal))
    p.set_int("OfxImageEffectPropSupportsTiles", 0)


def describe_in_context(d: NodeDescriptor, handle: int, in_args: api.Props, _out: api.Props) -> int:
    define_clip(handle, "Output", output_components(d), False, False)
    for clip in d.clips:
        define_clip(handle, clip.name, clip_components(clip.components), clip.optional, clip.temporal)
    param_set = api.Handle()
    SUITES["effect"].getParamSet(handle, C.byref(param_set))
    for param in d.params:
        define_param(param_set.value, param)
    if all(p.name != host_colour.PARAM_NAME for p in d.params):
        define_param(param_set.value, host_colour.PARAM)
    return api.OK
