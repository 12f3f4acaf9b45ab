"""The host's suites and property sets: fetched once when the host starts the plug-in (OfxSetHost)."""

from __future__ import annotations

import ctypes as C

from segfuse.plugin.ofx import api

SUITES: dict[str, object] = {}  # "host" (its property set), "props", "effect", "params", "message"


def set_host(address: int) -> None:
    """Fetch the suites the bridge uses from the host's ``OfxHost`` struct at ``address``."""
    host = api.OfxHost.from_address(address)

    def fetch(name: bytes, struct):
        pointer = host.fetchSuite(host.host, name, 1)
        return C.cast(pointer, C.POINTER(struct)).contents if pointer else None

    SUITES["host"] = host.host
    SUITES.update(props=fetch(b"OfxPropertySuite", api.PropertySuiteV1),
                  effect=fetch(b"OfxImageEffectSuite", api.ImageEffectSuiteV1),
                  params=fetch(b"OfxParameterSuite", api.ParameterSuiteV1),
                  message=fetch(b"OfxMessageSuite", api.MessageSuiteV1))


def props(handle: int | None) -> api.Props:
    """The property set behind ``handle`` (a clip, an image, an action's arguments …)."""
    return api.Props(SUITES["props"], handle)


def effect_props(effect: int) -> api.Props:
    """An effect's own property set."""
    out = api.Handle()
    SUITES["effect"].getPropertySet(effect, C.byref(out))
    return props(out.value)


def host_has_temporal_access() -> bool:
    """Whether the host lets effects fetch frames at other times (MLT and pyofx do not)."""
    return bool(props(SUITES.get("host")).get_int("OfxImageEffectPropTemporalClipAccess", default=0))
