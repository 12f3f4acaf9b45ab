"""The repair pipeline, described once as data: the presets of ``segfuse fix`` and the SegFuse Fix
node are both built from it.

A recipe is a list of steps: a node (by type id), its inputs (the names of earlier steps, or of the
graph's two sources ``generated`` and ``reference``) and only the params in which the recipe
departs from the node's own default. Every other value, the median window and the fusion kernel
included, is the node descriptor's default, read when the graph is bound (or, for Fix, when its
inner nodes are resolved): a default is stated once, by its node.

It lives in the core, beside ``paper_graph``, as plain data naming node ids, so the core still
imports no node: the descriptors are reached through the runtime's registry only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

READ = "org.segfuse.Read"
WRITE = "org.segfuse.Write"
GRABCUT = "org.segfuse.GrabCutSegment"
MODNET = "org.segfuse.MODNetMatte"
MOTION = "org.segfuse.MotionMatte"
TRACK = "org.segfuse.TrackMatte"
MEDIAN = "org.segfuse.TemporalMedian"
FUSE = "org.segfuse.ReferenceFuse"

SOURCES = ("generated", "reference")  # the graph's inputs: made by the caller (Read, PIRender Drive, a host)


@dataclass(frozen=True)
class Step:
    """One node of a recipe: ``params`` holds only what differs from the node's defaults."""

    name: str
    type: str
    inputs: Mapping[str, str]
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:  # read-only: a recipe is shared by every graph built from it
        object.__setattr__(self, "inputs", MappingProxyType(dict(self.inputs)))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


# ---- the mattes: where the person is, in the reference and in each generated frame ----------------

_TRACK = Step("generated_matte", TRACK,
              {"Source": "generated", "Reference": "reference", "ReferenceMatte": "reference_matte"})
_REFERENCE_MODNET = Step("reference_modnet", MODNET, {"Source": "reference"})
_REFERENCE_HYBRID = Step("reference_matte", GRABCUT, {"Source": "reference", "Hint": "reference_modnet"},
                         {"init": "hint"})
_PAPER_GRABCUT = {"init": "border", "working_size": 0}  # from the frame border, at full resolution

MATTES: Mapping[tuple[str, str], tuple[Step, ...]] = MappingProxyType({
    # best: the reference's matte (learnt from the clip's motion, or segmented), carried into each
    # frame by optical flow
    ("best", "motion"): (Step("reference_matte", MOTION, {"Reference": "reference", "Moving": "generated"}),
                         _TRACK),
    ("best", "modnet"): (Step("reference_matte", MODNET, {"Source": "reference"}), _TRACK),
    ("best", "hybrid"): (_REFERENCE_MODNET, _REFERENCE_HYBRID, _TRACK),
    # classic (SegFuse 0.1): every frame segmented, GrabCut started from the reference's matte
    ("classic", "grabcut"): (
        Step("reference_matte", GRABCUT, {"Source": "reference"}, {"init": "portrait"}),
        Step("generated_matte", GRABCUT, {"Source": "generated", "Hint": "reference_matte"}, {"init": "hint"}),
    ),
    ("classic", "modnet"): (
        Step("reference_matte", MODNET, {"Source": "reference"}),
        Step("generated_matte", MODNET, {"Source": "generated"}),
    ),
    ("classic", "hybrid"): (
        _REFERENCE_MODNET,
        Step("generated_modnet", MODNET, {"Source": "generated"}),
        _REFERENCE_HYBRID,
        Step("generated_matte", GRABCUT, {"Source": "generated", "Hint": "generated_modnet"}, {"init": "hint"}),
    ),
    # paper: GrabCut from the frame border on both, at full resolution
    ("paper", "grabcut"): (
        Step("reference_matte", GRABCUT, {"Source": "reference"}, _PAPER_GRABCUT),
        Step("generated_matte", GRABCUT, {"Source": "generated"}, _PAPER_GRABCUT),
    ),
})

# ---- the blend: the generated mattes steadied (eq. 6), the reference's background fused back (eqs. 7-8) --

_FUSE_INPUTS = {"Generated": "generated", "Reference": "reference", "GeneratedMatte": "median",
                "ReferenceMatte": "reference_matte"}
