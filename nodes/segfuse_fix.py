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

import hashlib
import os
import threading
import weakref
from collections import OrderedDict

from segfuse.analysis.shot import section_image
from segfuse.image import Image
from segfuse.io.frames import FrameRange
from segfuse.lazy import lazy_module
from segfuse.nodes.grabcut_segment import GrabCutSegment
from segfuse.nodes.modnet_matte import MODNetMatte
from segfuse.nodes.motion_matte import MotionMatte, sample_times
from segfuse.nodes.read import Read
from segfuse.nodes.reference_fuse import ReferenceFuse
from segfuse.nodes.temporal_median import TemporalMedian
from segfuse.nodes.track_matte import TrackMatte
from segfuse.paper_graph import BEST_FEATHER, BEST_PROTECT
from segfuse.runtime import RGB, RGBA, Choice, Clip, ClipFrames, FilePath, Int, node
from segfuse.runtime.params import ParamValues

cv2 = lazy_module("cv2")  # OpenCV loads on first use: listing nodes does not need it

MEMO_SIZE = 32
LEARN_MAX = 48  # frames kept to learn the reference's matte from, in hosts that hand one frame at a time
LEARN_AT = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48)  # learn again at these frame counts, then every LEARN_MAX
TELL_LEARNING = ("learning the reference's person matte from the frames rendered so far (the first frames "
                 "get a rougher matte); for the command line's result on every frame run 'segfuse analyse "
                 "--generated CLIP --reference REF -o shot.analysis.npz' and set 'analysis' to that file")


def _params(node_cls, **values) -> ParamValues:
    defaults = {p.name: p.default for p in node_cls.descriptor.params}
    return ParamValues({**defaults, **values})


@node(id="org.segfuse.Fix", version=(2, 0), label="SegFuse Fix", group="SegFuse",
      help="The complete background repair in one filter, the command line's default recipe: the "
           "reference's person matte learnt from the clip's motion, carried into each frame by optical "
           "flow, steadied, and the reference's background blended back in away from the person. Set "
           "'analysis' to the file 'segfuse analyse' writes for the command line's result on every frame; "
           "without it, hosts that hand one frame at a time (Kdenlive, Shotcut) learn from the frames "
           "rendered so far. recipe 'classic' is SegFuse 0.1's per-frame GrabCut (it pastes the still "
           "reference over a person who moved).")
