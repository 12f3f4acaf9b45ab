"""Maps the SegFuse node API onto OpenFX actions (called by the C shim, one call per action).

Each SegFuse node but Read and Write (hosts read and write themselves) becomes one OFX image
effect. Images cross as numpy views over the host's buffers (OFX rows run bottom-up); a Python
exception becomes a failed action plus a message through the host's message suite, never a crash.
Host pixels are converted to the working space on the way in and back on the way out, in the
colourspace ``host_colour`` picks per instance and image (the effect's ``colourspace`` param, the
host's colour management, $SEGFUSE_OFX_COLORSPACE, else sRGB for 8/16-bit and scene-linear for float).
Alpha is never converted.

Hosts break assumptions, and the bridge adapts so that nodes stay stateless: an unusable $OCIO falls
back to SegFuse's config; a clip is connected only when the host says so or its image can be fetched;
hosts with no temporal clip access are served frames from a sequential ``history``; per-clip work
survives hosts that create an instance per frame (one node object per effect type in the process); a
node missing a setting passes frames through. Each such notice is posted once, never per frame.
"""

from __future__ import annotations

import contextlib
import ctypes as C
import os
import sys
import threading

import numpy as np

from segfuse import color
from segfuse.errors import NodeError
from segfuse.image import Image
from segfuse.io.frames import FrameRange
from segfuse.plugin.ofx import api, host_colour
from segfuse.plugin.ofx.history import Streams, wait_seconds
from segfuse.runtime import default_registry
from segfuse.runtime.clips import Alpha, ClipSpec, Components
from segfuse.runtime.node import ClipFrames, NodeDescriptor, NodeInstance
from segfuse.runtime.params import Bool, Choice, Color, Double, FilePath, Int, Param, ParamValues, Point2D, Strokes

HOSTS_READ_AND_WRITE = {"org.segfuse.Read", "org.segfuse.Write"}
COMPONENT = {"OfxImageComponentAlpha": 1, "OfxImageComponentRGB": 3, "OfxImageComponentRGBA": 4}
FILTER, GENERAL = "OfxImageEffectContextFilter", "OfxImageEffectContextGeneral"

_lock = threading.Lock()
_suites: dict[str, object] = {}
_instances: dict[int, NodeInstance] = {}
_plugins: list[NodeDescriptor] | None = None
_told: set[tuple[str, str]] = set()  # (effect id, notice) already posted: notices go out once, not per frame
_impls: dict[str, object] = {}  # one node object per effect type: its caches outlive per-frame instances
_streams = Streams()  # sequential histories for hosts without temporal clip access

color.tolerate_bad_ocio()  # a host's $OCIO must not decide whether a render works (MLT mangles it)


def plugins() -> list[NodeDescriptor]:
    global _plugins
    if _plugins is None:
        _plugins = [d for d in default_registry().all() if d.id not in HOSTS_READ_AND_WRITE]
    return _plugins


def plugin_list() -> list[tuple[str, int, int]]:
    """(identifier, major, minor) of every exposed node, in OfxGetPlugin order."""
    return [(d.id, d.version[0], d.version[1]) for d in plugins()]


def set_host(address: int) -> None:
    host = api.OfxHost.from_address(address)

    def fetch(name: bytes, struct):
        pointer = host.fetchSuite(host.host, name, 1)
        return C.cast(pointer, C.POINTER(struct)).contents if pointer else None

    _suites["host"] = host.host
    _suites.update(props=fetch(b"OfxPropertySuite", api.PropertySuiteV1),
                   effect=fetch(b"OfxImageEffectSuite", api.ImageEffectSuiteV1),
                   params=fetch(b"OfxParameterSuite", api.ParameterSuiteV1),
                   message=fetch(b"OfxMessageSuite", api.MessageSuiteV1))


def _props(handle: int | None) -> api.Props:
    return api.Props(_suites["props"], handle)


def _effect_props(effect: int) -> api.Props:
    out = api.Handle()
    _suites["effect"].getPropertySet(effect, C.byref(out))
    return _props(out.value)


def host_has_temporal_access() -> bool:
    return bool(_props(_suites.get("host")).get_int("OfxImageEffectPropTemporalClipAccess", default=0))


