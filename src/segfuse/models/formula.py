"""Deterministic 'formula weights' (see ../shared/README.md): a reproducible stand-in for official
weights, so parity fixtures and benchmarks run where the official files cannot be downloaded.

Entry i of ``state_dict()`` (key k, shape s) is drawn from ``numpy.random.RandomState(i)``:
num_batches_tracked → zeros; running_mean → U(-0.1, 0.1); running_var → U(0.5, 1.5);
other ≥2-D → U(-b, b), b = sqrt(6 / prod(s[1:])); other 1-D '…weight' → U(0.5, 1.5);
everything else → U(-0.1, 0.1); cast to float32.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def formula_tensor(index: int, key: str, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.RandomState(index)
    if key.endswith("num_batches_tracked"):
        return np.zeros(shape, np.int64)
    if key.endswith("running_mean"):
        return rng.uniform(-0.1, 0.1, shape).astype(np.float32)
    if key.endswith("running_var"):
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if len(shape) >= 2:
        bound = np.sqrt(6.0 / np.prod(shape[1:]))
        return rng.uniform(-bound, bound, shape).astype(np.float32)
    if key.endswith("weight"):
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return rng.uniform(-0.1, 0.1, shape).astype(np.float32)


def formula_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Formula weights for every entry of ``model.state_dict()``, in its order."""
    return {key: torch.from_numpy(formula_tensor(i, key, tuple(value.shape)))
            for i, (key, value) in enumerate(model.state_dict().items())}


def load_formula_weights(model: nn.Module) -> nn.Module:
    """Fill ``model`` with formula weights (later duplicates of shared tensors win, as in load_state_dict)."""
    model.load_state_dict(formula_state_dict(model))
    return model
