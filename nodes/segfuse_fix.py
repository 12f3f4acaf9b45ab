"""SegFuse Fix: the paper's whole graph (segment → temporal median → reference fuse) in one node,
for hosts that only offer single-input filters (MLT-based editors such as Kdenlive and Shotcut)."""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from collections import OrderedDict

from segfuse.nodes.grabcut_segment import GrabCutSegment
from segfuse.nodes.modnet_matte import MODNetMatte
from segfuse.nodes.read import Read
from segfuse.nodes.reference_fuse import ReferenceFuse
from segfuse.nodes.temporal_median import TemporalMedian

from segfuse.image import Image
from segfuse.runtime import RGB, RGBA, Choice, Clip, ClipFrames, FilePath, Int, node
from segfuse.runtime.params import ParamValues

MEMO_SIZE = 32


def _params(node_cls, **values) -> ParamValues:
    defaults = {p.name: p.default for p in node_cls.descriptor.params}
    return ParamValues({**defaults, **values})


@node(id="org.segfuse.Fix", version=(1, 0), label="SegFuse Fix", group="SegFuse",
      help="The complete background repair in one filter: segments each frame (GrabCut, MODNet or the "
           "hybrid), takes the temporal median of the last frames' mattes, and blends the reference "
           "portrait's background back in. Equal to 'segfuse fix --preset classic' with the same settings.")
class Fix:
    clips = (Clip("Source", components=(RGB, RGBA), temporal=True, help="the generated clip to repair"),)
    params = (
        FilePath("reference", default="", help="the reference portrait (the clean background)"),
        Choice("segmenter", options=("grabcut", "modnet", "hybrid"), default="grabcut"),
        Int("window", default=5, min=1, max=31, odd=True, help="temporal median window (paper: 5)"),
        Int("kernel", default=7, min=1, max=99, odd=True, help="fusion Gaussian kernel (paper: 7)"),
        Int("iterations", default=3, min=1, max=20, help="GrabCut iterations"),
        Int("working_size", default=256, min=0, max=16384, help="GrabCut solve size (long side; 0 = full)"),
        FilePath("modnet_weights", default="", help="MODNet weights for modnet/hybrid (default: the registry's)"),
        Choice("reference_fit", options=("error", "stretch"), default="error"),
    )
    output = RGB

    def __init__(self) -> None:
        self.read, self.grabcut, self.modnet = Read(), GrabCutSegment(), MODNetMatte()
        self.median, self.fuse = TemporalMedian(), ReferenceFuse()
        self._memo: OrderedDict[bytes, Image] = OrderedDict()
        self._computing: dict[bytes, threading.Event] = {}  # keys being computed by another thread
        self._lock = threading.Lock()
        # a frame stays in 'window' renders: its pixels are hashed once per image object, not per render
        self._digests: weakref.WeakKeyDictionary[Image, bytes] = weakref.WeakKeyDictionary()
        self._reference: tuple[tuple, Image] | None = None  # (path, mtime, size) and the image read

    def missing_setting(self, p) -> str | None:
        """Hosts pass frames through until the reference is set (a fresh effect must not fail renders)."""
        return None if p.reference else "set 'reference' to the reference portrait (the clean background)"

    def frames_needed(self, t: int, p) -> dict[str, range]:
        return {"Source": range(t - p.window + 1, t + 1)}

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
