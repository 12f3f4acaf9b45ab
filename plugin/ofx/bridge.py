"""Maps the SegFuse node API onto OpenFX actions: the module the C shim imports, one call per action.

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

The bridge, by concern (as the OpenFX Support library splits an effect):
``suites`` (the host's suites and property sets), ``describe`` (describe and describe-in-context),
``params`` (define and read params), ``instances`` (create, destroy, look up), ``clips`` (input clips),
``images`` (pixels and colour), ``actions`` (region, frames needed, preferences, identity, render),
``messages`` (errors and once-only notices), ``history`` (frames for hosts without temporal access).
This module holds the entry points and the action table.
"""

from __future__ import annotations

from segfuse import color
from segfuse.plugin.ofx import actions, api, describe, history, instances, messages
from segfuse.plugin.ofx.suites import props, set_host
from segfuse.runtime import NodeDescriptor, default_registry

HOSTS_READ_AND_WRITE = {"org.segfuse.Read", "org.segfuse.Write"}

_plugins: list[NodeDescriptor] | None = None
# process-wide state, under the names the OFX tests reset between emulated hosts
_told, _streams, _impls = messages.TOLD, history.STREAMS, instances.IMPLS
_filter_capable = describe.filter_capable

color.tolerate_bad_ocio()  # a host's $OCIO must not decide whether a render works (MLT mangles it)


def plugins() -> list[NodeDescriptor]:
    """The nodes exposed as effects, in OfxGetPlugin order."""
    global _plugins
    if _plugins is None:
        _plugins = [d for d in default_registry().all() if d.id not in HOSTS_READ_AND_WRITE]
    return _plugins


def plugin_list() -> list[tuple[str, int, int]]:
    """(identifier, major, minor) of every exposed node, in OfxGetPlugin order."""
    return [(d.id, d.version[0], d.version[1]) for d in plugins()]


def main_entry(index: int, action: str, handle: int, in_args: int, out_args: int) -> int:
    """One OFX action on effect ``index``: the action's status, never an exception."""
    descriptor = plugins()[index]
    fn = ACTIONS.get(action)
    if fn is None:
        return api.REPLY_DEFAULT
    try:
        return fn(descriptor, handle, props(in_args or None), props(out_args or None))
    except Exception as exc:  # every failure becomes a status and a message, never a host crash
        messages.report(handle, f"{descriptor.label}: {exc}")
        return api.FAILED


def _ok(*_args) -> int:
    return api.OK


ACTIONS = {
    "OfxActionLoad": _ok,
    "OfxActionUnload": _ok,
    "OfxActionDescribe": describe.describe,
    "OfxImageEffectActionDescribeInContext": describe.describe_in_context,
    "OfxActionCreateInstance": instances.create_instance,
    "OfxActionDestroyInstance": instances.destroy_instance,
    "OfxImageEffectActionGetRegionOfDefinition": actions.get_region_of_definition,
    "OfxImageEffectActionGetRegionsOfInterest": actions.get_regions_of_interest,
    "OfxImageEffectActionGetFramesNeeded": actions.get_frames_needed,
    "OfxImageEffectActionGetClipPreferences": actions.get_clip_preferences,
    "OfxImageEffectActionIsIdentity": actions.is_identity,
    "OfxImageEffectActionRender": actions.render,
}

__all__ = ["ACTIONS", "main_entry", "plugin_list", "plugins", "set_host"]