class Fix:
    clips = (Clip("Source", components=(RGB, RGBA), temporal=True, help="the generated clip to repair"),)
    params = (
        FilePath("reference", default="", help="the reference portrait (the clean background)"),
        FilePath("analysis", default="", help="the shot's analysis file (segfuse analyse): the reference's "
                                              "matte learnt from the whole clip (recipe best)"),
        Choice("recipe", options=("best", "classic"), default="best",
               help="best: segfuse fix's default graph; classic: SegFuse 0.1's per-frame GrabCut (worse on "
                    "a moving person, kept for comparison)"),
        Choice("segmenter", options=("grabcut", "modnet", "hybrid"), default="grabcut", help="recipe classic"),
        Int("window", default=5, min=1, max=31, odd=True, help="temporal median window (paper: 5)"),
        Int("kernel", default=7, min=1, max=99, odd=True, help="fusion Gaussian kernel (paper: 7)"),
        Int("iterations", default=3, min=1, max=20, help="GrabCut iterations (recipe classic)"),
        Int("working_size", default=256, min=0, max=16384,
            help="GrabCut solve size (long side; 0 = full; recipe classic)"),
        FilePath("modnet_weights", default="", help="MODNet weights for modnet/hybrid (recipe classic)"),
        Choice("reference_fit", options=("error", "stretch"), default="error"),
    )
    output = RGB

    def __init__(self) -> None:
        self.read, self.grabcut, self.modnet = Read(), GrabCutSegment(), MODNetMatte()
        self.median, self.fuse = TemporalMedian(), ReferenceFuse()
        self.motion, self.track = MotionMatte(), TrackMatte()
        self._seen: OrderedDict[int, tuple[bytes, Image]] = OrderedDict()  # frames handed so far (MLT)
        self._seen_key: tuple | None = None
        self.learning = False  # the last render learnt from handed frames: hosts tell the user once
        self._memo: OrderedDict[bytes, Image] = OrderedDict()
        self._computing: dict[bytes, threading.Event] = {}  # keys being computed by another thread
        self._lock = threading.Lock()
        # a frame stays in 'window' renders: its pixels are hashed once per image object, not per render
        self._digests: weakref.WeakKeyDictionary[Image, bytes] = weakref.WeakKeyDictionary()
        self._reference: tuple[tuple, Image] | None = None  # (path, mtime, size) and the image read

    def missing_setting(self, p) -> str | None:
        """Hosts pass frames through until the reference is set (a fresh effect must not fail renders)."""
        return None if p.reference else "set 'reference' to the reference portrait (the clean background)"

    def frames_needed(self, t: int, p, ranges=None) -> dict[str, list[int]]:
        window = list(range(t - p.window + 1, t + 1))
        frames = (ranges or {}).get("Source")
        if p.recipe == "best" and not p.analysis and frames is not None:  # a host that hands any frame
            window += sample_times(frames, _motion_params().samples)
        return {"Source": sorted(set(window))}

    def host_notice(self, p) -> str | None:
        """What a host should tell the user once (the bridge posts it through the host)."""
        return TELL_LEARNING if self.learning and p.recipe == "best" and not p.analysis else None

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

    def _read_params(self, p) -> ParamValues:
        return _params(Read, path=p.reference)

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

    def _matte(self, image: Image, hint: Image | None, p, init: str) -> Image:
        """The segmenter's matte of one image (memoised on its pixels and the settings)."""
        digest = hashlib.blake2b(self._pixels_digest(image), digest_size=16)
        digest.update(repr((init, p.segmenter, p.iterations, p.working_size, p.modnet_weights)).encode())
        if hint is not None:
            digest.update(self._pixels_digest(hint))

        def compute() -> Image:
            source = {"Source": ClipFrames("Source", None, 0, {0: image})}
            solve = {"iterations": p.iterations, "working_size": p.working_size}
            if p.segmenter != "grabcut":
                modnet_matte = self.modnet.render(0, source, _params(MODNetMatte, weights=p.modnet_weights))
                if p.segmenter == "modnet":
                    return modnet_matte
                hint_image, mode = modnet_matte, "hint"
            else:
                hint_image, mode = hint, init
            inputs = dict(source)
            if hint_image is not None:
                inputs["Hint"] = ClipFrames("Hint", None, 0, {0: hint_image})
            return self.grabcut.render(0, inputs, _params(GrabCutSegment, init=mode, **solve))

        return self._memoised(digest.digest(), compute)

    def render(self, t: int, inputs, p) -> Image:
        if p.recipe == "best":
            return self._render_best(t, inputs, p)
        reference = self._reference_image(p)
        reference_matte = self._matte(reference, None, p, "portrait")
        frames = inputs["Source"]
        # newest first: host render threads on t and t+1 each segment their own frame at once instead of
        # waiting for the other's matte (in time order, melt's N threads ran one GrabCut at a time)
        mattes = {s: self._matte(frames.frame(s), reference_matte, p, "hint") for s in reversed(frames.times)}
        median = self.median.render(t, {"Source": ClipFrames("Source", None, t, mattes)},
                                    _params(TemporalMedian, window=p.window))
        fuse_inputs = {
            "Generated": ClipFrames("Generated", None, t, {t: frames.frame(t)}),
            "Reference": ClipFrames("Reference", None, t, {t: reference}),
            "GeneratedMatte": ClipFrames("GeneratedMatte", None, t, {t: median}),
            "ReferenceMatte": ClipFrames("ReferenceMatte", None, t, {t: reference_matte}),
        }
        fused = self.fuse.render(t, fuse_inputs, _params(ReferenceFuse, kernel=p.kernel, reference_fit=p.reference_fit))
        return fused if fused.channels == 3 else Image(fused.pixels[:, :, :3].copy(), fused.colorspace)

    # ---- recipe best ---------------------------------------------------------------------------

    def _render_best(self, t: int, inputs, p) -> Image:
        reference = self._reference_image(p)
        frames = inputs["Source"]
        window = [s for s in frames.times if t - p.window < s <= t]
        reference_matte = self._best_reference_matte(t, frames, window, reference, p)
        matte_digest = self._pixels_digest(reference_matte)
        tracked = {s: self._tracked(frames.frame(s), reference, reference_matte, matte_digest)
                   for s in reversed(window)}
        median = self.median.render(t, {"Source": ClipFrames("Source", None, t, tracked)},
                                    _params(TemporalMedian, window=p.window, hold_current=True))
        fuse_inputs = {
            "Generated": ClipFrames("Generated", None, t, {t: frames.frame(t)}),
            "Reference": ClipFrames("Reference", None, t, {t: reference}),
            "GeneratedMatte": ClipFrames("GeneratedMatte", None, t, {t: median}),
            "ReferenceMatte": ClipFrames("ReferenceMatte", None, t, {t: reference_matte}),
        }
        fused = self.fuse.render(t, fuse_inputs, _params(ReferenceFuse, kernel=p.kernel, reference_fit=p.reference_fit,
                                                         protect=BEST_PROTECT, feather=BEST_FEATHER))
        return fused if fused.channels == 3 else Image(fused.pixels[:, :, :3].copy(), fused.colorspace)

    def _best_reference_matte(self, t: int, frames: ClipFrames, window: list[int], reference: Image, p) -> Image:
        """From the analysis file; else from frames spread over the clip (hosts that hand them);
        else learnt from the frames handed so far."""
        motion = _motion_params()
        if p.analysis:
            self.learning = False
            return section_image(p.analysis, MotionMatte.analysis_section, MotionMatte.descriptor.id, motion,
                                 {"Reference": reference}, reference.size)
        spec = frames.spec
        picks = sample_times(spec.frames, motion.samples) if spec is not None and spec.frames is not None else []
        if picks and all(s in frames.times for s in picks):  # the host handed frames spread over the clip
            self.learning = False
            return self._motion_matte(reference, {s: frames.frame(s) for s in picks}, motion)
        self.learning = True
        return self._learnt_matte(t, frames, window, reference, motion, p)

    def _motion_matte(self, reference: Image, chosen: dict[int, Image], motion: ParamValues) -> Image:
        digest = hashlib.blake2b(b"motion", digest_size=16)
        digest.update(self._pixels_digest(reference))
        for s in sorted(chosen):
            digest.update(self._pixels_digest(chosen[s]))

        def compute() -> Image:
            inputs = {"Reference": ClipFrames("Reference", None, 0, {0: reference}),
                      "Moving": ClipFrames("Moving", None, 0, chosen)}
            return self.motion.render(0, inputs, motion)

        return self._memoised(digest.digest(), compute)

    def _learnt_matte(self, t: int, frames: ClipFrames, window: list[int], reference: Image, motion: ParamValues,
                      p) -> Image:
        """Motion Matte over the frames handed so far. Frame t uses the matte learnt from the first k
        frames of the stream (k: the largest step of LEARN_AT, then every LEARN_MAX frames, that t has
        reached), sampled as Motion Matte samples a clip of k frames: the same frames whatever the
        render threads' timing, and learnt once per step. A frame handed again with other pixels (the
        clip changed) starts the learning over; only frames later steps can pick are kept."""
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
                    self._seen[s] = (digest, _small(image, _motion_params().working_size))
            first = min(self._seen)
            step = _learn_step_reached(t - first + 1)
            if len(self._seen) > LEARN_MAX:  # keep what this step and the next two can pick
                later = _learn_step(step)
                keep = {*window, *(s for k in (step, later, _learn_step(later)) for s in _picks(first, k, motion))}
                for s in [s for s in self._seen if s not in keep]:
                    del self._seen[s]
            seen = {s: held[1] for s, held in self._seen.items()}
        chosen = {}
        for target in _picks(first, step, motion):  # a time never handed (a jump): the nearest earlier one
            held = max((s for s in seen if s <= target), default=None)
            if held is not None:
                chosen[held] = seen[held]
        return self._motion_matte(reference, chosen, motion)

    def _tracked(self, frame: Image, reference: Image, reference_matte: Image, matte_digest: bytes) -> Image:
        digest = hashlib.blake2b(b"track", digest_size=16)
        digest.update(self._pixels_digest(frame))
        digest.update(matte_digest)

        def compute() -> Image:
            inputs = {"Source": ClipFrames("Source", None, 0, {0: frame}),
                      "Reference": ClipFrames("Reference", None, 0, {0: reference}),
                      "ReferenceMatte": ClipFrames("ReferenceMatte", None, 0, {0: reference_matte})}
            return self.track.render(0, inputs, _params(TrackMatte))

        return self._memoised(digest.digest(), compute)


