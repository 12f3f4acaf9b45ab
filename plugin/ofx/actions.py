"""The instance actions: region of definition and of interest, frames needed, clip preferences, identity
and render, each mapped onto the node's runtime actions. Hosts ask some of these while a user is still
wiring; those answers are never errors."""

from __future__ import annotations

from segfuse.errors import NodeError
from segfuse.plugin.ofx import api, images
from segfuse.plugin.ofx.clips import HostClip, clip_ranges, connected_clips, unconnected_required
from segfuse.plugin.ofx.history import frames_from_history
from segfuse.plugin.ofx.instances import instance, missing_setting
from segfuse.plugin.ofx.messages import tell_once
from segfuse.plugin.ofx.params import colourspace_choice, param_values
from segfuse.plugin.ofx.suites import host_has_temporal_access
from segfuse.runtime import Alpha, ClipFrames, NodeDescriptor


def region_while_wiring(d: NodeDescriptor, clips: dict[str, HostClip], out_args: api.Props) -> int:
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
    clips = connected_clips(d, handle, time)
    if unconnected_required(d, clips):
        return region_while_wiring(d, clips, out_args)
    params = param_values(d, handle, time)
    if missing_setting(d, handle, params, clips) is not None:
        spec = clips["Source"].spec  # passed through: the input's region
    else:
        try:
            spec = instance(handle).output_spec({n: c.spec for n, c in clips.items()}, params)
        except NodeError:
            if len(clips) == len(d.clips):
                raise
            return region_while_wiring(d, clips, out_args)  # e.g. init 'hint' before Hint is wired: render says so
    out_args.set_doubles("OfxImageEffectPropRegionOfDefinition", [0.0, 0.0, float(spec.width), float(spec.height)])
    return api.OK


def get_regions_of_interest(d: NodeDescriptor, handle: int, in_args: api.Props, out_args: api.Props) -> int:
    time = in_args.get_double("OfxPropTime")
    for name, clip in connected_clips(d, handle, time).items():  # whole frames: nodes see the full image
        r = clip.rod
        out_args.set_doubles(f"OfxImageClipPropRoI_{name}", [r.x1, r.y1, r.x2, r.y2])
    return api.OK


def get_frames_needed(d: NodeDescriptor, handle: int, in_args: api.Props, out_args: api.Props) -> int:
    time = in_args.get_double("OfxPropTime")
    t = int(round(time))
    clips = connected_clips(d, handle, time)
    needed = instance(handle).frames_needed(t, list(clips), param_values(d, handle, time), clip_ranges(clips))
    for name, times in needed.items():
        if times:
            out_args.set_doubles(f"OfxImageClipPropFrameRange_{name}", [float(v) for v in runs(times)])
    return api.OK


def runs(times: list[int]) -> list[int]:
    """Frames as OFX frame ranges: (first, last) of each run of consecutive frames, flattened."""
    out: list[int] = []
    for s in sorted(times):
        if out and s == out[-1] + 1:
            out[-1] = s
        else:
            out += [s, s]
    return out


def output_is_alpha(d: NodeDescriptor, clips: dict[str, HostClip]) -> bool:
    """Alpha out for matte nodes, and for 'same as input' nodes fed an alpha clip."""
    output = getattr(d.cls, "output", None)
    if output is not None:
        return output is Alpha
    first = next((clips[c.name] for c in d.clips if c.name in clips), None)
    return first is not None and first.spec.components is Alpha


def get_clip_preferences(d: NodeDescriptor, handle: int, in_args: api.Props, out_args: api.Props) -> int:
    clips = connected_clips(d, handle, 0.0)
    out_args.set_string("OfxImageClipPropComponents_Output",
                        "OfxImageComponentAlpha" if output_is_alpha(d, clips) else "OfxImageComponentRGBA")
    for clip in d.clips:
        takes_alpha = clip.components == (Alpha,) or (clip.name in clips and clips[clip.name].spec.components is Alpha)
        wanted = "OfxImageComponentAlpha" if takes_alpha else "OfxImageComponentRGBA"
        out_args.set_string(f"OfxImageClipPropComponents_{clip.name}", wanted)
    out_args.set_string("OfxImageEffectPropPreMultiplication", "OfxImageAlphaUnPremultiplied")
    return api.OK


def is_identity(d: NodeDescriptor, handle: int, in_args: api.Props, out_args: api.Props) -> int:
    time = in_args.get_double("OfxPropTime")
    params = param_values(d, handle, time)
    clip = instance(handle).is_identity(int(round(time)), params)
    if clip is None and missing_setting(d, handle, params, connected_clips(d, handle, time)) is not None:
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
    node, params = instance(handle), param_values(d, handle, time)
    clips = connected_clips(d, handle, time)
    missing = unconnected_required(d, clips)
    if missing:
        raise RuntimeError(f"connect the {', '.join(repr(n) for n in missing)} input{'s' if len(missing) > 1 else ''} "
                           "to render")
    if missing_setting(d, handle, params, clips) is not None:
        images.pass_through(handle, clips["Source"].handle, time, window)
        return api.OK
    choice = colourspace_choice(handle, time)
    spec = node.output_spec({n: c.spec for n, c in clips.items()}, params)
    temporal_host = host_has_temporal_access()
    inputs = {}
    for name, times in node.frames_needed(t, list(clips), params, clip_ranges(clips)).items():
        clip = clips[name]
        if not temporal_host and len(times) > 1:
            frames = frames_from_history(d, handle, clip, t, times, params, choice)
        else:
            frames = {}
            trust_range = clip.frames is not None and t in clip.frames  # some hosts declare ranges loosely
            for s in times:
                if trust_range and s not in clip.frames:
                    continue
                image = clip.image(float(s), choice)
                if image is not None:
                    frames[s] = image
        if t not in frames and not frames and times:
            raise RuntimeError(f"clip '{name}' has no image at frame {t}")
        inputs[name] = ClipFrames(name, clip.spec, t, frames)
    result = node.render(t, inputs, params)
    notice = getattr(node.impl, "host_notice", None)
    text = notice(params) if callable(notice) else None
    if text:
        tell_once(d, handle, text)
    if result.size != spec.size:
        raise RuntimeError(f"rendered {result.width}×{result.height}, declared {spec.width}×{spec.height}")
    images.write_output(handle, time, result, window, choice)
    return api.OK