_PLAIN_BLEND = (Step("median", MEDIAN, {"Source": "generated_matte"}), Step("fuse", FUSE, _FUSE_INPUTS))
BLENDS: Mapping[str, tuple[Step, ...]] = MappingProxyType({
    # best: the median never lags behind the person (it holds the current frame), the pixel next to
    # the person stays as rendered (protect), and every background pixel past it gets the whole
    # reference, the 7x7 ramp lying on the person's side (feather inside): chosen on the ground-truth
    # benchmark once Motion Matte's colours no longer overrule its motion (keep_moving), which kept
    # the worst shot under the 0.02/255 limit in a single-frame host too (README, "Any framing")
    "best": (Step("median", MEDIAN, {"Source": "generated_matte"}, {"hold_current": True}),
             Step("fuse", FUSE, _FUSE_INPUTS, {"protect": 1, "feather": "inside"})),
    "classic": _PLAIN_BLEND,
    "paper": _PLAIN_BLEND,
})

OUTPUT = "fuse"  # the step whose image is the repaired frame
WRITE_STEP = Step("write", WRITE, {"Source": OUTPUT})

PRESETS = tuple(BLENDS)
SEGMENTERS = ("motion", "grabcut", "modnet", "hybrid")  # as the command line lists them
DEFAULT_SEGMENTER = MappingProxyType({"best": "motion", "classic": "grabcut", "paper": "grabcut"})

# what each option of ``segfuse fix`` sets: every node of the type in the recipe gets the value
OPTION_PARAMS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType({
    "window": ((MEDIAN, "window"),),
    "median_mode": ((MEDIAN, "mode"),),
    "kernel": ((FUSE, "kernel"),),
    "reference_fit": ((FUSE, "reference_fit"),),
    "iterations": ((GRABCUT, "iterations"), (MOTION, "iterations")),
    "working_size": ((GRABCUT, "working_size"), (MOTION, "working_size"), (TRACK, "working_size")),
    "modnet_weights": ((MODNET, "weights"),),
    "modnet_backend": ((MODNET, "backend"),),
    "device": ((MODNET, "device"),),
    "crf": ((WRITE, "crf"),),
    "encoder_preset": ((WRITE, "preset"),),
})

# SegFuse Fix's params that set an inner node's param: Fix declares each as a copy of that param
# (its default, range and choices), so Fix restates none of them
FIX_RECIPES = ("best", "classic")
FIX_PARAMS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType({
    "window": ((MEDIAN, "window"),),
    "kernel": ((FUSE, "kernel"),),
    "iterations": ((GRABCUT, "iterations"),),
    "working_size": ((GRABCUT, "working_size"),),
    "modnet_weights": ((MODNET, "weights"),),
    "reference_fit": ((FUSE, "reference_fit"),),
})


def recipe(preset: str, segmenter: str | None = None) -> tuple[Step, ...]:
    """The steps of ``preset`` with ``segmenter`` (default: the preset's own), mattes first, ``fuse`` last.
    Raises KeyError for a pair the description does not hold."""
    return MATTES[(preset, segmenter or DEFAULT_SEGMENTER[preset])] + BLENDS[preset]


def node_types(presets: tuple[str, ...] = PRESETS) -> tuple[str, ...]:
    """Every node type the recipes of ``presets`` use, in the description's order."""
    steps = [s for (preset, _), matte in MATTES.items() if preset in presets for s in matte]
    steps += [s for preset in presets for s in BLENDS[preset]]
    return tuple(dict.fromkeys(s.type for s in steps))


def presets_of(segmenter: str) -> tuple[str, ...]:
    """The presets that offer ``segmenter``, in the description's order."""
    return tuple(p for p in PRESETS if (p, segmenter) in MATTES)


def with_values(step: Step, values: Mapping[str, Any],
                mapping: Mapping[str, tuple[tuple[str, str], ...]] = OPTION_PARAMS) -> dict[str, Any]:
    """``step``'s params with the given ``values`` (option name → value; None: not given) set on it
    wherever ``mapping`` sends an option to a param of the step's node type."""
    params = dict(step.params)
    for option, value in values.items():
        if value is None:
            continue
        for node_type, param in mapping.get(option, ()):
            if node_type == step.type:
                params[param] = value
    return params