def report(handle: int, text: str, kind: bytes = b"OfxMessageError") -> None:
    """Post a message through the host's message suite (and to stderr when the host has none, or
    when $SEGFUSE_OFX_LOG is set: some hosts show messages nowhere useful)."""
    suite = _suites.get("message")
    if os.environ.get("SEGFUSE_OFX_LOG"):
        print(f"SegFuse: {text}", file=sys.stderr)
    if suite is not None:
        suite.message(handle, kind, b"SegFuse", text.replace("%", "%%").encode())
    elif not os.environ.get("SEGFUSE_OFX_LOG"):
        print(f"SegFuse: {text}", file=sys.stderr)


def main_entry(index: int, action: str, handle: int, in_args: int, out_args: int) -> int:
    descriptor = plugins()[index]
    fn = ACTIONS.get(action)
    if fn is None:
        return api.REPLY_DEFAULT
    try:
        return fn(descriptor, handle, _props(in_args or None), _props(out_args or None))
    except Exception as exc:  # every failure becomes a status and a message, never a host crash
        report(handle, f"{descriptor.label}: {exc}")
        return api.FAILED


# ---- describe -------------------------------------------------------------------------------

def _filter_capable(d: NodeDescriptor) -> bool:
    return any(c.name == "Source" for c in d.clips) and all(c.optional or c.name == "Source" for c in d.clips)


def describe(d: NodeDescriptor, handle: int, _in: api.Props, _out: api.Props) -> int:
    props = _effect_props(handle)
    props.set_string("OfxPropLabel", d.label)
    props.set_string("OfxImageEffectPluginPropGrouping", d.group)
    props.set_string("OfxPropPluginDescription", d.help)
    props.set_strings("OfxImageEffectPropSupportedContexts", ([FILTER] if _filter_capable(d) else []) + [GENERAL])
    props.set_strings("OfxImageEffectPropSupportedPixelDepths", ["OfxBitDepthFloat", "OfxBitDepthByte"])
    props.set_int("OfxImageEffectPropTemporalClipAccess", int(any(c.temporal for c in d.clips)))
    props.set_int("OfxImageEffectPropSupportsTiles", 0)
    props.set_int("OfxImageEffectPropSupportsMultiResolution", 0)
    props.set_string("OfxImageEffectPluginRenderThreadSafety", "OfxImageEffectRenderInstanceSafe")
    _offer_colour_management(props)
    return api.OK


def _clip_components(components: tuple[Components, ...]) -> list[str]:
    return ["OfxImageComponentAlpha", "OfxImageComponentRGBA"] if components == (Alpha,) else [
        "OfxImageComponentRGBA", "OfxImageComponentRGB"] + (["OfxImageComponentAlpha"] if Alpha in components else [])


def _output_components(d: NodeDescriptor) -> list[str]:
    """What the Output clip supports: alpha (and RGBA) for matte nodes; RGBA and RGB otherwise, plus alpha
    where the output follows an input that may be alpha (Temporal Median of a matte). Clip preferences
    may only ask for these: a node-graph host (Natron) maps anything else to another layout."""
    output = getattr(d.cls, "output", None)
    if output is Alpha:
        return _clip_components((Alpha,))
    follows_alpha = output is None and any(Alpha in c.components for c in d.clips)
    return _clip_components((Components.RGBA, Components.RGB) + ((Alpha,) if follows_alpha else ()))


def _define_clip(handle: int, name: str, components: list[str], optional: bool, temporal: bool) -> None:
    out = api.Handle()
    _suites["effect"].clipDefine(handle, name.encode(), C.byref(out))
    props = _props(out.value)
    props.set_strings("OfxImageEffectPropSupportedComponents", components)
    props.set_int("OfxImageClipPropOptional", int(optional))
    props.set_int("OfxImageEffectPropTemporalClipAccess", int(temporal))
    props.set_int("OfxImageEffectPropSupportsTiles", 0)


def _param_type(param: Param) -> str:
    return {Int: "OfxParamTypeInteger", Double: "OfxParamTypeDouble", Bool: "OfxParamTypeBoolean",
            Choice: "OfxParamTypeChoice", Color: "OfxParamTypeRGB", Point2D: "OfxParamTypeDouble2D"}.get(
        type(param), "OfxParamTypeString")


