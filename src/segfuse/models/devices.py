"""Where networks run: device choice and precision, shared by every model runner."""

from __future__ import annotations

import torch
from torch import nn

from segfuse.models.weights import WeightsError


def pick_device(device: str) -> torch.device:
    """'auto' (CUDA when present), 'cpu' or 'cuda'; asking for a missing CUDA is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise WeightsError("device 'cuda' was asked for but PyTorch sees no CUDA device")
    return torch.device(device)


def place(model: nn.Module, device: str, precision: str) -> tuple[nn.Module, torch.device, torch.dtype]:
    """The model on its device in eval mode at the asked precision (fp16 only on CUDA)."""
    where = pick_device(device)
    if precision == "fp16" and where.type != "cuda":
        raise WeightsError("precision fp16 needs a CUDA device; use fp32 on the CPU")
    dtype = torch.float16 if precision == "fp16" else torch.float32
    return model.to(where, dtype).eval(), where, dtype
