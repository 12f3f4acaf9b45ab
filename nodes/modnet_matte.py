"""MODNet Matte: a trimap-free portrait matte per frame from the MODNet network (paper §3.2.2)."""

from __future__ import annotations

import threading
from pathlib import Path

from segfuse.runtime import RGB, RGBA, Alpha, Choice, Clip, FilePath, Image, Int, alpha_image, node


@node(id="org.segfuse.MODNetMatte", version=(1, 0), label="MODNet Matte", group="SegFuse",
      help="Portrait matte (person = 1) from MODNet, run on the sRGB the network was trained on. "
           "Weights: the official MODNet checkpoints (Apache-2.0), found through the weights param, "
           "$SEGFUSE_MODELS or the user cache ('segfuse models import FILE'). Consecutive frames run "
           "as one batch.")
class MODNetMatte:
    clips = (Clip("Source", components=(RGB, RGBA), help="the frames to matte"),)
    params = (
        FilePath("weights", default="", help="a .ckpt or exported .onnx; empty: modnet-photographic from the registry"),
        Choice("backend", options=("auto", "torch", "onnxruntime"), default="auto",
               help="auto: onnxruntime for .onnx files and on the CPU (checkpoints exported once, cached), "
                    "torch on CUDA"),
        Choice("device", options=("auto", "cpu", "cuda"), default="auto", help="auto: CUDA when available"),
        Choice("precision", options=("fp32", "fp16"), default="fp32", help="fp16 runs on CUDA with torch"),
        Int("ref_size", default=512, min=64, max=4096, help="the short side the network sees (MODNet: 512)"),
    )
    output = Alpha

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runner = None
        self._key: tuple | None = None

    def runner(self, p):
        """The loaded network, made once per weights/backend/device/precision."""
        from segfuse.models.modnet_runtime import make_runner  # torch: imported when a network is needed

        key = (p.weights, p.backend, p.device, p.precision)
        with self._lock:
            if self._key != key:
                self._runner, self._key = make_runner(Path(p.weights) if p.weights else None, p.backend,
                                                      p.device, p.precision), key
            return self._runner

    def region_of_definition(self, inputs, p) -> tuple[int, int]:
        self.runner(p)  # missing or wrong weights fail at validation, before any frame renders
        return inputs["Source"].size

    def render(self, t: int, inputs, p) -> Image:
        return self.render_batch([t], [inputs], p)[0]

    def render_batch(self, times: list[int], inputs: list, p) -> list[Image]:
        from segfuse.models.modnet import infer_mattes

        frames = [clips["Source"].frame() for clips in inputs]
        images = [f.srgb_uint8() for f in frames]
        return [alpha_image(m) for m in infer_mattes(self.runner(p), images, p.ref_size)]
