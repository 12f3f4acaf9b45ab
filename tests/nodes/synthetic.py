"""Test-only nodes, loaded through SEGFUSE_NODE_PATH: deterministic synthetic clips."""

from __future__ import annotations

import numpy as np

from segfuse import color
from segfuse.errors import NodeError
from segfuse.io import FrameRange
from segfuse.runtime import RGB, Alpha, Bool, Choice, Clip, ClipSpec, Image, Int, String, alpha_image, node


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
