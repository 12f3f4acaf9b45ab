"""A small OpenFX host for tests: loads a bundle with dlopen as hosts do, implements the property,
image-effect, parameter and message suites in Python (ctypes), supplies clip images from numpy
arrays and returns rendered outputs. Enough of the spec for SegFuse's effects, nothing more."""

from __future__ import annotations

import ctypes as C
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segfuse.plugin.ofx import api

OK, FAILED, UNKNOWN, UNSUPPORTED, BAD_INDEX, DEFAULT = 0, 1, 3, 5, 10, 14


class OfxPlugin(C.Structure):
    _fields_ = [("pluginApi", C.c_char_p), ("apiVersion", C.c_int), ("pluginIdentifier", C.c_char_p),
                ("pluginVersionMajor", C.c_uint), ("pluginVersionMinor", C.c_uint),
                ("setHost", C.CFUNCTYPE(None, C.POINTER(api.OfxHost))),
                ("mainEntry", C.CFUNCTYPE(C.c_int, C.c_char_p, C.c_void_p, C.c_void_p, C.c_void_p))]


@dataclass
class PropSet:
    values: dict[str, list] = field(default_factory=dict)


@dataclass
class ClipSource:
    """What the host feeds a clip: a function of the frame number, a frame range, components."""

    frames: callable  # t -> H×W×4 (RGBA) or H×W×1 (alpha) float32, top-down
    first: int
    last: int
    components: str = "OfxImageComponentRGBA"
    depth: str = "OfxBitDepthFloat"  # or OfxBitDepthByte: the host hands 8-bit images
    premultiplied: bool = False  # the images say OfxImagePreMultiplied (colour times alpha)


