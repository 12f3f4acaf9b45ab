"""The paper's post-processing graph as a graph document (node ids only: no node imports).

    generated ─┬──────────────────────────────────────────────┐
               └─> segment ─> Temporal Median ────────────────┤
    reference ─┬─> segment ──────────────────────────────────> Reference Fuse ─> Write
               └─────────────────────────────────────────────┘

Segmenters: ``grabcut`` (the paper's best): the reference is cut from a portrait prior once
(it is a still) and its matte initialises GrabCut on every generated frame; ``modnet``: MODNet
on both; ``hybrid``: MODNet's matte initialises GrabCut on both (the paper's conclusion).
The generated mattes are steadied by the temporal median and fused (eqs. 6–8).

With a source portrait and driving coefficients, PIRender Drive makes the generated clip, and
the reference is the portrait exactly as the network sees it (256×256): the paper's whole graph.
With a driving video instead of coefficients, Face Coefficients reads them from it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segfuse import pipeline
from segfuse.io.formats import h264_container_problem
from segfuse.io.frames import FrameRange, is_movie
from segfuse.runtime.graphfile import GraphDoc, NodeSpec

SEGMENTERS = pipeline.SEGMENTERS
PRESETS = pipeline.PRESETS
PRESET_HELP = {
    "best": "the reference's matte learnt from the clip's motion (Motion Matte), carried into each frame "
            "by optical flow (Track Matte), a median that never lags behind the person, a blend that "
            "leaves the pixel next to the person as rendered",
    "classic": "SegFuse 0.1: GrabCut per frame from the reference's matte, the paper's median and blend; kept "
               "for research: on a moving person it pastes the still reference over moved hair and shoulders "
               "(ground-truth benchmark, moving clips: overall error 3.9x the raw render's, -294 %, "
               "+2.6/255 on the person)",
    "paper": "the paper's exact recipe: GrabCut from the frame border, 3 iterations at full resolution, "
             "causal median of 5, intersection, 7×7 Gaussian, blend; kept for research: on a moving person "
             "it pastes the reference over the person (ground-truth benchmark, all defects: -204 %, "
             "+3.4/255 on the person)",
}


@dataclass(frozen=True)
class FixOptions:
    """What ``segfuse fix`` exposes; every field maps onto node params (``segfuse.pipeline``). ``None``
    means "not given": the preset's own choice (or the node's default) applies, and the saved graph
    records it. An option given where no node of the preset has its param is refused, never silently
    ignored."""

    generated: str
    reference: str
    output: str
    segmenter: str | None = None  # best: motion; classic, paper: grabcut
    window: int | None = None  # Temporal Median's
    median_mode: str | None = None
    kernel: int | None = None  # Reference Fuse's
    reference_fit: str | None = None
    iterations: int | None = None  # GrabCut's and Motion Matte's
    working_size: int | None = None  # GrabCut's, Motion Matte's and Track Matte's; paper: full resolution
    modnet_weights: str | None = None
    modnet_backend: str | None = None
    device: str | None = None
    frames: FrameRange | None = None
    source: str = ""  # with coeffs: render the generated clip with PIRender Drive first
    coeffs: str = ""
    pirender_weights: str | None = None
    drive_mode: str | None = None
    preset: str = "best"
    driving: str = ""  # with source: a driving video read by Face Coefficients (instead of coeffs)
    face_weights: str = ""
    landmarks: str = ""
    source_landmarks: str = ""
    smoothing: float | None = None  # Face Coefficients'
    crf: int | None = None  # Write's H.264 quality and encoder preset (movies only)
    encoder_preset: str | None = None
    audio: str | None = None  # the sound a movie output carries; None: the clip's own, "none": no sound


SEGMENTER_PRESETS = {segmenter: pipeline.presets_of(segmenter) for segmenter in SEGMENTERS}


def _given(**values) -> dict:
    """The options the user gave (not None), as node params."""
    return {k: v for k, v in values.items() if v is not None}


def _refuse(option: str, why: str) -> ValueError:
    return ValueError(f"{option}: {why}")


def _check_options(options: FixOptions, segmenter: str, base_dir: Path) -> None:
    """Refuse every given option that no node of this preset and segmenter would use."""
    preset = options.preset
    if segmenter not in SEGMENTER_PRESETS:
        raise ValueError(f"segmenter '{segmenter}' is not one of {', '.join(SEGMENTER_PRESETS)}")
    if preset not in SEGMENTER_PRESETS[segmenter]:
        belongs = " and ".join(SEGMENTER_PRESETS[segmenter])
        instead = {"best": "preset best learns the reference's matte from the clip's motion instead",
                   "classic": "preset classic segments with GrabCut (or MODNet)",
                   "paper": "preset paper segments with GrabCut only"}[preset]
        raise _refuse(f"--segmenter {segmenter}", f"{instead}; {segmenter} belongs to preset(s) {belongs} "
                      f"(add --preset {SEGMENTER_PRESETS[segmenter][0]}, or drop --segmenter)")
    grabcut = segmenter in ("grabcut", "hybrid")
    if options.iterations is not None and not (grabcut or segmenter == "motion"):
        raise _refuse("--iterations", f"no node of preset {preset} with --segmenter {segmenter} iterates "
                      "(GrabCut and Motion Matte do: use --segmenter hybrid, or the classic or paper preset)")
    if options.working_size is not None and preset == "paper":
        raise _refuse("--working-size", "the paper preset solves GrabCut at full resolution; the option belongs "
                      "to presets best and classic")
    if options.working_size is not None and preset == "classic" and not grabcut:
        raise _refuse("--working-size", "no node of preset classic with --segmenter modnet has a working size "
                      "(use --segmenter grabcut or hybrid)")
    if segmenter not in ("modnet", "hybrid"):
        for option, value in (("--modnet-weights", options.modnet_weights),
                              ("--modnet-backend", options.modnet_backend)):
            if value is not None:
                raise _refuse(option, f"MODNet does not run with --segmenter {segmenter} "
                              "(add --segmenter modnet or hybrid)")
        if options.device is not None and not options.source:
            raise _refuse("--device", "no network runs in this graph (it applies to MODNet, with --segmenter "
                          "modnet or hybrid, and to PIRender, with --source)")
    if not is_movie(options.output):
        for option, value in (("--crf", options.crf), ("--encoder-preset", options.encoder_preset)):
            if value is not None:
                raise _refuse(option, f"applies to movie outputs; {options.output} is written as image files")
    problem = h264_container_problem(options.output) if is_movie(options.output) else None
    if problem:
        raise ValueError(problem)
    if options.audio is not None and not is_movie(options.output):
        raise _refuse("--audio", f"applies to movie outputs; {options.output} is written as image files")
    if options.audio not in (None, "", NO_SOUND) and sound_streams(base_dir / options.audio) == 0:
        raise _refuse(f"--audio {options.audio}", "has no sound to carry")
    if not options.source:
        for option, value in (("--pirender-weights", options.pirender_weights),
                              ("--drive-mode", options.drive_mode)):
            if value is not None:
                raise _refuse(option, "applies to PIRender Drive, which runs only with --source and --coeffs")


NO_SOUND = "none"


def sound_streams(path: Path) -> int:
    """Audio streams in ``path``; ValueError (one line) when it cannot be opened."""
    from segfuse.errors import InputError
    from segfuse.io.sound import audio_stream_count  # PyAV: only when a sound is asked about

    try:
        return audio_stream_count(path)
    except InputError as exc:
        raise ValueError(str(exc)) from None


def output_sound(options: FixOptions, base_dir: Path) -> str:
    """The file whose sound a movie output carries: ``--audio`` as given, else the clip the repair
    starts from (the generated movie, or the driving video) when it has sound; "" for none."""
    if not is_movie(options.output):
        return ""
    if options.audio is not None:
        return "" if options.audio in ("", NO_SOUND) else options.audio
    clip = options.driving if options.source else options.generated
    if not clip or not is_movie(clip) or not (base_dir / clip).is_file():
        return ""  # a sequence has no sound; a missing clip is the Read's error to report
    try:
        return clip if sound_streams(base_dir / clip) else ""
    except ValueError:
        return ""  # an unreadable clip: Read says why


def paper_graph(options: FixOptions, base_dir: Path | None = None) -> GraphDoc:
    """Build the graph for ``options``; paths are kept as given (relative to ``base_dir``).
    Raises ValueError (one line) for an unknown preset or an option the preset would ignore."""
    if options.preset not in PRESETS:
        raise ValueError(f"preset '{options.preset}' is not one of {', '.join(PRESETS)}")
    segmenter = options.segmenter or pipeline.DEFAULT_SEGMENTER[options.preset]
    base_dir = base_dir or Path.cwd()
    _check_options(options, segmenter, base_dir)
    if options.source and options.driving:
        face = {"driving": options.driving, "landmarks": options.landmarks,
                "source_landmarks": options.source_landmarks, "weights": options.face_weights,
                **_given(smoothing=options.smoothing, mode=options.drive_mode, device=options.device)}
        drive = _given(weights=options.pirender_weights, device=options.device)
        nodes = [
            NodeSpec("portrait", "org.segfuse.Read", {"path": options.source}),
            NodeSpec("coefficients", "org.segfuse.FaceCoefficients", face, {"Source": "portrait"}),
            NodeSpec("generated", "org.segfuse.PIRenderDrive", drive,
                     {"Source": "portrait", "Coefficients": "coefficients"}),
            NodeSpec("reference", "org.segfuse.PIRenderDrive", {**drive, "output": "source"}, {"Source": "portrait"}),
        ]
    elif options.source:
        drive = {"coefficients": options.coeffs,
                 **_given(weights=options.pirender_weights, mode=options.drive_mode, device=options.device)}
        nodes = [
            NodeSpec("portrait", "org.segfuse.Read", {"path": options.source}),
            NodeSpec("generated", "org.segfuse.PIRenderDrive", drive, {"Source": "portrait"}),
            NodeSpec("reference", "org.segfuse.PIRenderDrive", {**drive, "output": "source"}, {"Source": "portrait"}),
        ]
    else:
        nodes = [
            NodeSpec("generated", "org.segfuse.Read", {"path": options.generated}),
            NodeSpec("reference", "org.segfuse.Read", {"path": options.reference}),
        ]
    nodes += _recipe_nodes(options, segmenter, base_dir)
    what = {"motion": "Motion Matte + Track Matte", "grabcut": "GrabCut", "modnet": "MODNet",
            "hybrid": "MODNet-started GrabCut"}[segmenter]
    if options.preset == "best" and segmenter != "motion":
        what = f"{what} reference matte + Track Matte"
    median = "temporal median (holding the current frame)" if options.preset == "best" else "temporal median"
    return GraphDoc({n.name: n for n in nodes}, options.frames,
                    f"SegFuse {options.preset} preset: {what} + {median} + reference fusion",
                    base_dir or Path.cwd(), "<segfuse drive>" if options.driving else "<segfuse fix>")


def _recipe_nodes(options: FixOptions, segmenter: str, base_dir: Path) -> list[NodeSpec]:
    """The preset's steps (``segfuse.pipeline``) and Write, with the options the user gave: every
    other param is left to the node's default, which the bound graph (and ``--save-graph``) resolves."""
    given = {option: getattr(options, option) for option in pipeline.OPTION_PARAMS}
    nodes = [NodeSpec(step.name, step.type, pipeline.with_values(step, given), dict(step.inputs))
             for step in pipeline.recipe(options.preset, segmenter)]
    write = pipeline.WRITE_STEP
    sound = output_sound(options, base_dir)
    params = {"path": options.output, **pipeline.with_values(write, given), **({"audio": sound} if sound else {})}
    return nodes + [NodeSpec(write.name, write.type, params, dict(write.inputs))]
