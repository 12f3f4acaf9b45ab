"""The node API: the ``@node`` declaration and the runtime's view of a node instance.

A node is a plain class decorated with ``@node``; it lists ``clips`` and ``params`` and defines
``render(t, inputs, p)``. Every other action is optional and has the default below:

- ``frames_needed(t, p) -> {clip: iterable of frames}``: default, the render time only.
- ``region_of_definition(inputs, p) -> (width, height)``: default, all connected clips agree.
- ``time_domain(inputs, p) -> FrameRange | None``: default, the first moving input's range.
- ``output``: a ``Components`` class attribute; default, the first connected clip's.
- ``output_components(inputs, p) -> Components``: when the output layout depends on params.
- ``output_spec(inputs, p) -> ClipSpec``: replaces the three above (sources like Read use it).
- ``is_identity(t, p) -> clip name | None``: pass an input through untouched.
- ``missing_setting(p) -> str | None``: what the user must set before the node can work (e.g. Fix's
  reference). The graph runtime refuses the graph with it; plugin hosts pass the frame through and
  show it once, so a freshly added effect never fails a host's render.
- ``render_batch(times, inputs, p) -> [Image]``: consecutive frames at once (networks).
- ``prepare(t, inputs, p) -> object`` with ``prepare_clips`` (names of clips): the part of frame t's
  work that reads only those clips. While a still the render needs is being made (a matte learnt
  from the clip), the renderer prepares coming frames on a thread of its own and hands the result
  to ``render(t, inputs, p, prepared=...)``; a render without it (a host, a single frame) gets
  ``prepared=None`` and does the work itself, to the same pixels. ``render_batch`` gets none.
- ``open_sink(spec, frames, p)``: makes the node an output (Write), see ``segfuse.runtime.render``.

Nodes keep no per-frame state: any frame renders alone, in any order, with the same pixels.
Long-lived resources (a decoder, a network) live on the instance and are created lazily.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from segfuse.errors import NodeError
from segfuse.image import Image
from segfuse.io.frames import FrameRange
from segfuse.runtime.clips import Clip, ClipSpec, Components
from segfuse.runtime.params import Param, ParamValues

_ID = re.compile(r"^[A-Za-z][\w-]*(\.[A-Za-z][\w-]*)+$")


@dataclass(frozen=True)
class NodeDescriptor:
    """Everything a host needs to present a node before instantiating it."""

    id: str
    version: tuple[int, int]
    label: str
    group: str
    help: str
    clips: tuple[Clip, ...]
    params: tuple[Param, ...]
    cls: type

    @property
    def is_sink(self) -> bool:
        return hasattr(self.cls, "open_sink")

    @property
    def has_batch(self) -> bool:
        return hasattr(self.cls, "render_batch")

    @property
    def prepare_clips(self) -> tuple[str, ...]:
        """The clips ``prepare`` reads (none: the node has no ``prepare``)."""
        return tuple(getattr(self.cls, "prepare_clips", ())) if hasattr(self.cls, "prepare") else ()

    def clip(self, name: str) -> Clip | None:
        return next((c for c in self.clips if c.name == name), None)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id, "version": list(self.version), "label": self.label, "group": self.group,
            "help": self.help, "clips": [c.describe() for c in self.clips],
            "params": [p.describe() for p in self.params], "output": self.output_name(),
        }

    def output_name(self) -> str:
        output = getattr(self.cls, "output", None)
        return output.name if isinstance(output, Components) else "same as input"


def node(
    *, id: str, version: tuple[int, int] = (1, 0), label: str, group: str = "SegFuse", help: str = ""
) -> Callable[[type], type]:
    """Declare a class as a SegFuse node (OFX: describe). Checks the declaration once, at import."""

    def declare(cls: type) -> type:
        if not _ID.match(id):
            raise TypeError(f"node id '{id}' is not reverse-DNS (e.g. org.segfuse.Name)")
        if not callable(getattr(cls, "render", None)):
            raise TypeError(f"node {id} has no render method")
        clips = tuple(getattr(cls, "clips", ()))
        params = tuple(getattr(cls, "params", ()))
        for kind, names in (("clip", [c.name for c in clips]), ("param", [p.name for p in params])):
            dupes = {n for n in names if names.count(n) > 1}
            if dupes:
                raise TypeError(f"node {id} declares the {kind} name(s) {sorted(dupes)} twice")
        for param in params:
            if param.default is not None:
                param.coerce(param.default)  # a bad default is a bug in the node
        if hasattr(cls, "prepare"):
            _check_prepare(cls, id, {c.name for c in clips})
        cls.descriptor = NodeDescriptor(
            id=id, version=tuple(version), label=label, group=group,
            help=help or (cls.__doc__ or "").strip(), clips=clips, params=params, cls=cls,
        )
        return cls

    return declare


def _check_prepare(cls: type, id: str, clip_names: set[str]) -> None:
    """A node with ``prepare`` names the clips it reads and takes its result in ``render``."""
    wanted = tuple(getattr(cls, "prepare_clips", ()))
    if not wanted or not set(wanted) <= clip_names:
        raise TypeError(f"node {id}: prepare_clips must name some of its clips, not {wanted!r}")
    if "prepared" not in inspect.signature(cls.render).parameters:
        raise TypeError(f"node {id} has prepare but its render takes no 'prepared' argument")


class ClipFrames:
    """The frames of one input clip handed to ``render``: those asked for that exist."""

    def __init__(self, name: str, spec: ClipSpec, time: int, images: Mapping[int, Image]) -> None:
        self.name, self.spec, self.time = name, spec, time
        self._images = dict(sorted(images.items()))

    @property
    def times(self) -> list[int]:
        return list(self._images)

    def frame(self, t: int | None = None) -> Image:
        """The image at ``t`` (default: the render time; a still answers any time)."""
        t = self.time if t is None else t
        if t in self._images:
            return self._images[t]
        if self.spec.is_still and self._images:
            return next(iter(self._images.values()))
        raise NodeError(f"clip '{self.name}': frame {t} was not requested in frames_needed")

    def frames_available(self) -> list[Image]:
        """All fetched frames in time order (a window clipped to the clip's range)."""
        return list(self._images.values())


class NodeInstance:
    """One node in a graph: its declaration, its implementation object and default actions."""

    def __init__(self, descriptor: NodeDescriptor, name: str) -> None:
        self.descriptor, self.name = descriptor, name
        self.impl = descriptor.cls()

    def frames_needed(
        self, t: int, connected: Iterable[str], p: ParamValues, ranges: Mapping[str, Any] | None = None
    ) -> dict[str, list[int]]:
        """Frames each connected clip must give at ``t``. ``ranges`` (clip → FrameRange, when the
        host knows them) reach nodes whose ``frames_needed`` takes a ``ranges`` argument, e.g. a
        still learnt from frames spread over a whole clip."""
        connected = list(connected)
        asked: Mapping[str, Any] = {}
        if hasattr(self.impl, "frames_needed"):
            if self._wants_ranges:
                asked = self.impl.frames_needed(t, p, ranges=dict(ranges or {}))
            else:
                asked = self.impl.frames_needed(t, p)
        return {clip: sorted(set(asked.get(clip, [t]))) for clip in connected}

    @property
    def _wants_ranges(self) -> bool:
        return "ranges" in inspect.signature(self.impl.frames_needed).parameters

    def output_spec(self, inputs: Mapping[str, ClipSpec], p: ParamValues) -> ClipSpec:
        if hasattr(self.impl, "output_spec"):
            return self.impl.output_spec(dict(inputs), p)
        if not inputs:
            raise NodeError("has no input and no output_spec to say what it makes")
        ordered = [inputs[c.name] for c in self.descriptor.clips if c.name in inputs]
        width, height = self._region(inputs, p)
        output = getattr(self.impl, "output", None)
        if hasattr(self.impl, "output_components"):
            components = self.impl.output_components(dict(inputs), p)
        else:
            components = output if isinstance(output, Components) else ordered[0].components
        if hasattr(self.impl, "time_domain"):
            frames = self.impl.time_domain(dict(inputs), p)
        else:
            frames = next((s.frames for s in ordered if not s.is_still), None)
        colorspace = "" if components is Components.ALPHA else next(
            (s.colorspace for s in ordered if s.colorspace), "")
        fps = next((s.fps for s in ordered if s.fps), None)
        timecode = next((s.timecode for s in ordered if s.timecode), "")
        pixel_aspect = next((s.pixel_aspect for s in ordered if s.pixel_aspect != 1.0), 1.0)
        return ClipSpec(width, height, components, frames, colorspace, fps, timecode, pixel_aspect)

    def _region(self, inputs: Mapping[str, ClipSpec], p: ParamValues) -> tuple[int, int]:
        if hasattr(self.impl, "region_of_definition"):
            return self.impl.region_of_definition(dict(inputs), p)
        return same_size(inputs)

    def is_identity(self, t: int, p: ParamValues) -> str | None:
        return self.impl.is_identity(t, p) if hasattr(self.impl, "is_identity") else None

    def missing_setting(self, p: ParamValues) -> str | None:
        return self.impl.missing_setting(p) if hasattr(self.impl, "missing_setting") else None

    def render(self, t: int, inputs: dict[str, ClipFrames], p: ParamValues, prepared: Any = None) -> Image:
        if prepared is not None:
            return self.impl.render(t, inputs, p, prepared=prepared)
        return self.impl.render(t, inputs, p)

    def prepare(self, t: int, inputs: dict[str, ClipFrames], p: ParamValues) -> Any:
        return self.impl.prepare(t, inputs, p)

    def render_batch(self, times: list[int], inputs: list[dict[str, ClipFrames]], p: ParamValues) -> list[Image]:
        return list(self.impl.render_batch(times, inputs, p))


def same_size(inputs: Mapping[str, ClipSpec]) -> tuple[int, int]:
    """The common size of all clips, or a NodeError naming the two that differ."""
    items = list(inputs.items())
    first_name, first = items[0]
    for name, spec in items[1:]:
        if spec.size != first.size:
            raise NodeError(
                f"clip '{name}' is {spec.width}×{spec.height} but '{first_name}' is {first.width}×{first.height}"
            )
    return first.size


def frame_window(t: int, before: int, after: int) -> FrameRange:
    """Frames t-before … t+after, for temporal nodes' frames_needed."""
    return FrameRange(t - before, t + after)