def _define_param(param_set: int, param: Param) -> None:
    out = api.Handle()
    kind = _param_type(param)
    status = _suites["params"].paramDefine(param_set, kind.encode(), param.name.encode(), C.byref(out))
    if status != api.OK:
        raise api.OfxError(f"paramDefine {param.name}: status {status}")
    props = _props(out.value)
    info = param.describe()
    props.set_string("OfxPropLabel", info["label"])
    props.set_string("OfxParamPropHint", param.help)
    props.set_string("OfxParamPropScriptName", param.name)
    if kind in ("OfxParamTypeInteger", "OfxParamTypeDouble"):
        setter = props.set_int if kind == "OfxParamTypeInteger" else props.set_double
        setter("OfxParamPropDefault", param.default)
        for key, value in (("Min", param.min), ("Max", param.max)):
            if value is not None:
                setter(f"OfxParamProp{key}", value)
                setter(f"OfxParamPropDisplay{key}", value)
    elif kind == "OfxParamTypeBoolean":
        props.set_int("OfxParamPropDefault", int(bool(param.default)))
    elif kind == "OfxParamTypeChoice":
        props.set_strings("OfxParamPropChoiceOption", list(param.options))
        props.set_int("OfxParamPropDefault", param.options.index(param.default))
    elif kind in ("OfxParamTypeRGB", "OfxParamTypeDouble2D"):
        props.set_doubles("OfxParamPropDefault", list(param.default or ()))
    else:
        default = param.default
        props.set_string("OfxParamPropDefault", " ".join(map(str, default)) if isinstance(default, tuple)
                         else str(default or ""))
        mode = ("OfxParamStringIsFilePath" if isinstance(param, FilePath) else
                "OfxParamStringIsMultiLine" if isinstance(param, Strokes) else "OfxParamStringIsSingleLine")
        props.set_string("OfxParamPropStringMode", mode)
    if kind in ("OfxParamTypeString", "OfxParamTypeChoice", "OfxParamTypeBoolean"):
        props.set_int("OfxParamPropAnimates", 0)


def describe_in_context(d: NodeDescriptor, handle: int, in_args: api.Props, _out: api.Props) -> int:
    _define_clip(handle, "Output", _output_components(d), False, False)
    for clip in d.clips:
        _define_clip(handle, clip.name, _clip_components(clip.components), clip.optional, clip.temporal)
    param_set = api.Handle()
    _suites["effect"].getParamSet(handle, C.byref(param_set))
    for param in d.params:
        _define_param(param_set.value, param)
    if all(p.name != host_colour.PARAM_NAME for p in d.params):
        _define_param(param_set.value, host_colour.PARAM)
    return api.OK


# ---- instances ------------------------------------------------------------------------------

def create_instance(d: NodeDescriptor, handle: int, _in: api.Props, _out: api.Props) -> int:
    instance = NodeInstance(d, f"ofx-{handle:x}")
    with _lock:
        instance.impl = _impls.setdefault(d.id, instance.impl)
        _instances[handle] = instance
    _tell_colour_config_once(d, handle)
    return api.OK


def destroy_instance(d: NodeDescriptor, handle: int, _in: api.Props, _out: api.Props) -> int:
    with _lock:
        _instances.pop(handle, None)
    return api.OK


def _instance(handle: int) -> NodeInstance:
    with _lock:
        return _instances[handle]


def param_values(d: NodeDescriptor, handle: int, time: float) -> ParamValues:
    param_set = api.Handle()
    _suites["effect"].getParamSet(handle, C.byref(param_set))
    values = {}
    for param in d.params:
        h = api.Handle()
        _suites["params"].paramGetHandle(param_set.value, param.name.encode(), C.byref(h), None)
        kind = _param_type(param)
        get = _suites["params"].paramGetValueAtTime
        if kind in ("OfxParamTypeInteger", "OfxParamTypeBoolean", "OfxParamTypeChoice"):
            v = C.c_int()
            get(h.value, time, C.addressof(v), None, None)
            raw = param.options[v.value] if kind == "OfxParamTypeChoice" else v.value
        elif kind == "OfxParamTypeDouble":
            v = C.c_double()
            get(h.value, time, C.addressof(v), None, None)
            raw = v.value
        elif kind in ("OfxParamTypeRGB", "OfxParamTypeDouble2D"):
            vs = [C.c_double() for _ in range(3)]
            get(h.value, time, *(C.addressof(x) for x in vs))
            raw = [x.value for x in vs[: 3 if kind == "OfxParamTypeRGB" else 2]]
        else:
            v = C.c_char_p()
            get(h.value, time, C.addressof(v), None, None)
            raw = (v.value or b"").decode()
        values[param.name] = param.coerce(bool(raw) if kind == "OfxParamTypeBoolean" else raw)
    return ParamValues(values)


