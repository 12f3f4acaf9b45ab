"""Reference fusion (paper eqs. 7–8) against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest

from segfuse.ops.fuse import fuse, fusion_mask, opencv_sigma


def gaussian_by_hand(mask: np.ndarray, kernel: int, sigma: float) -> np.ndarray:
    """Separable Gaussian with reflect-101 borders, written out with numpy only."""
    r = kernel // 2
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-(x**2) / (2 * sigma**2))
    k /= k.sum()
    padded = np.pad(mask.astype(np.float64), r, mode="reflect")  # numpy 'reflect' = OpenCV REFLECT_101
    rows = sum(k[i] * padded[:, i:i + mask.shape[1]] for i in range(kernel))
    return sum(k[i] * rows[i:i + mask.shape[0], :] for i in range(kernel))


def test_opencv_default_sigma_for_7x7_is_1_4():
    assert opencv_sigma(7) == pytest.approx(1.4)


@pytest.mark.parametrize("soft", [False, True])
def test_fusion_mask_and_blend_equal_equations_7_and_8(soft):
    rng = np.random.default_rng(3)
    h, w = 21, 18
    if soft:
        gen_alpha, ref_alpha = rng.random((h, w), np.float32), rng.random((h, w), np.float32)
    else:
        gen_alpha = (rng.random((h, w)) > 0.6).astype(np.float32)
        ref_alpha = (rng.random((h, w)) > 0.6).astype(np.float32)
    gen, ref = rng.random((h, w, 3), np.float32), rng.random((h, w, 3), np.float32)

    # eq. 7: backgrounds B = 1 - A, intersected (AND for binary, min for soft), then 7×7 Gaussian.
    b_gen, b_ref = 1 - gen_alpha, 1 - ref_alpha
    both = np.logical_and(b_gen > 0.5, b_ref > 0.5).astype(np.float64) if not soft else np.minimum(b_gen, b_ref)
    m_hand = gaussian_by_hand(both, 7, 1.4)
    m = fusion_mask(gen_alpha, ref_alpha, kernel=7)
    np.testing.assert_allclose(m, m_hand, atol=1e-6)

    # eq. 8: (1 - M) ⊙ I_gen + M ⊙ I_ref
    out_hand = (1 - m_hand)[:, :, None] * gen + m_hand[:, :, None] * ref
    np.testing.assert_allclose(fuse(gen, ref, m), out_hand, atol=1e-6)


def test_mask_is_one_where_both_are_background_and_zero_deep_inside_the_person():
    gen_alpha = np.zeros((40, 40), np.float32)
    gen_alpha[10:30, 10:30] = 1
    m = fusion_mask(gen_alpha, np.zeros_like(gen_alpha), kernel=7)
    assert m[0, 0] == pytest.approx(1.0) and m[20, 20] == pytest.approx(0.0)
    assert 0 < m[10, 20] < 1  # the edge is feathered


def test_fuse_node_renders_equations_through_the_graph(make_graph):
    from segfuse.runtime import Evaluator

    graph = make_graph({
        "gen": ("org.segfuse.test.Noise", {"components": "rgb", "seed": 1}, {}),
        "ref": ("org.segfuse.test.Noise", {"components": "rgb", "still": True, "seed": 2}, {}),
        "gm": ("org.segfuse.test.Noise", {"seed": 3}, {}),
        "rm": ("org.segfuse.test.Noise", {"still": True, "seed": 4}, {}),
        "fuse": ("org.segfuse.ReferenceFuse", {"kernel": 5, "sigma": 1.0},
                 {"Generated": "gen", "Reference": "ref", "GeneratedMatte": "gm", "ReferenceMatte": "rm"}),
    })
    ev = Evaluator(graph)
    t = 4
    gen, ref = ev.render("gen", t).pixels, ev.render("ref", t).pixels
    gm, rm = ev.render("gm", t).alpha, ev.render("rm", t).alpha
    m = gaussian_by_hand(np.minimum(1 - gm, 1 - rm), 5, 1.0)
    expected = (1 - m)[:, :, None] * gen + m[:, :, None] * ref
    np.testing.assert_allclose(ev.render("fuse", t).pixels, expected, atol=1e-6)