class Host:
    def __init__(self, bundle: Path) -> None:
        binary = next((bundle / "Contents").glob("Linux-*/*.ofx"))
        self.lib = C.CDLL(str(binary))
        self.lib.OfxGetPlugin.restype = C.POINTER(OfxPlugin)
        self.objects: dict[int, object] = {}
        self._strings: list = []
        self.messages: list[str] = []
        self._next = 1
        self._make_suites()
        self.host_props = self.new(PropSet({"OfxPropName": [b"segfuse.testhost"], "OfxPropLabel": [b"Test host"],
                                            "OfxImageEffectHostPropIsBackground": [1],
                                            "OfxImageEffectPropTemporalClipAccess": [1]}))
        self.host = api.OfxHost(C.c_void_p(self.host_props), self._fetch)

    # -- handles --
    def new(self, obj) -> int:
        handle = self._next
        self._next += 1
        self.objects[handle] = obj
        return handle

    def _obj(self, handle):
        return self.objects.get(handle)

    # -- suites --
    def _make_suites(self) -> None:
        P = api.PropertySuiteV1  # noqa: N806
        f = {name: typ for name, typ in P._fields_}

        def setter(kind):
            def fn(handle, name, index, value):
                props = self._obj(handle)
                if not isinstance(props, PropSet):
                    return 9
                values = props.values.setdefault(name.decode(), [])
                while len(values) <= index:
                    values.append(None)
                values[index] = value.value if kind == "ptr" and isinstance(value, C.c_void_p) else value
                return OK
            return fn

        def getter(ctype):
            def fn(handle, name, index, out):
                props = self._obj(handle)
                if not isinstance(props, PropSet):
                    return 9
                values = props.values.get(name.decode())
                if values is None:
                    return UNKNOWN
                if index >= len(values):
                    return BAD_INDEX
                value = values[index]
                if ctype == "str":
                    buf = C.create_string_buffer(value if isinstance(value, bytes) else str(value).encode())
                    self._strings.append(buf)
                    out[0] = C.cast(buf, C.c_char_p)
                else:
                    out[0] = value
                return OK
            return fn

        def dimension(handle, name, out):
            props = self._obj(handle)
            values = props.values.get(name.decode()) if isinstance(props, PropSet) else None
            if values is None:
                return UNKNOWN
            out[0] = len(values)
            return OK

        def unsupported(*_):
            return UNSUPPORTED

        self.prop_suite = P(
            f["propSetPointer"](setter("ptr")), f["propSetString"](setter("str")),
            f["propSetDouble"](setter("dbl")), f["propSetInt"](setter("int")),
            f["propSetPointerN"](unsupported), f["propSetStringN"](unsupported),
            f["propSetDoubleN"](unsupported), f["propSetIntN"](unsupported),
            f["propGetPointer"](getter("ptr")), f["propGetString"](getter("str")),
            f["propGetDouble"](getter("dbl")), f["propGetInt"](getter("int")),
            f["propGetPointerN"](unsupported), f["propGetStringN"](unsupported),
            f["propGetDoubleN"](unsupported), f["propGetIntN"](unsupported),
            f["propReset"](unsupported), f["propGetDimension"](dimension))

        E = api.ImageEffectSuiteV1  # noqa: N806
        e = {name: typ for name, typ in E._fields_}
        self.effect_suite = E(
            e["getPropertySet"](lambda h, out: self._out(out, self._obj(h)["props"])),
            e["getParamSet"](lambda h, out: self._out(out, self._obj(h)["params"])),
            e["clipDefine"](self._clip_define), e["clipGetHandle"](self._clip_get_handle),
            e["clipGetPropertySet"](lambda h, out: self._out(out, self._obj(h)["props"])),
            e["clipGetImage"](self._clip_get_image), e["clipReleaseImage"](self._release_image),
            e["clipGetRegionOfDefinition"](self._clip_rod), e["abort"](lambda h: 0),
            e["imageMemoryAlloc"](unsupported), e["imageMemoryFree"](unsupported),
            e["imageMemoryLock"](unsupported), e["imageMemoryUnlock"](unsupported))

        Q = api.ParameterSuiteV1  # noqa: N806
        q = {name: typ for name, typ in Q._fields_}
        self.param_suite = Q(q["paramDefine"](self._param_define), q["paramGetHandle"](self._param_get_handle),
                             q["paramSetGetPropertySet"](lambda h, out: self._out(out, self._obj(h)["props"])),
                             q["paramGetPropertySet"](lambda h, out: self._out(out, self._obj(h)["props"])),
                             q["paramGetValue"](lambda h, a, b, c: self._param_value(h, a, b, c)),
                             q["paramGetValueAtTime"](lambda h, t, a, b, c: self._param_value(h, a, b, c)),
                             *([None] * 12))
        M = api.MessageSuiteV1  # noqa: N806
        self.message_suite = M(M._fields_[0][1](self._message))
        fetch_type = api.OfxHost._fields_[1][1]
        suites = {b"OfxPropertySuite": self.prop_suite, b"OfxImageEffectSuite": self.effect_suite,
                  b"OfxParameterSuite": self.param_suite, b"OfxMessageSuite": self.message_suite}
        self._fetch = fetch_type(lambda host, name, version: C.addressof(suites[name]) if name in suites else None)

    def _out(self, out, handle) -> int:
        out[0] = handle
        return OK

    def _message(self, handle, kind, ident, text) -> int:
        self.messages.append(f"{kind.decode()}: {text.decode().replace('%%', '%')}")
        return OK

    # -- clips and images --
    def _clip_define(self, effect, name, out) -> int:
        desc = self._obj(effect)
        clip = {"name": name.decode(), "props": self.new(PropSet({"OfxPropName": [name]}))}
        desc["clips"][name.decode()] = clip
        return self._out(out, clip["props"])

    def _clip_get_handle(self, effect, name, out_clip, out_props) -> int:
        inst = self._obj(effect)
        clip = inst["clips"].get(name.decode())
        if clip is None:
            return UNKNOWN
        out_clip[0] = clip["handle"]
        if out_props:
            out_props[0] = clip["props"]
        return OK

    def _clip_rod(self, handle, time, out) -> int:
        clip = self._obj(handle)
        h, w = clip.get("size", (0, 0))  # an unconnected clip has an empty region
        out[0] = api.RectD(0, 0, w, h)
        return OK

    def _clip_get_image(self, handle, time, region, out) -> int:
        clip = self._obj(handle)
        t = int(round(time))
        if clip["name"] == "Output":
            h, w = clip["size"]
            channels = 1 if clip["components"] == "OfxImageComponentAlpha" else 4
            pixels = np.zeros((h, w, channels), np.uint8 if clip["depth"] == "OfxBitDepthByte" else np.float32)
            clip["result"] = pixels
        else:
            source: ClipSource = clip["source"]
            if not source.first <= t <= source.last:
                return FAILED
            clip["fetched"].append(t)
            pixels = np.ascontiguousarray(source.frames(t)[::-1], np.float32)  # OFX rows: bottom-up
            if source.depth == "OfxBitDepthByte":
                pixels = np.clip(pixels * 255 + 0.5, 0, 255).astype(np.uint8)
        comps = {1: "OfxImageComponentAlpha", 3: "OfxImageComponentRGB", 4: "OfxImageComponentRGBA"}[pixels.shape[2]]
        image = self.new(PropSet({
            "OfxImagePropData": [pixels.ctypes.data], "OfxImagePropBounds": [0, 0, pixels.shape[1], pixels.shape[0]],
            "OfxImagePropRowBytes": [pixels.strides[0]], "OfxImageEffectPropComponents": [comps.encode()],
            "OfxImageEffectPropPixelDepth": [(b"OfxBitDepthByte" if pixels.dtype == np.uint8 else b"OfxBitDepthFloat")],
            "OfxImagePropField": [b"OfxFieldNone"], "OfxImageEffectPropPreMultiplication": [
                b"OfxImagePreMultiplied" if clip.get("source") and clip["source"].premultiplied
                else b"OfxImageUnPreMultiplied"]}))
        self.objects[image].keep = pixels  # the buffer lives as long as the image handle
        return self._out(out, image)

    def _release_image(self, handle) -> int:
        self.objects.pop(handle, None)
        return OK

    # -- params --
    def _param_define(self, param_set, kind, name, out) -> int:
        params = self._obj(param_set)["params"]
        props = self.new(PropSet({"OfxParamPropType": [kind]}))
        params[name.decode()] = {"kind": kind.decode(), "props": props, "handle": None}
        return self._out(out, props)

    def _param_get_handle(self, param_set, name, out, out_props) -> int:
        param = self._obj(param_set)["params"].get(name.decode())
        if param is None:
            return UNKNOWN
        out[0] = param["handle"]
        if out_props:
            out_props[0] = param["props"]
        return OK

    def _param_value(self, handle, a, b, c) -> int:
        param = self._obj(handle)
        value, kind = param["value"], param["kind"]
        if kind in ("OfxParamTypeInteger", "OfxParamTypeBoolean", "OfxParamTypeChoice"):
            C.c_int.from_address(a).value = int(value)
        elif kind == "OfxParamTypeDouble":
            C.c_double.from_address(a).value = float(value)
        elif kind in ("OfxParamTypeRGB", "OfxParamTypeDouble2D"):
            for address, v in zip((a, b, c), value, strict=False):
                C.c_double.from_address(address).value = float(v)
        else:
            buf = C.create_string_buffer(str(value).encode())
            self._strings.append(buf)
            C.c_void_p.from_address(a).value = C.addressof(buf)
        return OK

    # -- the plugin side --
    def plugins(self) -> dict[str, tuple[int, int]]:
        n = self.lib.OfxGetNumberOfPlugins()
        out = {}
        for i in range(n):
            p = self.lib.OfxGetPlugin(i).contents
            out[p.pluginIdentifier.decode()] = (p.pluginVersionMajor, p.pluginVersionMinor)
        return out

    def _plugin(self, ident: str) -> OfxPlugin:
        for i in range(self.lib.OfxGetNumberOfPlugins()):
            p = self.lib.OfxGetPlugin(i).contents
            if p.pluginIdentifier.decode() == ident:
                return p
        raise KeyError(ident)

    def call(self, plugin: OfxPlugin, action: str, handle: int | None, in_args: dict | None = None,
             out_args: dict | None = None) -> tuple[int, PropSet]:
        ins = self.new(PropSet({k: list(v) for k, v in (in_args or {}).items()}))
        outs = self.new(PropSet({k: list(v) for k, v in (out_args or {}).items()}))
        status = plugin.mainEntry(action.encode(), handle, ins, outs)
        return status, self.objects[outs]

    def describe(self, ident: str, context: str) -> dict:
        plugin = self._plugin(ident)
        plugin.setHost(C.pointer(self.host))
        assert self.call(plugin, "OfxActionLoad", None)[0] in (OK, DEFAULT)
        desc = {"props": self.new(PropSet()), "clips": {}, "params": {}}
        desc["params_handle"] = self.new({"props": self.new(PropSet()), "params": desc["params"]})
        desc["params"] = self.objects[desc["params_handle"]]["params"]
        handle = self.new({"props": desc["props"], "params": desc["params_handle"], "clips": desc["clips"]})
        status, _ = self.call(plugin, "OfxActionDescribe", handle)
        assert status == OK, status
        status, _ = self.call(plugin, "OfxImageEffectActionDescribeInContext", handle,
                              {"OfxImageEffectPropContext": [context.encode()]})
        assert status == OK, (status, self.messages)
        return {"plugin": plugin, "props": self.objects[desc["props"]].values, "clips": desc["clips"],
                "params": desc["params"], "context": context}

    def instance(self, ident: str, context: str, sources: dict[str, ClipSource], params: dict,
                 output_depth: str = "OfxBitDepthFloat") -> Instance:
        desc = self.describe(ident, context)
        return Instance(self, desc, sources, params, output_depth)


