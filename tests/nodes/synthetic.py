"""Test-only nodes, loaded through SEGFUSE_NODE_PATH: deterministic synthetic clips."""

from __future__ import annotations

import threading
import time

import numpy as np

from segfuse import color
from segfuse.errors import NodeError
from segfuse.io import FrameRange
from segfuse.runtime import RGB, Alpha, Bool, Choice, Clip, ClipSpec, Double, Image, Int, String, alpha_image, node


@node(id="org.segfuse.test.Noise", label="Noise", group="Test")
class Noise:
    """Uniform noise, a different field per frame and seed (or one still field)."""

    params = (
        Int("width", default=32, min=1), Int("height", default=24, min=1),
        Choice("components", options=("alpha", "rgb"), default="alpha"),
        String("frames", default="0-9"), Bool("still", default=False), Int("seed", default=0),
    )

    def output_spec(self, inputs, p) -> ClipSpec:
        frames = None if p.still else FrameRange.parse(p.frames)
        if p.components == "alpha":
            return ClipSpec(p.width, p.height, Alpha, frames)
        return ClipSpec(p.width, p.height, RGB, frames, color.working_space())

    def render(self, t: int, inputs, p) -> Image:
        rng = np.random.default_rng([p.seed, t])
        if p.components == "alpha":
            return alpha_image(rng.random((p.height, p.width), dtype=np.float32))
        return Image(rng.random((p.height, p.width, 3), dtype=np.float32), color.working_space())


@node(id="org.segfuse.test.Blob", label="Blob", group="Test")
class Blob:
    """A textured orange disc moving over a textured blue background; frames 0…N-1."""

    params = (Int("size", default=64, min=16), Int("count", default=10, min=1))

    def output_spec(self, inputs, p) -> ClipSpec:
        return ClipSpec(p.size, p.size, RGB, FrameRange(0, p.count - 1), color.working_space())

    def render(self, t: int, inputs, p) -> Image:
        s = p.size
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
        cx, cy = 0.5 + 0.1 * np.sin(t * 0.3), 0.55
        disc = ((xx - cx) ** 2 + (yy - cy) ** 2) < 0.3**2
        rng = np.random.default_rng(t)
        texture = rng.uniform(-0.05, 0.05, (s, s, 1)).astype(np.float32)
        srgb = np.where(disc[:, :, None], [0.9, 0.5, 0.2], [0.2, 0.3, 0.8]).astype(np.float32) + texture
        return Image(color.convert(np.clip(srgb, 0, 1), color.srgb_space(), color.working_space()),
                     color.working_space())


@node(id="org.segfuse.test.Fail", label="Fail", group="Test")
class Fail:
    """Raises on one frame: tests error reporting and no-partial-output guarantees."""

    params = (Int("at", default=3),)
    clips = (Clip("Source", components=(Alpha,)),)

    def render(self, t: int, inputs, p) -> Image:
        if t == p.at:
            raise NodeError(f"refusing frame {t}")
        return inputs["Source"].frame()


@node(id="org.segfuse.test.BatchDouble", label="Batch Double", group="Test")
class BatchDouble:
    """Doubles an alpha clip; logs every render/render_batch call's frames (test instrumentation)."""

    clips = (Clip("Source", components=(Alpha,)),)
    calls: list[tuple[int, ...]] = []

    def render(self, t: int, inputs, p) -> Image:
        BatchDouble.calls.append((t,))
        return alpha_image(2 * inputs["Source"].frame().alpha)

    def render_batch(self, times: list[int], inputs: list, p) -> list[Image]:
        BatchDouble.calls.append(tuple(times))
        return [alpha_image(2 * clips["Source"].frame().alpha) for clips in inputs]


@node(id="org.segfuse.test.SlowStill", label="Slow Still", group="Test")
class SlowStill:
    """A still learnt from the first frame of its clip that takes until ``Measured`` has prepared
    ``wait_for`` frames (at most ``timeout`` s): a matte learnt while the render waits."""

    clips = (Clip("Source", components=(Alpha,), temporal=True),)
    params = (Int("wait_for", default=4, min=0), Double("timeout", default=5.0, min=0.0))
    output = Alpha

    def frames_needed(self, t: int, p, ranges=None) -> dict[str, list[int]]:
        frames = (ranges or {}).get("Source")
        return {"Source": [frames.first if frames is not None else t]}

    def time_domain(self, inputs, p):
        return None

    def render(self, t: int, inputs, p) -> Image:
        deadline = time.monotonic() + p.timeout
        while len(Measured.prepared) < p.wait_for and time.monotonic() < deadline:
            time.sleep(0.002)
        alpha = inputs["Source"].frame().alpha
        return alpha_image(np.full_like(alpha, alpha.mean()))


@node(id="org.segfuse.test.Measured", label="Measured", group="Test")
class Measured:
    """Source × 2 + the still: the doubling is its ``prepare`` (made ahead, or in render when not);
    logs which frames were prepared on which thread and which renders got them."""

    clips = (Clip("Source", components=(Alpha,)), Clip("Still", components=(Alpha,)))
    params = (Bool("fail_prepare", default=False),)
    prepare_clips = ("Source",)
    prepared: list[tuple[int, str]] = []
    rendered: list[tuple[int, bool]] = []

    def prepare(self, t: int, inputs, p) -> np.ndarray:
        if p.fail_prepare:
            raise NodeError(f"cannot prepare frame {t}")
        Measured.prepared.append((t, threading.current_thread().name))
        return 2 * inputs["Source"].frame().alpha

    def render(self, t: int, inputs, p, prepared: np.ndarray | None = None) -> Image:
        Measured.rendered.append((t, prepared is not None))
        doubled = prepared if prepared is not None else 2 * inputs["Source"].frame().alpha
        return alpha_image(doubled + inputs["Still"].frame().alpha)
