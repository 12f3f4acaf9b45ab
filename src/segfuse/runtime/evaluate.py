"""Pull-based evaluation: render (node, frame) on demand through a byte-bounded frame cache.

The cache is shared by render threads: a frame that one thread is computing is waited for,
not computed twice. Memory stays flat on long clips because the cache evicts least recently
used frames past its byte budget, and nothing else holds frames.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future

from segfuse.errors import NodeError, SegFuseError
from segfuse.image import VALID_CHANNELS, Image
from segfuse.io.frames import FrameRange
from segfuse.runtime.graph import BoundGraph, BoundNode
from segfuse.runtime.node import ClipFrames

Key = tuple[str, int]
DEFAULT_CACHE_BYTES = 512 * 1024 * 1024
DEFAULT_BATCH = 8  # consecutive frames a node with render_batch gets at once
RECOUNT_ALWAYS = 256  # up to this many cached frames, the bytes are recounted at every store
RECOUNT_EVERY = 16  # beyond it, stores between recounts


class FrameCache:
    """LRU of rendered frames bounded in bytes, with in-flight de-duplication."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._frames: OrderedDict[Key, Image] = OrderedDict()
        self._inflight: dict[Key, Future] = {}
        self._bytes = 0
        self._stores = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get_or_compute(self, key: Key, compute: Callable[[], Image]) -> Image:
        """The cached frame, the one another thread is computing, or ``compute()``'s result."""
        with self._lock:
            image = self._frames.get(key)
            if image is not None:
                self._frames.move_to_end(key)
                self.hits += 1
                return image
            future = self._inflight.get(key)
            if future is None:
                self._inflight[key] = Future()
                self.misses += 1
        if future is not None:
            return future.result()
        try:
            image = compute()
        except BaseException as exc:
            self.fail([key], exc)
            raise
        self.fulfil(key, image)
        return image

    def claim(self, keys: list[Key]) -> list[Key]:
        """Mark the keys nobody holds or computes as in flight for the caller; returns those."""
        with self._lock:
            free = [k for k in keys if k not in self._frames and k not in self._inflight]
            for key in free:
                self._inflight[key] = Future()
            return free

    def fulfil(self, key: Key, image: Image) -> None:
        """Store a claimed frame and wake the threads waiting for it."""
        with self._lock:
            future = self._inflight.pop(key)
            self._store(key, image)
        future.set_result(image)

    def fail(self, keys: list[Key], exc: BaseException) -> None:
        """Release claimed frames with an error (not cached: a later request retries)."""
        with self._lock:
            futures = [self._inflight.pop(k) for k in keys if k in self._inflight]
        for future in futures:
            future.set_exception(exc)

    def contains(self, key: Key) -> bool:
        with self._lock:
            return key in self._frames or key in self._inflight

    def holds(self, key: Key) -> bool:
        """Whether the frame is made and kept (not only in flight)."""
        with self._lock:
            return key in self._frames

    def discard_older(self, oldest: dict[str, int]) -> None:
        """Drop frames of node ``n`` before ``oldest[n]`` (a forward render never reads them again)."""
        with self._lock:
            stale = [k for k in self._frames if k[0] in oldest and k[1] < oldest[k[0]]]
            for key in stale:
                del self._frames[key]
            self._bytes = sum(frame.nbytes for frame in self._frames.values())

    def _store(self, key: Key, image: Image) -> None:
        if image.nbytes > self.max_bytes:
            return
        self._frames[key] = image
        self._stores += 1
        self._bytes += image.nbytes
        if len(self._frames) <= RECOUNT_ALWAYS or self._stores % RECOUNT_EVERY == 0:
            # counted afresh: a frame read as code values grows when a node first converts it whole;
            # a cache of many small frames recounts now and then (every store: quadratic in its length)
            self._bytes = sum(frame.nbytes for frame in self._frames.values())
        while self._bytes > self.max_bytes:
            _, old = self._frames.popitem(last=False)
            self._bytes -= old.nbytes


