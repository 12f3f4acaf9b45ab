"""Reference Fuse: blend the reference portrait's clean background back in (paper eqs. 7–8)."""

from __future__ import annotations

import cv2
import numpy as np

from segfuse import color
from segfuse.errors import NodeError
from segfuse.ops.fuse import fuse, fusion_mask, match_colour
from segfuse.runtime import RGB, RGBA, Alpha, Bool, Choice, Clip, Components, Double, Image, Int, alpha_image, node


@node(id="org.segfuse.ReferenceFuse", version=(1, 1), label="Reference Fuse", group="SegFuse",
      help="M = Gaussian(min(1 - GeneratedMatte, 1 - ReferenceMatte)); out = (1 - M)·Generated + "
           "M·Reference, in the working colourspace. Mattes are person = 1.")
class ReferenceFuse:
    clips = (
        Clip("Generated", components=(RGB, RGBA), help="the rendered frames to repair"),
        Clip("Reference", components=(RGB, RGBA), help="the reference portrait with the clean background"),
        Clip("GeneratedMatte", components=(Alpha,), help="person matte of Generated (temporal median)"),
        Clip("ReferenceMatte", components=(Alpha,), help="person matte of Reference"),
    )
    params = (
        Int("kernel", default=7, min=1, max=99, odd=True, help="Gaussian kernel size (paper: 7)"),
        Double("sigma", default=0.0, min=0.0, max=50.0,
               help="Gaussian sigma; 0: 0.3·((kernel-1)/2 - 1) + 0.8, i.e. 1.4 for 7×7"),
        Int("protect", default=0, min=0, max=256,
            help="px of background next to the person left as rendered (beyond the paper: 0)"),
        Choice("feather", options=("centered", "outside"), default="centered",
               help="centered: the paper's blur straddles the edge and puts reference pixels on the "
                    "person; outside: the blend stays in the background"),
        Choice("output", options=("fused", "mask"), default="fused", help="mask outputs M_t instead"),
        Choice("reference_fit", options=("error", "stretch"), default="error",
               help="what to do when Reference differs in size from Generated"),
        Bool("match_colour", default=False,
             help="fit the reference's background colour (gain and offset per channel) to the frame's "
                  "before blending, so a render whose colours drift meets the pasted plate without a step; "
                  "off: the reference's own colours (beyond the paper)"),
    )

    def region_of_definition(self, inputs, p) -> tuple[int, int]:
        size = inputs["Generated"].size
        if inputs["GeneratedMatte"].size != size:
            w, h = inputs["GeneratedMatte"].size
            raise NodeError(f"clip 'GeneratedMatte' is {w}×{h} but 'Generated' is {size[0]}×{size[1]}")
        if p.reference_fit == "error":
            for name in ("Reference", "ReferenceMatte"):
                if inputs[name].size != size:
                    w, h = inputs[name].size
                    raise NodeError(f"clip '{name}' is {w}×{h} but 'Generated' is {size[0]}×{size[1]} "
                                    "(set reference_fit to stretch to resize it)")
        return size

    def output_components(self, inputs, p) -> Components:
        return Alpha if p.output == "mask" else inputs["Generated"].components

    def render(self, t: int, inputs, p) -> Image:
        generated = inputs["Generated"].frame()
        reference = inputs["Reference"].frame()
        generated_matte = inputs["GeneratedMatte"].frame().alpha
        reference_matte = inputs["ReferenceMatte"].frame().alpha
        size = generated.size
        if reference_matte.shape[::-1] != size:
            reference_matte = cv2.resize(reference_matte, size, interpolation=cv2.INTER_LINEAR)
        mask = fusion_mask(generated_matte, reference_matte, p.kernel, p.sigma, p.protect, p.feather == "outside")
        if p.output == "mask":
            return alpha_image(mask)
        plate = self._matching_reference(reference, generated)
        if p.match_colour:
            plate = match_colour(plate, generated.pixels, mask)
        return Image(fuse(generated.pixels, plate, mask), generated.colorspace)

    @staticmethod
    def _matching_reference(reference: Image, generated: Image) -> np.ndarray:
        """Reference pixels in Generated's size, channels and colourspace."""
        pixels = reference.pixels
        if reference.size != generated.size:
            pixels = cv2.resize(pixels, generated.size, interpolation=cv2.INTER_AREA)
            pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
        if reference.colorspace and generated.colorspace and reference.colorspace != generated.colorspace:
            pixels = color.convert(pixels, reference.colorspace, generated.colorspace)
        if generated.channels == 4 and pixels.shape[2] == 3:
            pixels = np.concatenate([pixels, np.ones_like(pixels[:, :, :1])], axis=2)
        elif generated.channels == 3 and pixels.shape[2] == 4:
            pixels = pixels[:, :, :3]
        return np.ascontiguousarray(pixels, dtype=np.float32)