def _small(image: Image, working_size: int) -> Image:
    """A frame at Motion Matte's working size: what learning needs, a fraction of the memory."""
    height, width = image.pixels.shape[:2]
    scale = min(1.0, working_size / max(height, width)) if working_size > 0 else 1.0
    if scale >= 1.0:
        return image
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    return image.with_pixels(cv2.resize(image.pixels, size, interpolation=cv2.INTER_AREA))


def _learn_step(count: int) -> int:
    """The next learning step after ``count`` frames."""
    later = [n for n in LEARN_AT if n > count]
    return later[0] if later else (count // LEARN_MAX + 1) * LEARN_MAX


def _learn_step_reached(count: int) -> int:
    """The largest learning step within ``count`` frames (at least 1)."""
    if count >= LEARN_AT[-1]:
        return max(LEARN_AT[-1], count // LEARN_MAX * LEARN_MAX)
    return max([n for n in LEARN_AT if n <= count], default=1)


def _picks(first: int, count: int, motion: ParamValues) -> list[int]:
    """The frames Motion Matte samples from a clip of ``count`` frames starting at ``first``."""
    return sample_times(FrameRange(first, first + count - 1), motion.samples)


def _motion_params() -> ParamValues:
    """Motion Matte's defaults: the matte 'segfuse fix' learns (and the one an analysis file must hold)."""
    return _params(MotionMatte)