class _Clip:
    """A host clip of the instance: handle, connection, spec."""

    def __init__(self, effect: int, name: str, accepted: tuple[Components, ...], time: float) -> None:
        clip, props = api.Handle(), api.Handle()
        _suites["effect"].clipGetHandle(effect, name.encode(), C.byref(clip), C.byref(props))
        self.handle, self.props, self.name = clip.value, _props(props.value), name
        self.connected = _is_connected(self, time)
        self.host_colourspace = self.props.get_string("OfxImageClipPropColourspace", default="")
        rod = api.RectD()
        status = _suites["effect"].clipGetRegionOfDefinition(self.handle, time, C.byref(rod))
        if self.connected and (status != api.OK or rod.x2 <= rod.x1 or rod.y2 <= rod.y1):
            rod = self._bounds_of_image(time) or rod  # some hosts do not implement clip RoDs
        self.rod = rod
        span = [self.props.get_double("OfxImageEffectPropFrameRange", i) for i in (0, 1)] \
            if self.props.dimension("OfxImageEffectPropFrameRange") == 2 else None
        self.frames = FrameRange(int(round(span[0])), int(round(span[1]))) if span else None
        self.host_components = self.props.get_string("OfxImageEffectPropComponents", default="")
        components = components_taken(accepted, self.host_components)
        working = "" if components is Alpha else color.working_space()
        self.spec = ClipSpec(int(rod.x2 - rod.x1), int(rod.y2 - rod.y1), components, self.frames, working)

    def _bounds_of_image(self, time: float) -> api.RectD | None:
        props = api.Handle()
        if _suites["effect"].clipGetImage(self.handle, time, None, C.byref(props)) != api.OK or not props.value:
            return None
        try:
            b = [_props(props.value).get_int("OfxImagePropBounds", i) for i in range(4)]
        finally:
            _suites["effect"].clipReleaseImage(props.value)
        return api.RectD(*map(float, b))

    def image(self, time: float, choice: str = host_colour.AUTO) -> Image | None:
        """The host's image at ``time`` as a SegFuse Image, or None where the clip has no frame."""
        props = api.Handle()
        if _suites["effect"].clipGetImage(self.handle, time, None, C.byref(props)) != api.OK or not props.value:
            return None
        try:
            image_props = _props(props.value)
            pixels = _read_pixels(image_props)
            depth = image_props.get_string("OfxImageEffectPropPixelDepth", default="")
            premultiplied = image_props.get_string("OfxImageEffectPropPreMultiplication", default="")
        finally:
            _suites["effect"].clipReleaseImage(props.value)
        space = host_colour.colourspace(choice, self.host_colourspace, depth)
        return host_pixels_to_image(pixels, self.spec.components, premultiplied == "OfxImagePreMultiplied", space)


def components_taken(accepted: tuple[Components, ...], host_components: str) -> Components:
    """The layout a node sees of a host clip. A clip that takes only alpha gets the alpha channel of
    whatever the host hands it (node-graph hosts' readers deliver RGBA); RGBA stays RGBA where the
    clip accepts it, so a matte carried in alpha survives a node such as Temporal Median; else RGB."""
    if accepted == (Alpha,) or (Alpha in accepted and host_components == "OfxImageComponentAlpha"):
        return Alpha
    if Components.RGBA in accepted and host_components == "OfxImageComponentRGBA":
        return Components.RGBA
    return Components.RGB


