"""The pipeline's one description (``segfuse.pipeline``): the presets and the Fix node read every
default back from the node descriptors, and state only the values in which a recipe departs."""

from __future__ import annotations

import pytest

from segfuse import pipeline
from segfuse.cli import build_parser
from segfuse.nodes.segfuse_fix import Fix
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.runtime import ParamValues, default_registry
from segfuse.runtime.graph import coerce_params

RECIPES = sorted(pipeline.MATTES)


def defaults(node_type: str, coerced: bool = False) -> dict:
    """The node's declared defaults (as a bound graph coerces them, with ``coerced``)."""
    return {p.name: p.coerce(p.default) if coerced else p.default for p in default_registry().get(node_type).params}


def test_the_description_states_only_values_that_differ_from_the_node_defaults():
    steps = [s for key in RECIPES for s in pipeline.recipe(*key)] + [pipeline.WRITE_STEP]
    for step in steps:
        descriptor = default_registry().get(step.type)
        for name, value in step.params.items():
            param = descriptor.param(name)
            assert param is not None, f"{step.name}: {step.type} has no param {name}"
            assert param.coerce(value) != param.default, f"{step.name}.{name} restates {step.type}'s default"
        for clip in step.inputs:
            assert descriptor.clip(clip) is not None, f"{step.name}: {step.type} has no clip {clip}"


@pytest.mark.parametrize(("preset", "segmenter"), RECIPES)
def test_each_preset_resolves_to_the_node_defaults_but_its_own_overrides(preset, segmenter, tmp_path):
    doc = paper_graph(FixOptions("gen.####.png", "ref.png", "out.####.png", preset=preset, segmenter=segmenter),
                      tmp_path)
    steps = pipeline.recipe(preset, segmenter)
    assert [s.name for s in steps] == [n for n in doc.nodes if n not in ("generated", "reference", "write")]
    for step in steps:
        spec = doc.nodes[step.name]
        assert (spec.type, spec.params, spec.inputs) == (step.type, dict(step.params), dict(step.inputs))
        resolved = coerce_params(doc, step.name, default_registry()).as_dict()
        assert resolved == {**defaults(step.type, coerced=True), **step.params}


def test_options_given_set_their_params_and_the_command_line_gives_none_by_default(tmp_path):
    args = build_parser().parse_args(["fix", "--generated", "g.mp4", "--reference", "r.png", "-o", "o.mp4"])
    for option in pipeline.OPTION_PARAMS:
        assert getattr(args, option) is None, option
    doc = paper_graph(FixOptions("g.####.png", "r.png", "o.mp4", preset="classic", window=3, kernel=9,
                                 median_mode="centered", iterations=2, working_size=128, crf=30), tmp_path)
    assert doc.nodes["median"].params == {"window": 3, "mode": "centered"}
    assert doc.nodes["fuse"].params == {"kernel": 9}
    assert doc.nodes["generated_matte"].params == {"init": "hint", "iterations": 2, "working_size": 128}
    assert doc.nodes["write"].params == {"path": "o.mp4", "crf": 30}
    best = paper_graph(FixOptions("g.####.png", "r.png", "o.png", iterations=2, working_size=128), tmp_path)
    assert best.nodes["reference_matte"].params == {"iterations": 2, "working_size": 128}
    assert best.nodes["generated_matte"].params == {"working_size": 128}  # Track Matte does not iterate


def test_the_paper_preset_is_the_papers_recipe():
    """The paper's numbers (GrabCut 3 iterations from the border at full resolution, causal median of 5,
    7×7 Gaussian of the intersection, no protection): the node defaults the paper preset relies on."""
    doc = paper_graph(FixOptions("g.####.png", "r.png", "o.png", preset="paper"))
    resolved = {n: coerce_params(doc, n, default_registry()) for n in ("generated_matte", "median", "fuse")}
    matte, median, fuse = resolved["generated_matte"], resolved["median"], resolved["fuse"]
    assert (matte.init, matte.iterations, matte.working_size) == ("border", 3, 0)
    assert (median.window, median.mode, median.hold_current) == (5, "causal", False)
    assert (fuse.kernel, fuse.sigma, fuse.protect, fuse.feather, fuse.match_colour) == (7, 0.0, 0, "centered", False)


