"""Running MODNet: PyTorch (CPU/CUDA, fp32/fp16) or ONNX Runtime (CUDA provider when present).

Both runners take the same preprocessed input (``modnet.to_network_input``) and return
N×1×h×w mattes, so the two backends are interchangeable inside ``infer_mattes``.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from segfuse.models.checkpoints import load_strict, read_state_dict
from segfuse.models.devices import pick_device, place
from segfuse.models.modnet import MODNet
from segfuse.models.weights import WeightsError

OPSET = 17
_ORT_MISSING = "onnxruntime is not installed: pip install 'segfuse[cpu]' (or 'segfuse[gpu]' for CUDA)"


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise WeightsError(_ORT_MISSING) from None
    return onnxruntime


def load_modnet(path: str | Path) -> MODNet:
    """A MODNet in eval mode from an official (``module.``-prefixed) or plain checkpoint."""
    model = MODNet()
    load_strict(model, read_state_dict(path), path, "MODNet")
    return model.eval()


class TorchRunner:
    """MODNet through PyTorch eager; fp16 only on CUDA."""

    def __init__(self, model: MODNet, device: str = "auto", precision: str = "fp32") -> None:
        self.model, self.device, self.dtype = place(model, device, precision)

    def __call__(self, x: Tensor) -> Tensor:
        # On the CPU a batch only adds memory traffic (measured 2× slower per frame at batch 8):
        # run it one frame at a time there, whole on a GPU.
        step = 1 if self.device.type == "cpu" else len(x)
        with torch.inference_mode():
            return torch.cat([self.model(x[i:i + step].to(self.device, self.dtype), True)[2].float().cpu()
                              for i in range(0, len(x), step)])


class _MatteOnly(nn.Module):
    def __init__(self, model: MODNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x, True)[2]


def export_onnx(model: MODNet, path: str | Path) -> Path:
    """Write MODNet (input 'input' N×3×H×W in [-1, 1] → output 'matte' N×1×H×W) with dynamic
    batch, height and width, opset 17; the file appears only when complete."""
    from segfuse.io.atomic import atomic_output

    path = Path(path)
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise WeightsError("exporting ONNX needs the onnx package: pip install 'segfuse[cpu]'") from None
    dummy = torch.zeros(1, 3, 512, 512)
    axes = {0: "batch", 2: "height", 3: "width"}
    with atomic_output(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A copy in eval mode: the exporter restores the wrapper's previous mode afterwards, which
        # would otherwise leave the caller's model training (and its BatchNorm statistics moving).
        frozen = _MatteOnly(copy.deepcopy(model).float().cpu()).eval()
        torch.onnx.export(frozen, (dummy,), str(tmp), input_names=["input"],
                          output_names=["matte"], dynamic_axes={"input": axes, "matte": axes},
                          opset_version=OPSET, dynamo=False)
    return path


def ort_providers(device: str = "auto") -> list[str]:
    """CUDA provider first when onnxruntime-gpu has it (and it is wanted), CPU always."""
    available = _onnxruntime().get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise WeightsError("device 'cuda' was asked for but onnxruntime has no CUDAExecutionProvider "
                           "(install the gpu extra: onnxruntime-gpu)")
    wanted = ["CUDAExecutionProvider"] if device in ("auto", "cuda") else []
    return [p for p in wanted if p in available] + ["CPUExecutionProvider"]


class OrtRunner:
    """MODNet through ONNX Runtime from an exported file."""

    def __init__(self, onnx_path: str | Path, device: str = "auto", precision: str = "fp32") -> None:
        ort = _onnxruntime()
        if precision == "fp16":
            raise WeightsError("precision fp16 is available with the torch backend on CUDA; use fp32 here")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=ort_providers(device))
        except Exception as exc:  # ORT raises its own exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WeightsError(f"{onnx_path}: not a loadable ONNX model: {first}") from None
        self.providers = self.session.get_providers()
        self.step_one = self.providers[0] == "CPUExecutionProvider"  # as for torch: batches cost on a CPU

    def __call__(self, x: Tensor) -> Tensor:
        data = np.ascontiguousarray(x.numpy(), dtype=np.float32)
        step = 1 if self.step_one else len(data)
        return torch.from_numpy(np.concatenate(
            [self.session.run(["matte"], {"input": data[i:i + step]})[0] for i in range(0, len(data), step)]))


def cached_onnx(checkpoint: Path) -> Path:
    """The ONNX export of a checkpoint, made once into the models folder (keyed by its sha256)."""
    from segfuse.models.weights import models_dir, sha256_of

    target = models_dir() / "onnx" / f"{checkpoint.stem}-{sha256_of(checkpoint)[:12]}.onnx"
    if not target.is_file():
        export_onnx(load_modnet(checkpoint), target)
    return target


def _ort_usable() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def make_runner(weights: Path | None, backend: str = "auto", device: str = "auto", precision: str = "fp32"):
    """A runner for the given (or registry-found) weights; errors are one line naming the file.

    ``auto`` takes ONNX Runtime for .onnx files, and for checkpoints when the network will run
    on the CPU and onnxruntime is installed (it measured faster there; the export is cached);
    otherwise PyTorch.
    """
    from segfuse.models.weights import find_weights

    path = find_weights("modnet-photographic", str(weights) if weights else "")
    is_onnx = path.suffix.lower() == ".onnx"
    if backend == "torch" and is_onnx:
        raise WeightsError(f"{path}: the torch backend needs a .ckpt checkpoint, not an ONNX file")
    if backend == "auto" and not is_onnx:
        on_cpu = pick_device(device).type == "cpu"
        backend = "onnxruntime" if on_cpu and precision == "fp32" and _ort_usable() else "torch"
    if backend == "onnxruntime" or is_onnx:
        return OrtRunner(path if is_onnx else cached_onnx(path), device, precision)
    return TorchRunner(load_modnet(path), device, precision)