def host_pixels_to_image(pixels: np.ndarray, components: Components, premultiplied: bool, space: str) -> Image:
    """Top-down float host pixels (1, 3 or 4 channels) in colourspace ``space`` as the SegFuse Image a
    node expects: alpha untouched, colour in the working space, RGBA straight (unpremultiplied)."""
    if components is Alpha:
        return Image(np.ascontiguousarray(pixels[:, :, -1:]))
    rgb = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels[:, :, :3]
    alpha = pixels[:, :, 3:4] if pixels.shape[2] == 4 else np.ones_like(pixels[:, :, :1])
    if components is Components.RGBA and premultiplied:
        rgb = np.divide(rgb, alpha, out=np.zeros_like(rgb), where=alpha > 0)
    working = color.convert(np.ascontiguousarray(rgb), space, color.working_space())
    if components is Components.RGBA:
        working = np.ascontiguousarray(np.concatenate([working, alpha], axis=2))
    return Image(working, color.working_space())


def _view(props: api.Props) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A numpy view (bottom-up rows, as OFX lays them out) over an image's buffer, and its bounds."""
    bounds = tuple(props.get_int("OfxImagePropBounds", i) for i in range(4))
    width, height = bounds[2] - bounds[0], bounds[3] - bounds[1]
    channels = COMPONENT[props.get_string("OfxImageEffectPropComponents")]
    dtype = np.float32 if props.get_string("OfxImageEffectPropPixelDepth") == "OfxBitDepthFloat" else np.uint8
    row_bytes = props.get_int("OfxImagePropRowBytes")
    size = abs(row_bytes) * height
    raw = np.ctypeslib.as_array(C.cast(props.get_pointer("OfxImagePropData"), C.POINTER(C.c_ubyte)), (size,))
    item = np.dtype(dtype).itemsize
    view = np.lib.stride_tricks.as_strided(raw.view(dtype), (height, width, channels),
                                           (row_bytes, channels * item, item), writeable=True)
    return view, bounds


def _read_pixels(props: api.Props) -> np.ndarray:
    view, _ = _view(props)
    pixels = view[::-1].astype(np.float32)
    if view.dtype == np.uint8:
        pixels /= 255.0
    return pixels


def _connected_clips(d: NodeDescriptor, effect: int, time: float) -> dict[str, _Clip]:
    clips = {c.name: _Clip(effect, c.name, c.components, time) for c in d.clips}
    return {name: clip for name, clip in clips.items() if clip.connected}


def unconnected_required(d: NodeDescriptor, clips: dict[str, _Clip]) -> list[str]:
    """Required clips the host has not connected yet (node-graph hosts ask while a user wires)."""
    return [c.name for c in d.clips if not c.optional and c.name not in clips]


def _region_while_wiring(d: NodeDescriptor, clips: dict[str, _Clip], out_args: api.Props) -> int:
    """A region of definition for an effect whose required inputs are not all connected: the first
    connected input's (in declaration order), else the host's default. Never an error: hosts ask at
    creation and after every new wire, and an error there marks the node as broken."""
    first = next((clips[c.name] for c in d.clips if c.name in clips), None)
    if first is None or first.rod.x2 <= first.rod.x1 or first.rod.y2 <= first.rod.y1:
        return api.REPLY_DEFAULT
    r = first.rod
    out_args.set_doubles("OfxImageEffectPropRegionOfDefinition", [r.x1, r.y1, r.x2, r.y2])
    return api.OK


def get_region_of_definition(d: NodeDescriptor, handle: int, in_args: api.Props, out_args: api.Props) -> int:
    time = in_args.get_double("OfxPropTime")
    clips = _connected_clips(d, handle, time)
    if unconnected_required(d, clips):
        return _region_while_wiring(d, clips, out_args)
    params = param_values(d, handle, time)
    if _missing_setting(d, handle, params, clips) is not None:
        spec = clips["Source"].spec  # passed through: the input's region
    else:
        try:
            spec = _instance(handle).output_spec({n: c.spec for n, c in clips.items()}, params)
        except NodeError:
            if len(clips) == len(d.clips):
                raise
            return _region_while_wiring(d, clips, out_args)  # e.g. init 'hint' before Hint is wired: render says so
    out_args.set_doubles("OfxImageEffectPropRegionOfDefinition", [0.0, 0.0, float(spec.width), float(spec.height)])
    return api.OK