class Evaluator:
    """Renders any node of a bound graph at any frame, honouring frames_needed."""

    def __init__(
        self, graph: BoundGraph, cache_bytes: int = DEFAULT_CACHE_BYTES, batch_size: int = DEFAULT_BATCH
    ) -> None:
        self.graph = graph
        self.cache = FrameCache(cache_bytes)
        self.batch_size = max(1, batch_size)
        self._prepared: dict[Key, Future] = {}  # prepare's results made ahead, until their render takes them
        self._making: set[str] = set()  # still nodes whose inputs are read and whose render is under way
        self._lock = threading.Lock()

    def lookbacks(self, sink_source: str, probe: int) -> dict[str, int]:
        """How many frames before the render time each moving node can be read, from a sink's input.

        Derived from ``frames_needed`` at ``probe`` (offsets are assumed not to depend on time),
        accumulated along every path from ``sink_source`` upstream.
        """
        nodes = self.graph.nodes
        reach = {sink_source: 0}
        for name in reversed(self.graph.order):
            if name not in reach:
                continue
            node = nodes[name]
            if node.spec.is_still:
                continue  # a still reads its inputs once, whatever the render time
            needed = node.instance.frames_needed(probe, node.inputs, node.params, self.input_ranges(node))
            for clip, times in needed.items():
                source = node.inputs[clip]
                back = reach[name] + max(0, probe - min(times, default=probe))
                reach[source] = max(reach.get(source, 0), back)
        return {n: back for n, back in reach.items() if not nodes[n].spec.is_still}

    def render(self, name: str, t: int) -> Image:
        """The output of node ``name`` at frame ``t`` (a still node answers any frame)."""
        node = self.graph.nodes[name]
        if node.spec.is_still:
            t = 0
        elif t not in node.spec.frames:
            raise NodeError(f"{node.label}: frame {t} is outside its range {node.spec.frames}")
        identity = node.instance.is_identity(t, node.params)
        if identity is not None and identity in node.inputs:
            return self.render(node.inputs[identity], t)
        return self.cache.get_or_compute((name, t), lambda: self._compute(node, t))

    def input_ranges(self, node: BoundNode) -> dict[str, FrameRange | None]:
        """The frame range of each connected input clip (None for a still)."""
        return {clip: self.graph.nodes[source].spec.frames for clip, source in node.inputs.items()}

    def gather(self, node: BoundNode, t: int) -> dict[str, ClipFrames]:
        """The inputs ``node`` gets to render frame ``t`` (what a shot analysis records)."""
        return self._gather(node, t)

    def prepare_ahead(self, name: str, t: int) -> None:
        """Run node ``name``'s ``prepare`` for frame ``t`` now, reading only its ``prepare_clips``, and
        keep the result for the render of that frame (a renderer's thread does this while a still
        is being made). A prepare that fails keeps nothing: the render does the work again itself
        and reports what is wrong there, once, as any render error."""
        node = self.graph.nodes[name]
        key = (name, t)
        with self._lock:  # a render in flight for it may be waiting on the still: it takes the result after
            if key in self._prepared or self.cache.holds(key):
                return
            future = self._prepared[key] = Future()
        try:
            result = node.instance.prepare(t, self._gather(node, t, node.instance.descriptor.prepare_clips),
                                           node.params)
        except Exception:  # noqa: BLE001 (an optimisation only: the render meets the error itself)
            result = None
        future.set_result(result)

    def drop_prepared(self, through: int | None = None) -> None:
        """Forget what was prepared ahead for frames up to ``through`` (default: every frame)."""
        with self._lock:
            for key in [k for k in self._prepared if through is None or k[1] <= through]:
                del self._prepared[key]

    def prepared_count(self) -> int:
        with self._lock:
            return len(self._prepared)

    def stills_pending(self, names: list[str]) -> tuple[list[str], list[str]]:
        """Of the still nodes ``names``: (those not made yet, those of them under way: inputs read,
        render running)."""
        with self._lock:
            making = set(self._making)
        pending = [n for n in names if not self.cache.holds((n, 0))]
        return pending, [n for n in pending if n in making]

    def _take_prepared(self, key: Key) -> object:
        """What ``prepare_ahead`` made for ``key``, once it is done; None when nothing (yet)."""
        with self._lock:
            future = self._prepared.get(key)
            if future is None or not future.done():
                return None  # the render does the work itself rather than wait on another thread
            del self._prepared[key]
        return future.result()

    def _gather(self, node: BoundNode, t: int, clips: tuple[str, ...] | None = None) -> dict[str, ClipFrames]:
        needed = node.instance.frames_needed(t, node.inputs, node.params, self.input_ranges(node))
        inputs: dict[str, ClipFrames] = {}
        for clip, times in needed.items():
            if clips is not None and clip not in clips:
                continue
            source = self.graph.nodes[node.inputs[clip]]
            times = [0] if source.spec.is_still else [s for s in times if s in source.spec.frames]
            # Start the frames nobody is computing yet before waiting on those in flight, so
            # parallel render threads overlap instead of queueing behind each other.
            fresh = [s for s in times if not self.cache.contains((source.name, s))]
            images = {s: self.render(source.name, s) for s in fresh}
            images.update({s: self.render(source.name, s) for s in times if s not in images})
            inputs[clip] = ClipFrames(clip, source.spec, t, images)
        return inputs

    def _compute(self, node: BoundNode, t: int) -> Image:
        if self.batch_size > 1 and node.instance.descriptor.has_batch and not node.spec.is_still:
            return self._compute_batch(node, t)
        try:
            inputs = self._gather(node, t)
            if node.spec.is_still:
                with self._lock:
                    self._making.add(node.name)
            try:
                prepared = self._take_prepared((node.name, t)) if node.instance.descriptor.prepare_clips else None
                image = node.instance.render(t, inputs, node.params, prepared)
            finally:
                if node.spec.is_still:
                    with self._lock:
                        self._making.discard(node.name)
        except SegFuseError as exc:
            raise type(exc)(f"{node.label} at frame {t}: {exc}") from None
        return self._checked(node, t, image)

    def _compute_batch(self, node: BoundNode, t: int) -> Image:
        """Render t and the following frames nobody holds in one call; cache the extras."""
        following = [(node.name, s) for s in range(t + 1, min(t + self.batch_size, node.spec.frames.last + 1))]
        claimed = self.cache.claim(following)
        times = [t] + [s for _, s in claimed]
        try:
            try:
                images = node.instance.render_batch(times, [self._gather(node, s) for s in times], node.params)
            except SegFuseError as exc:
                raise type(exc)(f"{node.label} at frames {times[0]}-{times[-1]}: {exc}") from None
            if len(images) != len(times):
                raise NodeError(f"{node.label}: render_batch returned {len(images)} images for {len(times)} frames")
            checked = [self._checked(node, s, image) for s, image in zip(times, images, strict=True)]
        except BaseException as exc:
            self.cache.fail(claimed, exc)
            raise
        for key, image in zip(claimed, checked[1:], strict=True):
            self.cache.fulfil(key, image)
        return checked[0]

    def _checked(self, node: BoundNode, t: int, image: Image) -> Image:
        """Hold nodes to their declared output: type, size, components, finite pixels."""
        if not isinstance(image, Image):
            raise NodeError(f"{node.label} at frame {t}: render returned {type(image).__name__}, not Image")
        spec = node.spec
        if image.size != spec.size or image.channels not in VALID_CHANNELS \
                or image.channels != spec.components.value:
            raise NodeError(
                f"{node.label} at frame {t}: rendered {image.width}×{image.height}×{image.channels} "
                f"but declared {spec.width}×{spec.height}×{spec.components.value}")
        image.check_finite(f"{node.label} at frame {t}")
        return image