class Instance:
    def __init__(self, host: Host, desc: dict, sources: dict[str, ClipSource], params: dict,
                 output_depth: str = "OfxBitDepthFloat") -> None:
        self.host, self.plugin = host, desc["plugin"]
        clips = {}
        size = None
        for name, d in desc["clips"].items():
            props = host.objects[d["props"]].values
            source = sources.get(name)
            connected = source is not None or name == "Output"
            entry = {"name": name, "source": source, "fetched": [], "components": "OfxImageComponentRGBA",
                     "depth": output_depth}
            if source is not None:
                first = source.frames(source.first)
                entry["size"] = first.shape[:2]
                size = size or entry["size"]
                props.update({"OfxImageEffectPropFrameRange": [float(source.first), float(source.last)],
                              "OfxImageEffectPropComponents": [source.components.encode()]})
            props["OfxImageClipPropConnected"] = [int(connected)]
            entry["props"] = d["props"]
            entry["handle"] = host.new(entry)
            clips[name] = entry
        self.clips = clips
        param_set = {"props": host.new(PropSet()), "params": {}}
        for name, p in desc["params"].items():
            pprops = host.objects[p["props"]].values
            default = pprops.get("OfxParamPropDefault", [None])
            value = params.get(name, default if len(default) > 1 else default[0])
            if p["kind"] == "OfxParamTypeChoice" and isinstance(value, str):
                options = [o.decode() if isinstance(o, bytes) else o for o in pprops["OfxParamPropChoiceOption"]]
                value = options.index(value)
            if isinstance(value, bytes):
                value = value.decode()
            entry = {"kind": p["kind"], "props": p["props"], "value": value}
            entry["handle"] = host.new(entry)
            param_set["params"][name] = entry
        self.params = param_set["params"]
        self.handle = host.new({"props": host.new(PropSet({"OfxImageEffectPropContext": [desc["context"].encode()]})),
                                "params": host.new(param_set), "clips": clips})
        status, _ = host.call(self.plugin, "OfxActionCreateInstance", self.handle)
        assert status in (OK, DEFAULT), status
        self._clip_preferences()

    def _clip_preferences(self) -> None:
        status, out = self.host.call(self.plugin, "OfxImageEffectActionGetClipPreferences", self.handle)
        assert status in (OK, DEFAULT), status
        prefix = "OfxImageClipPropComponents_"
        for key, (wanted,) in ((k, v) for k, v in out.values.items() if k.startswith(prefix)):
            clip = self.clips[key[len(prefix):]]  # a host honours only components the clip supports
            supported = self.host.objects[clip["props"]].values["OfxImageEffectPropSupportedComponents"]
            assert wanted in supported, f"{key} = {wanted!r}, not among the clip's supported {supported}"
        comps = out.values.get("OfxImageClipPropComponents_Output", [b"OfxImageComponentRGBA"])[0]
        self.clips["Output"]["components"] = comps.decode()

    def frames_needed(self, t: int) -> dict[str, tuple[float, float]]:
        status, out = self.host.call(self.plugin, "OfxImageEffectActionGetFramesNeeded", self.handle,
                                     {"OfxPropTime": [float(t)]})
        assert status in (OK, DEFAULT), status
        prefix = "OfxImageClipPropFrameRange_"
        return {k[len(prefix):]: tuple(v) for k, v in out.values.items() if k.startswith(prefix)}

    def render(self, t: int) -> tuple[int, np.ndarray | None]:
        status, out = self.host.call(self.plugin, "OfxImageEffectActionGetRegionOfDefinition", self.handle,
                                     {"OfxPropTime": [float(t)], "OfxImageEffectPropRenderScale": [1.0, 1.0]})
        if status != OK:
            return status, None
        x1, y1, x2, y2 = out.values["OfxImageEffectPropRegionOfDefinition"]
        self.clips["Output"]["size"] = (int(y2 - y1), int(x2 - x1))
        status, _ = self.host.call(self.plugin, "OfxImageEffectActionRender", self.handle, {
            "OfxPropTime": [float(t)], "OfxImageEffectPropRenderWindow": [0, 0, int(x2), int(y2)],
            "OfxImageEffectPropRenderScale": [1.0, 1.0], "OfxImageEffectPropFieldToRender": [b"OfxFieldNone"]})
        result = self.clips["Output"].get("result")
        return status, None if result is None else result[::-1].copy()  # back to top-down rows

    def destroy(self) -> None:
        self.host.call(self.plugin, "OfxActionDestroyInstance", self.handle)
