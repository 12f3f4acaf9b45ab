"""Sequential history for hosts that give effects no access to other frames (MLT, pyofx).

Such a host hands an effect only the frame it renders, but editors render in order, so the frames a
temporal node asks for (Temporal Median's t-4…t) were handed to earlier renders of the same stream.
A ``History`` keeps those input frames, keyed by time and bounded by the node's lookback, and serves
them back. It never guesses: a frame is served only when the host gave it for exactly that time, and
only the unbroken run of frames ending at the render time is used (a gap means an earlier frame
was never seen, and a median over a broken window would differ from the command line's).

Hosts that render frames on several threads (melt with real_time=-N) may hand frame t+1 before t;
``frames`` waits a bounded time for an earlier frame that another thread is about to hand over, so
threaded renders equal serial ones. A time that never arrives is remembered, so the wait is paid
once (at the start of a render that begins mid-clip), not per frame.

Hosts that create an effect instance per frame (MLT does, for instance-safe effects) keep no
per-instance state between frames, so histories are kept per *stream*: the effect type, its
parameter values and the input's size, which stay the same from one frame's instance to the next.
Two identical effects on identical inputs would share a stream; a different image for a time
already held (upstream changed, or another stream) drops the history, so stale frames are never used.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time as clock
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING

from segfuse.image import Image
from segfuse.plugin.ofx.messages import tell_once
from segfuse.runtime import NodeDescriptor, ParamValues

if TYPE_CHECKING:
    from segfuse.plugin.ofx.clips import HostClip

SLACK = 8  # frames beyond the lookback: out-of-order arrivals from a host's render threads
MAX_STREAMS = 16
DEFAULT_WAIT_S = 5.0


def wait_seconds() -> float:
    """How long a render waits for an earlier frame another host thread is handing over."""
    try:
        return float(os.environ.get("SEGFUSE_OFX_HISTORY_WAIT", DEFAULT_WAIT_S))
    except ValueError:
        return DEFAULT_WAIT_S


def _digest(image: Image) -> bytes:
    return hashlib.blake2b(image.pixels.tobytes(), digest_size=16).digest()


class History:
    """The input frames one stream was handed, by time, within ``lookback + SLACK`` of the newest."""

    def __init__(self, lookback: int) -> None:
        self.lookback = lookback
        self._frames: dict[int, tuple[bytes, Image]] = {}
        self._never: set[int] = set()  # times waited for in vain since the last reset
        self._changed = threading.Condition()

    @property
    def capacity(self) -> int:
        return self.lookback + SLACK

    def times(self) -> list[int]:
        with self._changed:
            return sorted(self._frames)

    def add(self, t: int, image: Image) -> None:
        """Record the frame the host handed for time ``t``."""
        digest = _digest(image)
        with self._changed:
            held = self._frames.get(t)
            if held is not None and held[0] != digest:
                self._reset()  # the input changed (an edit upstream, or another stream): nothing older is valid
            elif self._frames:
                newest = max(self._frames)
                if t < newest - self.capacity or t > newest + self.capacity:
                    self._reset()  # a jump backwards or a gap: the held frames are not this run's
            self._frames[t] = (digest, image)
            self._never.discard(t)
            newest = max(self._frames)
            for old in [s for s in self._frames if s < newest - self.capacity]:
                del self._frames[old]
            self._changed.notify_all()

    def _reset(self) -> None:
        self._frames.clear()
        self._never.clear()

    def frames(self, t: int, wanted: Iterable[int], first: int = 0, wait_s: float = 0.0) -> dict[int, Image]:
        """The unbroken run of held frames ending at ``t`` among ``wanted`` (which includes t).

        Frames before ``first`` (the clip's first frame) do not exist and are not waited for.
        """
        wanted = sorted(s for s in set(wanted) if first <= s <= t)
        deadline = clock.monotonic() + wait_s
        with self._changed:
            for s in reversed(wanted):
                while s not in self._frames and s not in self._never:
                    left = deadline - clock.monotonic()
                    if left <= 0 or not self._changed.wait(left):
                        self._never.add(s)
                        break
            run: dict[int, Image] = {}
            for s in reversed(wanted):
                if s not in self._frames:
                    break
                run[s] = self._frames[s][1]
        return dict(sorted(run.items()))


class Streams:
    """Histories by stream key, the least recently used dropped beyond ``MAX_STREAMS``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: OrderedDict[Hashable, History] = OrderedDict()

    def get(self, key: Hashable, lookback: int) -> History:
        with self._lock:
            history = self._streams.get(key)
            if history is None or history.lookback < lookback:
                history = self._streams[key] = History(lookback)
            self._streams.move_to_end(key)
            while len(self._streams) > MAX_STREAMS:
                self._streams.popitem(last=False)
            return history

    def clear(self) -> None:
        with self._lock:
            self._streams.clear()


STREAMS = Streams()  # this process's histories, one per stream


def frames_from_history(d: NodeDescriptor, handle: int, clip: HostClip, t: int, times: list[int],
                        params: ParamValues, choice: str) -> dict[int, Image]:
    """For hosts without temporal access: the frame at ``t`` from the host, earlier ones from the
    stream's history of frames the host handed before (see the module docstring)."""
    current = clip.image(float(t), choice)
    if current is None:
        return {}
    key = (d.id, clip.name, repr(sorted(params.as_dict().items())), choice, clip.spec.size)
    history = STREAMS.get(key, lookback=max(0, t - min(times)))
    history.add(t, current)
    first = clip.frames.first if clip.frames is not None else 0
    images = history.frames(t, times, first=first, wait_s=wait_seconds())
    tell_once(d, handle, "this host gives effects no access to other frames: SegFuse keeps the frames the "
                         "host hands it and uses them, so renders in frame order equal the command line "
                         "(after a jump, the first frames use fewer frames)")
    return images