def get_regions_of_interest(d: NodeDescriptor, handle: int, in_args: api.Props, out_args: api.Props) -> int:
    time = in_args.get_double("OfxPropTime")
    for name, clip in _connected_clips(d, handle, time).items():  # whole frames: nodes see the full image
        r = clip.rod
        out_args.set_doubles(f"OfxImageClipPropRoI_{name}", [r.x1, r.y1, r.x2, r.y2])
    return api.OK


def get_frames_needed(d: NodeDescriptor, handle: int, in_args: api.Props, out_args: api.Props) -> int:
    time = in_args.get_double("OfxPropTime")
    t = int(round(time))
    clips = _connected_clips(d, handle, time)
    needed = _instance(handle).frames_needed(t, list(clips), param_values(d, handle, time), _clip_ranges(clips))
    for name, times in needed.items():
        if times:
            out_args.set_doubles(f"OfxImageClipPropFrameRange_{name}", [float(v) for v in _runs(times)])
    return api.OK


def _runs(times: list[int]) -> list[int]:
    """Frames as OFX frame ranges: (first, last) of each run of consecutive frames, flattened."""
    runs: list[int] = []
    for s in sorted(times):
        if runs and s == runs[-1] + 1:
            runs[-1] = s
        else:
            runs += [s, s]
    return runs


def _clip_ranges(clips: dict[str, _Clip]) -> dict[str, FrameRange | None] | None:
    """Each clip's frame range as the host declares it, for nodes that learn from a whole clip (Motion
    Matte, Fix); None on hosts that cannot hand other frames (they would wait for frames never given)."""
    if not host_has_temporal_access():
        return None
    return {name: clip.frames for name, clip in clips.items()}


def _output_is_alpha(d: NodeDescriptor, clips: dict[str, _Clip]) -> bool:
    """Alpha out for matte nodes, and for 'same as input' nodes fed an alpha clip."""
    output = getattr(d.cls, "output", None)
    if output is not None:
        return output is Alpha
    first = next((clips[c.name] for c in d.clips if c.name in clips), None)
    return first is not None and first.spec.components is Alpha


def get_clip_preferences(d: NodeDescriptor, handle: int, in_args: api.Props, out_args: api.Props) -> int:
    clips = _connected_clips(d, handle, 0.0)
    out_args.set_string("OfxImageClipPropComponents_Output",
                        "OfxImageComponentAlpha" if _output_is_alpha(d, clips) else "OfxImageComponentRGBA")
    for clip in d.clips:
        takes_alpha = clip.components == (Alpha,) or (clip.name in clips and clips[clip.name].spec.components is Alpha)
        wanted = "OfxImageComponentAlpha" if takes_alpha else "OfxImageComponentRGBA"
        out_args.set_string(f"OfxImageClipPropComponents_{clip.name}", wanted)
    out_args.set_string("OfxImageEffectPropPreMultiplication", "OfxImageAlphaUnPremultiplied")
    return api.OK


def is_identity(d: NodeDescriptor, handle: int, in_args: api.Props, out_args: api.Props) -> int:
    time = in_args.get_double("OfxPropTime")
    params = param_values(d, handle, time)
    clip = _instance(handle).is_identity(int(round(time)), params)
    if clip is None and _missing_setting(d, handle, params, _connected_clips(d, handle, time)) is not None:
        clip = "Source"
    if clip is None:
        return api.REPLY_DEFAULT
    out_args.set_string("OfxPropName", clip)
    out_args.set_double("OfxPropTime", time)
    return api.OK


