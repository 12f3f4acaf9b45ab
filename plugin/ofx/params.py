"""Params: each SegFuse param defined as an OFX param, and the values read back at a render time.

Types without an OFX counterpart (file paths, strokes, rectangles) are strings the param coerces.
Every effect also gets the bridge's ``colourspace`` choice (see ``host_colour``).
"""

from __future__ import annotations

import ctypes as C

from segfuse.plugin.ofx import api, host_colour
from segfuse.plugin.ofx.suites import SUITES, props
from segfuse.runtime import (
    Bool,
    Choice,
    Color,
    Double,
    FilePath,
    Int,
    NodeDescriptor,
    Param,
    ParamValues,
    Point2D,
    Strokes,
)


def param_type(param: Param) -> str:
    """The OFX param type a SegFuse param is shown as (a string where OFX has no such type)."""
    return {Int: "OfxParamTypeInteger", Double: "OfxParamTypeDouble", Bool: "OfxParamTypeBoolean",
            Choice: "OfxParamTypeChoice", Color: "OfxParamTypeRGB", Point2D: "OfxParamTypeDouble2D"}.get(
        type(param), "OfxParamTypeString")


def define_param(param_set: int, param: Param) -> None:
    """Define ``param`` in an effect's param set: label, hint, default, range, string mode."""
    out = api.Handle()
    kind = param_type(param)
    status = SUITES["params"].paramDefine(param_set, kind.encode(), param.name.encode(), C.byref(out))
    if status != api.OK:
        raise api.OfxError(f"paramDefine {param.name}: status {status}")
    p = props(out.value)
    info = param.describe()
    p.set_string("OfxPropLabel", info["label"])
    p.set_string("OfxParamPropHint", param.help)
    p.set_string("OfxParamPropScriptName", param.name)
    if kind in ("OfxParamTypeInteger", "OfxParamTypeDouble"):
        setter = p.set_int if kind == "OfxParamTypeInteger" else p.set_double
        setter("OfxParamPropDefault", param.default)
        for key, value in (("Min", param.min), ("Max", param.max)):
            if value is not None:
                setter(f"OfxParamProp{key}", value)
                setter(f"OfxParamPropDisplay{key}", value)
    elif kind == "OfxParamTypeBoolean":
        p.set_int("OfxParamPropDefault", int(bool(param.default)))
    elif kind == "OfxParamTypeChoice":
        p.set_strings("OfxParamPropChoiceOption", list(param.options))
        p.set_int("OfxParamPropDefault", param.options.index(param.default))
    elif kind in ("OfxParamTypeRGB", "OfxParamTypeDouble2D"):
        p.set_doubles("OfxParamPropDefault", list(param.default or ()))
    else:
        default = param.default
        p.set_string("OfxParamPropDefault", " ".join(map(str, default)) if isinstance(default, tuple)
                     else str(default or ""))
        mode = ("OfxParamStringIsFilePath" if isinstance(param, FilePath) else
                "OfxParamStringIsMultiLine" if isinstance(param, Strokes) else "OfxParamStringIsSingleLine")
        p.set_string("OfxParamPropStringMode", mode)
    if kind in ("OfxParamTypeString", "OfxParamTypeChoice", "OfxParamTypeBoolean"):
        p.set_int("OfxParamPropAnimates", 0)


def param_values(d: NodeDescriptor, handle: int, time: float) -> ParamValues:
    """The node's param values on effect ``handle`` at ``time``, each coerced by its param."""
    param_set = api.Handle()
    SUITES["effect"].getParamSet(handle, C.byref(param_set))
    values = {}
    for param in d.params:
        h = api.Handle()
        SUITES["params"].paramGetHandle(param_set.value, param.name.encode(), C.byref(h), None)
        kind = param_type(param)
        get = SUITES["params"].paramGetValueAtTime
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


def colourspace_choice(handle: int, time: float) -> str:
    """The effect's ``colourspace`` param (added by the bridge to every effect)."""
    param_set, h = api.Handle(), api.Handle()
    SUITES["effect"].getParamSet(handle, C.byref(param_set))
    if SUITES["params"].paramGetHandle(param_set.value, host_colour.PARAM_NAME.encode(), C.byref(h), None) != api.OK:
        return host_colour.AUTO
    v = C.c_int()
    SUITES["params"].paramGetValueAtTime(h.value, time, C.addressof(v), None, None)
    options = host_colour.PARAM.options
    return options[v.value] if 0 <= v.value < len(options) else host_colour.AUTO
