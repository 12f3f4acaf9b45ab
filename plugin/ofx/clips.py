"""Instances' clips: what the host says of each input clip (connection, region, frame range, layout)
and its images as SegFuse Images. A clip is connected only when the host says so or, where a host does
not say (MLT, for optional clips), when its image can be fetched."""

from __future__ import annotations

import ctypes as C

from segfuse import color
from segfuse.plugin.ofx import api, host_colour
from segfuse.plugin.ofx.images import host_pixels_to_image, read_pixels
from segfuse.plugin.ofx.suites import SUITES, host_has_temporal_access, props
from segfuse.runtime import Alpha, ClipSpec, Components, FrameRange, Image, NodeDescriptor


class HostClip:
    """A host clip of an effect instance at one time: handle, connection, region, spec."""

    def __init__(self, effect: int, name: str, accepted: tuple[Components, ...], time: float) -> None:
        clip, clip_props = api.Handle(), api.Handle()
        SUITES["effect"].clipGetHandle(effect, name.encode(), C.byref(clip), C.byref(clip_props))
        self.handle, self.props, self.name = clip.value, props(clip_props.value), name
        self.connected = is_connected(self, time)
        self.host_colourspace = self.props.get_string("OfxImageClipPropColourspace", default="")
        rod = api.RectD()
        status = SUITES["effect"].clipGetRegionOfDefinition(self.handle, time, C.byref(rod))
        if self.connected and (status != api.OK or rod.x2 <= rod.x1 or rod.y2 <= rod.y1):
            rod = self.bounds_of_image(time) or rod  # some hosts do not implement clip RoDs
        self.rod = rod
        span = [self.props.get_double("OfxImageEffectPropFrameRange", i) for i in (0, 1)] \
            if self.props.dimension("OfxImageEffectPropFrameRange") == 2 else None
        self.frames = FrameRange(int(round(span[0])), int(round(span[1]))) if span else None
        self.host_components = self.props.get_string("OfxImageEffectPropComponents", default="")
        components = components_taken(accepted, self.host_components)
        working = "" if components is Alpha else color.working_space()
        self.spec = ClipSpec(int(rod.x2 - rod.x1), int(rod.y2 - rod.y1), components, self.frames, working)

    def bounds_of_image(self, time: float) -> api.RectD | None:
        """The bounds of the image the host hands at ``time``, or None where it hands none."""
        image_props = api.Handle()
        if SUITES["effect"].clipGetImage(self.handle, time, None, C.byref(image_props)) != api.OK \
                or not image_props.value:
            return None
        try:
            b = [props(image_props.value).get_int("OfxImagePropBounds", i) for i in range(4)]
        finally:
            SUITES["effect"].clipReleaseImage(image_props.value)
        return api.RectD(*map(float, b))

    def image(self, time: float, choice: str = host_colour.AUTO) -> Image | None:
        """The host's image at ``time`` as a SegFuse Image, or None where the clip has no frame."""
        handle = api.Handle()
        if SUITES["effect"].clipGetImage(self.handle, time, None, C.byref(handle)) != api.OK or not handle.value:
            return None
        try:
            image_props = props(handle.value)
            pixels = read_pixels(image_props)
            depth = image_props.get_string("OfxImageEffectPropPixelDepth", default="")
            premultiplied = image_props.get_string("OfxImageEffectPropPreMultiplication", default="")
        finally:
            SUITES["effect"].clipReleaseImage(handle.value)
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


def is_connected(clip: HostClip, time: float) -> bool:
    """Connected when the host says so; a host that does not say (MLT, for optional clips) is believed
    only if it hands over an image with bounds."""
    said = clip.props.get_int("OfxImageClipPropConnected", default=-1)
    if said >= 0:
        return bool(said)
    try:
        return clip.bounds_of_image(time) is not None
    except api.OfxError:  # an image without bounds: nothing is connected there
        return False


def connected_clips(d: NodeDescriptor, effect: int, time: float) -> dict[str, HostClip]:
    """The node's input clips the host has connected, by name."""
    clips = {c.name: HostClip(effect, c.name, c.components, time) for c in d.clips}
    return {name: clip for name, clip in clips.items() if clip.connected}


def unconnected_required(d: NodeDescriptor, clips: dict[str, HostClip]) -> list[str]:
    """Required clips the host has not connected yet (node-graph hosts ask while a user wires)."""
    return [c.name for c in d.clips if not c.optional and c.name not in clips]


def clip_ranges(clips: dict[str, HostClip]) -> dict[str, FrameRange | None] | None:
    """Each clip's frame range as the host declares it, for nodes that learn from a whole clip (Motion
    Matte, Fix); None on hosts that cannot hand other frames (they would wait for frames never given)."""
    if not host_has_temporal_access():
        return None
    return {name: clip.frames for name, clip in clips.items()}