def render(d: NodeDescriptor, handle: int, in_args: api.Props, _out: api.Props) -> int:
    time = in_args.get_double("OfxPropTime")
    t = int(round(time))
    window = [int(round(v)) for v in in_args.get_numbers("OfxImageEffectPropRenderWindow", 4)]
    instance, params = _instance(handle), param_values(d, handle, time)
    clips = _connected_clips(d, handle, time)
    missing = unconnected_required(d, clips)
    if missing:
        raise RuntimeError(f"connect the {', '.join(repr(n) for n in missing)} input{'s' if len(missing) > 1 else ''} "
                           "to render")
    if _missing_setting(d, handle, params, clips) is not None:
        return _pass_through(handle, clips["Source"], time, window)
    choice = _colourspace_choice(handle, time)
    spec = instance.output_spec({n: c.spec for n, c in clips.items()}, params)
    temporal_host = host_has_temporal_access()
    inputs = {}
    for name, times in instance.frames_needed(t, list(clips), params, _clip_ranges(clips)).items():
        clip = clips[name]
        if not temporal_host and len(times) > 1:
            images = _frames_from_history(d, handle, clip, t, times, params, choice)
        else:
            images = {}
            trust_range = clip.frames is not None and t in clip.frames  # some hosts declare ranges loosely
            for s in times:
                if trust_range and s not in clip.frames:
                    continue
                image = clip.image(float(s), choice)
                if image is not None:
                    images[s] = image
        if t not in images and not images and times:
            raise RuntimeError(f"clip '{name}' has no image at frame {t}")
        inputs[name] = ClipFrames(name, clip.spec, t, images)
    result = instance.render(t, inputs, params)
    notice = getattr(instance.impl, "host_notice", None)
    text = notice(params) if callable(notice) else None
    if text:
        _tell_once(d, handle, text)
    if result.size != spec.size:
        raise RuntimeError(f"rendered {result.width}×{result.height}, declared {spec.width}×{spec.height}")
    _write_output(handle, time, result, window, choice)
    return api.OK


def _write_output(effect: int, time: float, result: Image, window: list[int], choice: str = host_colour.AUTO,
                  convert: bool = True) -> None:
    clip, props, clip_props = api.Handle(), api.Handle(), api.Handle()
    _suites["effect"].clipGetHandle(effect, b"Output", C.byref(clip), C.byref(clip_props))
    if _suites["effect"].clipGetImage(clip.value, time, None, C.byref(props)) != api.OK:
        raise RuntimeError("the host gave no output image")
    try:
        view, bounds = _view(_props(props.value))
        pixels = result.pixels
        if result.channels > 1 and convert:
            named = _props(clip_props.value).get_string("OfxImageClipPropColourspace", default="")
            depth = "OfxBitDepthByte" if view.dtype == np.uint8 else "OfxBitDepthFloat"
            pixels = color.convert(pixels, result.colorspace or color.working_space(),
                                   host_colour.colourspace(choice, named, depth))
        pixels = pixels[::-1]  # to bottom-up rows
        channels = view.shape[2]
        if channels == 4:
            if result.channels == 1:
                pixels = np.repeat(pixels, 4, axis=2)
            elif result.channels == 3:
                pixels = np.concatenate([pixels, np.ones_like(pixels[:, :, :1])], axis=2)
        elif channels == 1:
            pixels = pixels[:, :, -1:]
        else:
            pixels = pixels[:, :, :3] if result.channels >= 3 else np.repeat(pixels, 3, axis=2)
        x1, y1 = max(window[0], bounds[0], 0), max(window[1], bounds[1], 0)
        x2 = min(window[2], bounds[2], result.width)
        y2 = min(window[3], bounds[3], result.height)
        region = pixels[y1:y2, x1:x2]
        if view.dtype == np.uint8:
            region = np.clip(region * 255.0 + 0.5, 0, 255).astype(np.uint8)
        view[y1 - bounds[1]:y2 - bounds[1], x1 - bounds[0]:x2 - bounds[0]] = region
    finally:
        _suites["effect"].clipReleaseImage(props.value)


# ---- adapting to hosts (see the module docstring) -----------------------------------------------

def _tell_once(d: NodeDescriptor, handle: int, text: str, kind: bytes = b"OfxMessageWarning") -> None:
    """Post a notice once per effect type and text in this process: never per frame, even on hosts that
    create an instance per frame."""
    key = (d.id, text)
    with _lock:
        if key in _told:
            return
        _told.add(key)
    report(handle, f"{d.label}: {text}", kind)


def _tell_colour_config_once(d: NodeDescriptor, handle: int) -> None:
    warning = color.config_warning()
    if warning:
        _tell_once(d, handle, warning)


