"""SegFuse Fix: the whole repair graph in one node, for hosts that only offer single-input filters
(MLT-based editors such as Kdenlive and Shotcut).

recipe ``best`` (default) is ``segfuse fix``'s default graph: the reference's person matte learnt
from the clip's motion (Motion Matte), carried into each frame (Track Matte), a median that holds
the current frame, the person-safe blend. Where that matte comes from, best first:
1. ``analysis``: the shot's analysis file (``segfuse analyse``), exactly the command line's matte;
2. a host that hands other frames (the graph runtime, Natron): frames spread over the whole clip;
3. a host that hands one frame at a time (MLT): the frames it has handed so far (a bounded set,
   learnt again as more arrive), and the host is told once how to get the full result.
recipe ``classic`` is SegFuse 0.1's per-frame GrabCut graph (it pastes the still reference over a
person who moved: kept for comparison)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import weakref
from collections import OrderedDict

from segfuse import pipeline
from segfuse.image import Encoded, Image
from segfuse.io.frames import FrameRange
from segfuse.lazy import lazy_module
from segfuse.runtime import (
    RGB,
    RGBA,
    Choice,
    Clip,
    ClipFrames,
    FilePath,
    NodeDescriptor,
    Param,
    ParamValues,
    discover,
    node,
)

cv2 = lazy_module("cv2")  # OpenCV loads on first use: listing nodes does not need it

MEMO_SIZE = 32
LEARN_MAX = 48  # frames kept to learn the reference's matte from, in hosts that hand one frame at a time
LEARN_AT = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48)  # learn again at these frame counts, then every LEARN_MAX
KEEP_LONG_SIDE = 2048  # px: frames kept to learn from are shrunk beyond it (a 4K frame to 2K)
TELL_LEARNING = ("learning the reference's person matte from the frames rendered so far (the first frames "
                 "are kept as rendered until the head has moved, then get a rougher matte); for the command "
                 "line's result on every frame run 'segfuse analyse --generated CLIP --reference REF -o "
                 "shot.analysis.npz' and set 'analysis' to that file")

# the built-in nodes Fix is made of, by id (a registry of its own: Fix may be imported while the
# process-wide registry is still being discovered)
_BUILTIN = discover(extra_paths=[])
_INNER: dict[str, NodeDescriptor] = {
    node_type: _BUILTIN.get(node_type) for node_type in (pipeline.READ, *pipeline.node_types(pipeline.FIX_RECIPES))}
CLASSIC_SEGMENTERS = tuple(s for s in pipeline.SEGMENTERS if ("classic", s) in pipeline.MATTES)


def _params(node_cls, **values) -> ParamValues:
    """A node's params: its descriptor's defaults, with ``values`` set."""
    defaults = {p.name: p.default for p in node_cls.descriptor.params}
    return ParamValues({**defaults, **values})


def _mirror(name: str, help: str) -> Param:
    """Fix's param ``name``: a copy of the inner param it sets (default, range, choices: the inner node's)."""
    node_type, param = pipeline.FIX_PARAMS[name][0]
    return dataclasses.replace(_INNER[node_type].param(param), name=name, label="", help=help)


@node(id="org.segfuse.Fix", version=(2, 0), label="SegFuse Fix", group="SegFuse",
      help="The complete background repair in one filter, the command line's default recipe: the "
           "reference's person matte learnt from the clip's motion, carried into each frame by optical "
           "flow, steadied, and the reference's background blended back in away from the person. Set "
           "'analysis' to the file 'segfuse analyse' writes for the command line's result on every frame; "
           "without it, hosts that hand one frame at a time (Kdenlive, Shotcut) learn from the frames "
           "rendered so far. recipe 'classic' is SegFuse 0.1's per-frame GrabCut (it pastes the still "
           "reference over a person who moved).")
class Fix:
    """The preset's graph (``segfuse.pipeline``) evaluated inside one node: its whole-clip step (the
    reference's matte) learnt as the host allows, per-frame steps memoised on their inputs' pixels
    (hosts render frame after frame, and each frame is in ``window`` renders), the temporal step over
    the window the host handed."""

    clips = (Clip("Source", components=(RGB, RGBA), temporal=True, help="the generated clip to repair"),)
    params = (
        FilePath("reference", default="", help="the reference portrait (the clean background)"),
        FilePath("analysis", default="", help="the shot's analysis file (segfuse analyse): the reference's "
                                              "matte learnt from the whole clip (recipe best)"),
        Choice("recipe", options=pipeline.FIX_RECIPES, default=pipeline.FIX_RECIPES[0],
               help="best: segfuse fix's default graph; classic: SegFuse 0.1's per-frame GrabCut (worse on "
                    "a moving person, kept for comparison)"),
        Choice("segmenter", options=CLASSIC_SEGMENTERS, default=pipeline.DEFAULT_SEGMENTER["classic"],
               help="recipe classic"),
        _mirror("window", "temporal median window (Temporal Median's window)"),
        _mirror("kernel", "fusion Gaussian kernel (Reference Fuse's kernel)"),
        _mirror("iterations", "GrabCut iterations (recipe classic)"),
        _mirror("working_size", "GrabCut solve size (long side; 0 = full; recipe classic)"),
        _mirror("modnet_weights", "MODNet weights for modnet/hybrid (recipe classic)"),
        _mirror("reference_fit", "when the reference's size differs from the clip's"),
    )
    output = RGB

    def __init__(self) -> None:
        self.nodes = {node_type: descriptor.cls() for node_type, descriptor in _INNER.items()}  # one of each type
        self.read = self.nodes[pipeline.READ]
        self._seen: OrderedDict[int, tuple[bytes, Image]] = OrderedDict()  # frames handed so far (MLT)
        self._seen_key: tuple | None = None
        self.learning = False  # the last render learnt from handed frames: hosts tell the user once
        self._memo: OrderedDict[bytes, Image] = OrderedDict()
        self._computing: dict[bytes, threading.Event] = {}  # keys being computed by another thread
        self._lock = threading.Lock()
        # a frame stays in 'window' renders: its pixels are hashed once per image object, not per render
        self._digests: weakref.WeakKeyDictionary[Image, bytes] = weakref.WeakKeyDictionary()
        self._reference: tuple[tuple, Image] | None = None  # (path, mtime, size) and the image read

    # ---- the recipe --------------------------------------------------------------------------

    @staticmethod
    def steps(p) -> dict[str, tuple[pipeline.Step, ParamValues]]:
        """The recipe's steps with their params: the node's defaults, the recipe's own values, and
        Fix's params set on the inner params they mirror."""
        steps = pipeline.recipe(p.recipe, None if p.recipe == "best" else p.segmenter)
        values = {name: p[name] for name in pipeline.FIX_PARAMS}
        return {step.name: (step, ParamValues({**{q.name: q.default for q in _INNER[step.type].params},
                                                **pipeline.with_values(step, values, pipeline.FIX_PARAMS)}))
                for step in steps}

    @staticmethod
    def _kind(step: pipeline.Step) -> str:
        """whole-clip (learns from the clip: Motion Matte), temporal (a window: Temporal Median) or frame."""
        descriptor = _INNER[step.type]
        if getattr(descriptor.cls, "analysis_section", None):
            return "whole-clip"
        return "temporal" if any(c.temporal for c in descriptor.clips) else "frame"

    def _whole_clip_step(self, p) -> tuple[pipeline.Step, ParamValues] | None:
        return next((entry for entry in self.steps(p).values() if self._kind(entry[0]) == "whole-clip"), None)

    def _window(self, t: int, steps) -> list[int]:
        """The frames the temporal step reads at ``t``."""
        step, params = next(entry for entry in steps.values() if self._kind(entry[0]) == "temporal")
        needed = self.nodes[step.type].frames_needed(t, params)
        return sorted({s for frames in needed.values() for s in frames})

    # ---- the node's actions --------------------------------------------------------------------

    def missing_setting(self, p) -> str | None:
        """Hosts pass frames through until the reference is set (a fresh effect must not fail renders)."""
        return None if p.reference else "set 'reference' to the reference portrait (the clean background)"

    def frames_needed(self, t: int, p, ranges=None) -> dict[str, list[int]]:
        window = self._window(t, self.steps(p))
        frames = (ranges or {}).get("Source")
        whole = self._whole_clip_step(p)
        if whole is not None and not p.analysis and frames is not None:  # a host that hands any frame
            window += self._samples(whole, frames)
        return {"Source": sorted(set(window))}

    def host_notice(self, p) -> str | None:
        """What a host should tell the user once (the bridge posts it through the host)."""
        learns = self._whole_clip_step(p) is not None
        return TELL_LEARNING if self.learning and learns and not p.analysis else None

    def region_of_definition(self, inputs, p) -> tuple[int, int]:
        from segfuse.errors import NodeError

        if not p.reference:
            raise NodeError("param 'reference' is empty")
        ref = self.read.output_spec({}, self._read_params(p))
        source = inputs["Source"]
        if p.reference_fit == "error" and ref.size != source.size:
            raise NodeError(f"the reference is {ref.width}×{ref.height} but 'Source' is "
                            f"{source.width}×{source.height} (set reference_fit to stretch)")
        return source.size

    def render(self, t: int, inputs, p) -> Image:
        steps = self.steps(p)
        frames = inputs["Source"]
        reference = self._reference_image(p)
        window = [s for s in frames.times if s in set(self._window(t, steps))]
        known: dict[str, Image] = {"reference": reference}
        for name, (step, params) in steps.items():
            if self._kind(step) == "whole-clip":
                known[name] = self._whole_clip(step, params, t, frames, window, reference, p)
        fused = self._image(pipeline.OUTPUT, t, steps, frames, known, window)
        return fused if fused.channels == 3 else Image(fused.pixels[:, :, :3].copy(), fused.colorspace)

    # ---- evaluating the steps ------------------------------------------------------------------

    def _image(self, name: str, s: int, steps, frames: ClipFrames, known: dict[str, Image],
               window: list[int]) -> Image:
        """Step ``name``'s image at frame ``s``."""
        if name == "generated":
            return frames.frame(s)
        if name in known:
            return known[name]
        step, params = steps[name]
        instance = self.nodes[step.type]
        if self._kind(step) == "temporal":
            # newest first: host render threads on t and t+1 each compute their own frame's inputs at
            # once instead of waiting for the other's (in time order, melt's N threads ran one at a time)
            clips = {clip: {u: self._image(source, u, steps, frames, known, window) for u in reversed(window)}
                     for clip, source in step.inputs.items()}
            return instance.render(s, {clip: ClipFrames(clip, None, s, images) for clip, images in clips.items()},
                                   params)
        images = {clip: self._image(source, s, steps, frames, known, window) for clip, source in step.inputs.items()}
        if name == pipeline.OUTPUT:  # the frame itself: rendered once per render, not kept
            return instance.render(s, {clip: ClipFrames(clip, None, s, {s: image}) for clip, image in images.items()},
                                   params)
        digest = hashlib.blake2b(repr((step.type, sorted(params.as_dict().items()))).encode(), digest_size=16)
        for clip in sorted(images):
            digest.update(clip.encode())
            digest.update(self._pixels_digest(images[clip]))

        def compute() -> Image:
            return instance.render(0, {clip: ClipFrames(clip, None, 0, {0: image}) for clip, image in images.items()},
                                   params)

        return self._memoised(digest.digest(), compute)

    def _read_params(self, p) -> ParamValues:
        return _params(self.read, path=p.reference)

    def _memoised(self, key: bytes, compute) -> Image:
        """The memo's image for ``key``, computed once even when several host threads (melt's render
        threads share this object) ask at the same time: the others wait for the first."""
        while True:
            with self._lock:
                if key in self._memo:
                    self._memo.move_to_end(key)
                    return self._memo[key]
                busy = self._computing.get(key)
                if busy is None:
                    self._computing[key] = threading.Event()
                    break
            busy.wait()  # then look again (if that computation failed, this thread computes)
        try:
            image = compute()
            with self._lock:
                self._memo[key] = image
                while len(self._memo) > MEMO_SIZE:
                    self._memo.popitem(last=False)
            return image
        finally:
            with self._lock:
                self._computing.pop(key).set()

    def _pixels_digest(self, image: Image) -> bytes:
        """A hash of an image's pixels, computed once per image object (images are never changed in place;
        hosts without temporal access hand the same frame objects to every render whose window holds them)."""
        with self._lock:
            digest = self._digests.get(image)
        if digest is None:
            digest = hashlib.blake2b(image.pixels.tobytes(), digest_size=16).digest()
            with self._lock:
                self._digests[image] = digest
        return digest

    def _reference_image(self, p) -> Image:
        """The reference portrait, read again only when its file changes (not once per frame)."""
        try:
            st = os.stat(p.reference)
            key = (p.reference, st.st_mtime_ns, st.st_size)
        except OSError:
            key = None  # the Read node says what is wrong
        held = self._reference
        if key is not None and held is not None and held[0] == key:
            return held[1]
        image = self.read.render(0, {}, self._read_params(p))
        if key is not None:
            self._reference = (key, image)
        return image

    # ---- the whole-clip step (recipe best: the reference's matte learnt from the clip's motion) ----

    def _samples(self, whole: tuple[pipeline.Step, ParamValues], frames: FrameRange) -> list[int]:
        """The frames the whole-clip step reads from a clip of ``frames``."""
        step, params = whole
        moving = next(clip for clip, source in step.inputs.items() if source == "generated")
        return list(self.nodes[step.type].frames_needed(0, params, ranges={moving: frames})[moving])

    def _whole_clip(self, step: pipeline.Step, params: ParamValues, t: int, frames: ClipFrames, window: list[int],
                    reference: Image, p) -> Image:
        """From the analysis file; else from frames spread over the clip (hosts that hand them);
        else learnt from the frames handed so far."""
        if p.analysis:
            self.learning = False
            stills = {clip: ClipFrames(clip, None, 0, {0: reference})
                      for clip, source in step.inputs.items() if source == "reference"}
            return self.nodes[step.type].render(0, stills, ParamValues({**params.as_dict(), "analysis": p.analysis}))
        spec = frames.spec
        picks = self._samples((step, params), spec.frames) if spec is not None and spec.frames is not None else []
        if picks and all(s in frames.times for s in picks):  # the host handed frames spread over the clip
            self.learning = False
            return self._learn(step, params, reference, {s: frames.frame(s) for s in picks})
        self.learning = True
        return self._learnt_matte(t, frames, window, reference, (step, params), p)

    def _learn(self, step: pipeline.Step, params: ParamValues, reference: Image, chosen: dict[int, Image]) -> Image:
        digest = hashlib.blake2b(b"whole-clip", digest_size=16)
        digest.update(repr((step.type, sorted(params.as_dict().items()))).encode())
        digest.update(self._pixels_digest(reference))
        for s in sorted(chosen):
            digest.update(self._pixels_digest(chosen[s]))

        def compute() -> Image:
            inputs = {clip: ClipFrames(clip, None, 0, {0: reference} if source == "reference" else chosen)
                      for clip, source in step.inputs.items()}
            return self.nodes[step.type].render(0, inputs, params)

        return self._memoised(digest.digest(), compute)

    def _learnt_matte(self, t: int, frames: ClipFrames, window: list[int], reference: Image,
                      whole: tuple[pipeline.Step, ParamValues], p) -> Image:
        """The whole-clip step over the frames handed so far. Frame t uses the matte learnt from the
        first k frames of the stream (k: the largest step of LEARN_AT, then every LEARN_MAX frames, that
        t has reached), sampled as the step samples a clip of k frames: the same frames whatever the
        render threads' timing, and learnt once per step. A frame handed again with other pixels (the
        clip changed) starts the learning over; only frames later steps can pick are kept."""
        step, params = whole
        key = (p.reference, reference.size)
        handed_now = {s: (self._pixels_digest(frames.frame(s)), frames.frame(s)) for s in window}
        with self._lock:
            if self._seen_key != key:
                self._seen.clear()
                self._seen_key = key
            for s, (digest, image) in handed_now.items():
                held = self._seen.get(s)
                if held is not None and held[0] != digest:  # the clip changed: learn again from scratch
                    self._seen.clear()
                if s not in self._seen:
                    kept = _kept(image)
                    self._seen[s] = (digest, kept)
                    self._digests[kept] = digest  # the same frame: learning hashes it without decoding it
            first = min(self._seen)
            count = _learn_step_reached(t - first + 1)
            if len(self._seen) > LEARN_MAX:  # keep what this step and the next two can pick
                later = _learn_step(count)
                keep = {*window, *(s for k in (count, later, _learn_step(later))
                                   for s in self._samples(whole, _first(first, k)))}
                for s in [s for s in self._seen if s not in keep]:
                    del self._seen[s]
            seen = {s: held[1] for s, held in self._seen.items()}
        chosen = {}
        for target in self._samples(whole, _first(first, count)):  # a time never handed (a jump): the nearest earlier
            held = max((s for s in seen if s <= target), default=None)
            if held is not None:
                chosen[held] = seen[held]
        return self._learn(step, params, reference, chosen)


