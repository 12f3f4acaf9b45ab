"""Instances: one runtime ``NodeInstance`` per OFX effect instance, by handle. Per-clip work (a learnt
matte, a loaded network) lives on one node object per effect type in the process, so it survives hosts
that create an instance per frame (MLT does). A node missing a setting passes frames through."""

from __future__ import annotations

import threading

from segfuse.plugin.ofx import api
from segfuse.plugin.ofx.clips import HostClip
from segfuse.plugin.ofx.messages import tell_colour_config_once, tell_once
from segfuse.runtime import NodeDescriptor, NodeInstance, ParamValues

INSTANCES: dict[int, NodeInstance] = {}
IMPLS: dict[str, object] = {}  # one node object per effect type: its caches outlive per-frame instances
_lock = threading.Lock()


def create_instance(d: NodeDescriptor, handle: int, _in: api.Props, _out: api.Props) -> int:
    instance = NodeInstance(d, f"ofx-{handle:x}")
    with _lock:
        instance.impl = IMPLS.setdefault(d.id, instance.impl)
        INSTANCES[handle] = instance
    tell_colour_config_once(d, handle)
    return api.OK


def destroy_instance(d: NodeDescriptor, handle: int, _in: api.Props, _out: api.Props) -> int:
    with _lock:
        INSTANCES.pop(handle, None)
    return api.OK


def instance(handle: int) -> NodeInstance:
    """The node instance behind effect ``handle``."""
    with _lock:
        return INSTANCES[handle]


def missing_setting(d: NodeDescriptor, handle: int, params: ParamValues, clips: dict[str, HostClip]) -> str | None:
    """What the user must still set (the node says), told once; None when the node can render."""
    missing = instance(handle).missing_setting(params)
    if missing is None or "Source" not in clips:
        return None
    tell_once(d, handle, f"{missing}; until then the frames pass through unchanged")
    return missing