def test_fix_mirrors_its_inner_params_with_their_defaults_and_ranges():
    for name, ((node_type, inner), *_) in pipeline.FIX_PARAMS.items():
        mine, theirs = Fix.descriptor.param(name), default_registry().get(node_type).param(inner)
        assert (type(mine), mine.default) == (type(theirs), theirs.default), name
        assert {k: v for k, v in vars(mine).items() if k not in ("name", "label", "help")} == \
               {k: v for k, v in vars(theirs).items() if k not in ("name", "label", "help")}, name
    recipe = Fix.descriptor.param("recipe")
    assert recipe.default == pipeline.PRESETS[0] and set(recipe.options) <= set(pipeline.PRESETS)


@pytest.mark.parametrize("segmenter", [None, "grabcut", "modnet", "hybrid"])
def test_fix_runs_the_presets_steps_with_the_node_defaults(segmenter):
    base = {p.name: p.default for p in Fix.descriptor.params}
    p = ParamValues({**base, "recipe": "classic" if segmenter else "best", "segmenter": segmenter or base["segmenter"]})
    steps = Fix.steps(p)
    assert [(s.name, s.type, dict(s.inputs)) for s, _ in steps.values()] == \
           [(s.name, s.type, dict(s.inputs)) for s in pipeline.recipe(p.recipe, segmenter)]
    for step, params in steps.values():
        assert params.as_dict() == {**defaults(step.type), **step.params}, step.name


def test_fix_params_reach_the_inner_nodes_they_mirror():
    base = {p.name: p.default for p in Fix.descriptor.params}
    p = ParamValues({**base, "recipe": "classic", "segmenter": "hybrid", "window": 3, "kernel": 9, "iterations": 2,
                     "working_size": 128, "modnet_weights": "m.onnx", "reference_fit": "stretch"})
    steps = Fix.steps(p)
    assert steps["median"][1].window == 3
    assert (steps["fuse"][1].kernel, steps["fuse"][1].reference_fit) == (9, "stretch")
    for name in ("reference_matte", "generated_matte"):
        assert (steps[name][1].iterations, steps[name][1].working_size, steps[name][1].init) == (2, 128, "hint")
    assert steps["generated_modnet"][1].weights == "m.onnx"
    best = Fix.steps(ParamValues({**base, "iterations": 2, "working_size": 128}))
    motion = best["reference_matte"][1]  # GrabCut's settings do not reach Motion Matte
    assert (motion.iterations, motion.working_size) == (defaults(pipeline.MOTION)["iterations"],
                                                        defaults(pipeline.MOTION)["working_size"])


def test_fix_help_quotes_each_default_from_its_node(monkeypatch):
    """``segfuse fix --help`` shows the value a user gets, read from the descriptor: change the node's
    default and the help follows."""
    import dataclasses

    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["fix"].format_help().split())
    for node_type, param, label in ((pipeline.MEDIAN, "window", "Temporal Median"), (pipeline.FUSE, "kernel",
                                    "Reference Fuse"), (pipeline.WRITE, "crf", "Write")):
        assert f"{label}'s, {default_registry().get(node_type).param(param).default}" in help_text
    median = default_registry().get(pipeline.MEDIAN)
    changed = dataclasses.replace(median, params=tuple(
        dataclasses.replace(p, default=9) if p.name == "window" else p for p in median.params))
    monkeypatch.setitem(default_registry()._nodes, pipeline.MEDIAN, changed)
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["fix"].format_help().split())
    assert "Temporal Median's, 9" in help_text