def _kept(image: Image) -> Image:
    """A frame as learning keeps it: its display-referred sRGB 8-bit codes (what Motion Matte reads),
    at full size up to KEEP_LONG_SIDE (beyond it shrunk; Motion Matte brings it back to size).
    Why full size: Motion Matte works in the region around the person at a working scale taken
    from the person's size, so a frame shrunk to the working size would hold too little of a
    paste-back's head. About 6 MB a 1080p frame, at most LEARN_MAX + the window kept."""
    from segfuse import color

    codes = image.srgb_uint8()
    height, width = codes.shape[:2]
    if max(height, width) > KEEP_LONG_SIDE:
        scale = KEEP_LONG_SIDE / max(height, width)
        codes = cv2.resize(codes, (max(8, round(width * scale)), max(8, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
    return Image(encoded=Encoded(codes, color.srgb_space()), colorspace=image.colorspace)


def _learn_step(count: int) -> int:
    """The next learning step after ``count`` frames."""
    later = [n for n in LEARN_AT if n > count]
    return later[0] if later else (count // LEARN_MAX + 1) * LEARN_MAX


def _learn_step_reached(count: int) -> int:
    """The largest learning step within ``count`` frames (at least 1)."""
    if count >= LEARN_AT[-1]:
        return max(LEARN_AT[-1], count // LEARN_MAX * LEARN_MAX)
    return max([n for n in LEARN_AT if n <= count], default=1)


def _first(first: int, count: int) -> FrameRange:
    """The first ``count`` frames of a stream starting at ``first``."""
    return FrameRange(first, first + count - 1)
