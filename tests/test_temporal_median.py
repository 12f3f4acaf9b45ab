"""Temporal median (paper eq. 6): exact against np.median, windows at clip ends, both modes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from segfuse.ops.temporal import median_network, median_stack, merge_exchange_comparators


@pytest.mark.parametrize("n", range(1, 12))
def test_merge_exchange_network_sorts_every_0_1_input(n):
    # 0-1 principle: a comparator network sorts everything iff it sorts all 0/1 inputs.
    pairs = merge_exchange_comparators(n)
    for bits in itertools.product((0, 1), repeat=n):
        v = list(bits)
        for i, j in pairs:
            if v[i] > v[j]:
                v[i], v[j] = v[j], v[i]
        assert v == sorted(bits)


@pytest.mark.parametrize("n", range(1, 10))
def test_median_stack_equals_numpy(n):
    rng = np.random.default_rng(n)
    frames = [rng.random((17, 23, 1), dtype=np.float32) for _ in range(n)]
    expected = np.median(np.stack(frames), axis=0)
    np.testing.assert_allclose(median_stack(frames), expected, rtol=0, atol=1e-7)


def test_median_of_binary_masks_is_the_majority_and_inputs_are_untouched():
    rng = np.random.default_rng(7)
    frames = [(rng.random((40, 40)) > 0.5).astype(np.float32) for _ in range(5)]
    copies = [f.copy() for f in frames]
    out = median_stack(frames)
    np.testing.assert_array_equal(out, (np.sum(frames, axis=0) >= 3).astype(np.float32))
    for a, b in zip(frames, copies, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", range(2, 10))
def test_median_of_hard_mattes_equals_numpy_bit_for_bit(n):
    """Hard (0/1) mattes take the counting path: even counts give 0.5 where the two middle values
    differ, as numpy's mean of them; one value that is not 0 or 1 sends the stack to the network."""
    rng = np.random.default_rng(n)
    frames = [(rng.random((31, 29)) > rng.random()).astype(np.float32) for _ in range(n)]
    np.testing.assert_array_equal(median_stack(frames), np.median(np.stack(frames), axis=0))
    frames[-1][0, 0] = 0.25
    np.testing.assert_array_equal(median_stack(frames), np.median(np.stack(frames), axis=0).astype(np.float32))


def test_median_network_is_pruned_below_a_full_sort():
    comparators, outputs = median_network(5)
    assert outputs == (2,)
    assert len(comparators) < len(merge_exchange_comparators(5))


@pytest.mark.parametrize("mode", ["causal", "centered"])
@pytest.mark.parametrize("window", [1, 3, 5, 7])
def test_node_median_matches_numpy_over_the_existing_window(make_graph, mode, window):
    graph = make_graph({
        "noise": ("org.segfuse.test.Noise", {"frames": "0-9", "width": 9, "height": 7}, {}),
        "median": ("org.segfuse.TemporalMedian", {"window": window, "mode": mode}, {"Source": "noise"}),
    })
    from segfuse.runtime import Evaluator

    ev = Evaluator(graph)
    for t in range(10):
        first = t - (window - 1 if mode == "causal" else window // 2)
        times = [s for s in range(first, first + window) if 0 <= s <= 9]
        stack = np.stack([ev.render("noise", s).pixels for s in times])
        expected = np.median(stack, axis=0)
        np.testing.assert_allclose(ev.render("median", t).pixels, expected, atol=1e-7,
                                   err_msg=f"frame {t} window {times}")


def test_temporal_median_asks_for_the_previous_four_frames(registry):
    from segfuse.runtime.node import NodeInstance
    from segfuse.runtime.params import ParamValues

    node = NodeInstance(registry.get("org.segfuse.TemporalMedian"), "m")
    p = ParamValues({"window": 5, "mode": "causal"})
    assert node.frames_needed(10, ["Source"], p) == {"Source": [6, 7, 8, 9, 10]}
    p = ParamValues({"window": 5, "mode": "centered"})
    assert node.frames_needed(10, ["Source"], p) == {"Source": [8, 9, 10, 11, 12]}
