"""Reference Fuse: blend the reference portrait's clean background back in (paper eqs. 7–8)."""

from __future__ import annotations

from segfuse import color
from segfuse.errors import NodeError
from segfuse.image import clip_box, same_pixels
from segfuse.lazy import lazy_module
from segfuse.ops.fuse import FEATHERS, bounding_box, fuse, fusion_mask, match_colour
from segfuse.runtime import (
    RGB,
    RGBA,
    Alpha,
    Bool,
    Box,
    Choice,
    Clip,
    Components,
    Double,
    Image,
    Int,
    Rect,
    alpha_image,
    node,
)

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")


@node(id="org.segfuse.ReferenceFuse", version=(1, 3), label="Reference Fuse", group="SegFuse",
      help="M = Gaussian(min(1 - GeneratedMatte, 1 - ReferenceMatte)); out = (1 - M)·Generated + "
           "M·Reference, in the working colourspace. Mattes are person = 1. Only the rectangle where "
           "the blend changes pixels is converted and blended (M > 0 and Reference differs from "
           "Generated, inside the mattes' region of interest when they carry one); elsewhere the "
           "frame passes through untouched, bit for bit when it reaches a writer of its own encoding.")
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
        Choice("feather", options=FEATHERS, default="centered",
               help="centered: the paper's blur straddles the edge and puts reference pixels on the "
                    "person; outside: the blend stays in the background; inside: every background "
                    "pixel gets the whole reference, the ramp lies on the person's side as centered's"),
        Choice("output", options=("fused", "mask"), default="fused", help="mask outputs M_t instead"),
        Choice("reference_fit", options=("error", "stretch"), default="error",
               help="what to do when Reference differs in size from Generated"),
        Rect("region",
             help="limit the repair to this rectangle (x0, y0, x1, y1 as fractions of the frame), e.g. where a "
                  "pasted-back head can reach; outside it the frame passes through untouched. All zeros: the "
                  "whole frame (or the mattes' own region of interest, when they carry one)"),
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
        generated_matte = inputs["GeneratedMatte"].frame()
        reference_matte = inputs["ReferenceMatte"].frame()
        size = generated.size
        if reference_matte.size != size:
            reference_matte = alpha_image(cv2.resize(reference_matte.alpha, size, interpolation=cv2.INTER_LINEAR))
        roi = self._region(generated_matte, reference_matte, size, p.region)
        x0, y0, x1, y1 = roi or (0, 0, size[0], size[1])
        mask = self._mask(generated_matte, reference_matte, (x0, y0, x1, y1), p)  # M over the ROI
        if p.output == "mask" or p.match_colour:
            full = np.zeros((size[1], size[0]), np.float32)
            full[y0:y1, x0:x1] = mask
            if p.output == "mask":
                return alpha_image(full)
        active = mask > 0
        if p.match_colour:
            matched = match_colour(self._plate(reference, generated, None), generated.pixels, full)
            plate = lambda box: matched[box[1]:box[3], box[0]:box[2]]  # noqa: E731
        else:
            plate = lambda box: self._plate(reference, generated, box)  # noqa: E731
            if reference.size == size:
                same = same_pixels(generated, reference, (x0, y0, x1, y1))
                if same is not None:  # where both hold the same code values the blend changes nothing
                    active &= ~same
        box = bounding_box(active, x0, y0)
        if box is None:
            return generated
        bx0, by0, bx1, by1 = box
        values = fuse(generated.region(box), plate(box), mask[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0])
        return generated.with_patch(box, values)

    @staticmethod
    def _mask(generated_matte: Image, reference_matte: Image, roi: Box, p) -> np.ndarray:
        """M over ``roi`` only: computed on the ROI grown by the filters' reach (only that much of
        either matte is read), so every value equals the whole frame's computation; outside the ROI
        M is 0 (the frame passes through)."""
        width, height = generated_matte.size
        reach = p.kernel // 2 + p.protect + (p.kernel // 2 if p.feather == "outside" else 0) + 1
        x0, y0, x1, y1 = roi
        grown = clip_box((x0 - reach, y0 - reach, x1 + reach, y1 + reach), width, height) or roi
        gx0, gy0 = grown[:2]
        mask = fusion_mask(ReferenceFuse._alpha(generated_matte, grown), ReferenceFuse._alpha(reference_matte, grown),
                           p.kernel, p.sigma, p.protect, p.feather)
        return np.ascontiguousarray(mask[y0 - gy0:y1 - gy0, x0 - gx0:x1 - gx0])

    @staticmethod
    def _alpha(matte: Image, box: Box) -> np.ndarray:
        """The matte's alpha over ``box`` (H×W float32), converting or copying only that rectangle."""
        if matte.is_converted:
            return matte.alpha[box[1]:box[3], box[0]:box[2]]
        values = matte.region(box)
        return values[:, :, 0] if matte.channels == 1 else values[:, :, 3] if matte.channels == 4 \
            else np.ones(values.shape[:2], np.float32)

    @staticmethod
    def _region(generated_matte: Image, reference_matte: Image, size: tuple[int, int],
                region: tuple[float, ...]) -> Box | None:
        """Where the repair may change pixels: the mattes' ``roi``s and the ``region`` param, intersected
        (None: the whole frame)."""
        width, height = size
        boxes = [generated_matte.roi]
        if reference_matte.size == generated_matte.size:
            boxes.append(reference_matte.roi)
        if any(region):
            boxes.append((int(np.floor(region[0] * width)), int(np.floor(region[1] * height)),
                          int(np.ceil(region[2] * width)), int(np.ceil(region[3] * height))))
        boxes = [b for b in boxes if b is not None]
        if not boxes:
            return None
        roi = (max(b[0] for b in boxes), max(b[1] for b in boxes), min(b[2] for b in boxes), min(b[3] for b in boxes))
        return clip_box(roi, width, height) or (0, 0, 0, 0)

    @staticmethod
    def _plate(reference: Image, generated: Image, box: Box | None) -> np.ndarray:
        """Reference pixels in Generated's size, channels and colourspace (of ``box``, or all)."""
        if reference.size != generated.size:
            pixels = cv2.resize(reference.pixels, generated.size, interpolation=cv2.INTER_AREA)
            pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
            if box is not None:
                pixels = pixels[box[1]:box[3], box[0]:box[2]]
        else:
            pixels = reference.region(box) if box is not None else reference.pixels
        if reference.colorspace and generated.colorspace and reference.colorspace != generated.colorspace:
            pixels = color.convert(pixels, reference.colorspace, generated.colorspace)
        if generated.channels == 4 and pixels.shape[2] == 3:
            pixels = np.concatenate([pixels, np.ones_like(pixels[:, :, :1])], axis=2)
        elif generated.channels == 3 and pixels.shape[2] == 4:
            pixels = pixels[:, :, :3]
        return np.ascontiguousarray(pixels, dtype=np.float32)