def _offer_colour_management(props: api.Props) -> None:
    """Ask hosts with OpenFX 1.5 colour management to name each clip's colourspace (others ignore it)."""
    with contextlib.suppress(api.OfxError):  # a host that does not know the property
        props.set_string("OfxImageEffectPropColourManagementStyle", "OfxImageEffectPropColourManagementBasic")


def _colourspace_choice(handle: int, time: float) -> str:
    """The effect's ``colourspace`` param (added by the bridge to every effect)."""
    param_set, h = api.Handle(), api.Handle()
    _suites["effect"].getParamSet(handle, C.byref(param_set))
    if _suites["params"].paramGetHandle(param_set.value, host_colour.PARAM_NAME.encode(), C.byref(h), None) != api.OK:
        return host_colour.AUTO
    v = C.c_int()
    _suites["params"].paramGetValueAtTime(h.value, time, C.addressof(v), None, None)
    options = host_colour.PARAM.options
    return options[v.value] if 0 <= v.value < len(options) else host_colour.AUTO


def _is_connected(clip: _Clip, time: float) -> bool:
    """Connected when the host says so; a host that does not say (MLT, for optional clips) is believed
    only if it hands over an image with bounds."""
    said = clip.props.get_int("OfxImageClipPropConnected", default=-1)
    if said >= 0:
        return bool(said)
    try:
        return clip._bounds_of_image(time) is not None
    except api.OfxError:  # an image without bounds: nothing is connected there
        return False


def _missing_setting(d: NodeDescriptor, handle: int, params: ParamValues, clips: dict[str, _Clip]) -> str | None:
    """What the user must still set (the node says), told once; None when the node can render."""
    missing = _instance(handle).missing_setting(params)
    if missing is None or "Source" not in clips:
        return None
    _tell_once(d, handle, f"{missing}; until then the frames pass through unchanged")
    return missing


def _pass_through(handle: int, source: _Clip, time: float, window: list[int]) -> int:
    """Copy the Source frame to the output unchanged (no colour round trip)."""
    props = api.Handle()
    if _suites["effect"].clipGetImage(source.handle, time, None, C.byref(props)) != api.OK or not props.value:
        raise RuntimeError(f"clip 'Source' has no image at frame {time:g}")
    try:
        pixels = _read_pixels(_props(props.value))
    finally:
        _suites["effect"].clipReleaseImage(props.value)
    rgb = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels[:, :, :3]
    _write_output(handle, time, Image(np.ascontiguousarray(rgb), color.working_space()), window, convert=False)
    return api.OK


def _frames_from_history(d: NodeDescriptor, handle: int, clip: _Clip, t: int, times: list[int],
                         params: ParamValues, choice: str) -> dict[int, Image]:
    """For hosts without temporal access: the frame at ``t`` from the host, earlier ones from the
    stream's history of frames the host handed before (see ``history``)."""
    current = clip.image(float(t), choice)
    if current is None:
        return {}
    key = (d.id, clip.name, repr(sorted(params.as_dict().items())), choice, clip.spec.size)
    history = _streams.get(key, lookback=max(0, t - min(times)))
    history.add(t, current)
    first = clip.frames.first if clip.frames is not None else 0
    images = history.frames(t, times, first=first, wait_s=wait_seconds())
    _tell_once(d, handle, "this host gives effects no access to other frames: SegFuse keeps the frames the "
                          "host hands it and uses them, so renders in frame order equal the command line "
                          "(after a jump, the first frames use fewer frames)")
    return images


def _ok(*_args) -> int:
    return api.OK


ACTIONS = {
    "OfxActionLoad": _ok,
    "OfxActionUnload": _ok,
    "OfxActionDescribe": describe,
    "OfxImageEffectActionDescribeInContext": describe_in_context,
    "OfxActionCreateInstance": create_instance,
    "OfxActionDestroyInstance": destroy_instance,
    "OfxImageEffectActionGetRegionOfDefinition": get_region_of_definition,
    "OfxImageEffectActionGetRegionsOfInterest": get_regions_of_interest,
    "OfxImageEffectActionGetFramesNeeded": get_frames_needed,
    "OfxImageEffectActionGetClipPreferences": get_clip_preferences,
    "OfxImageEffectActionIsIdentity": is_identity,
    "OfxImageEffectActionRender": render,
}
