"""Reading PyTorch ``state_dict`` files (``.pt``/``.pth``/``.bin``) with
``torch.load(weights_only=True, mmap=True)`` only: no unrestricted unpickling, ever.

Each tensor must be backed by as many bytes as it claims (a stored ``expand()`` view of one
element could otherwise ask for terabytes when made contiguous).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import ml_dtypes
import numpy as np

from flowsnap.errors import ConversionError, CorruptCheckpointError
from flowsnap.foreign._tensor import ForeignTensor
from flowsnap.format.internals import open_regular


def open_torch(path: str) -> dict[str, ForeignTensor]:
    """``{name: ForeignTensor}`` of a flat PyTorch ``state_dict`` file (mapped, not copied)."""
    real = os.path.realpath(path)
    fd, _ = open_regular(real, what="PyTorch file")  # never block on a FIFO
    os.close(fd)
    try:
        import torch
    except ImportError:
        raise ConversionError(
            f"{path}: reading PyTorch files needs torch: pip install 'flowsnap[torch]'"
        ) from None
    try:
        obj = torch.load(real, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises many kinds; all mean "not a safe state_dict"
        raise CorruptCheckpointError(
            f"{path}: not a PyTorch state_dict loadable with weights_only=True: {exc}"
        ) from None
    if not isinstance(obj, Mapping):
        raise ConversionError(
            f"{path}: expected a flat state_dict {{name: tensor}}, got a {type(obj).__name__}; "
            "save model.state_dict() itself"
        )
    others = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if others:
        raise ConversionError(
            f"{path}: expected a flat state_dict {{name: tensor}}, but "
            f"{', '.join(map(repr, others[:5]))}{' ...' if len(others) > 5 else ''} "
            f"{'holds' if len(others) == 1 else 'hold'} no tensor (a training checkpoint with "
            "nested dicts?); save "
            "model.state_dict() itself, e.g. torch.save(ckpt['state_dict'], 'model.pt')"
        )
    out = {}
    for name, tensor in obj.items():
        storage = tensor.untyped_storage().nbytes()
        claimed = tensor.numel() * tensor.element_size()
        if claimed > storage:
            raise CorruptCheckpointError(
                f"{path}: tensor {name!r} claims {claimed} bytes over a storage of {storage} "
                "(a broadcast view); save tensor.contiguous() instead"
            )
        dtype = _numpy_dtype(tensor, name, path)
        out[str(name)] = ForeignTensor(
            str(name),
            path,
            "torch",
            shape=tuple(tensor.shape),
            dtype=dtype,
            load=_Tensor(tensor),
        )
    return out


def _numpy_dtype(tensor: Any, name: str, path: str) -> np.dtype[Any]:
    import torch

    if tensor.dtype == torch.bfloat16:
        bf16: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
        return bf16
    try:
        dtype: np.dtype[Any] = np.dtype(torch.empty((), dtype=tensor.dtype).numpy().dtype)
        return dtype
    except TypeError:
        raise ConversionError(
            f"{path}: tensor {name!r} has dtype {tensor.dtype}, which NumPy cannot hold"
        ) from None


class _Tensor:
    """A torch tensor seen as a NumPy array when called (no copy when contiguous)."""

    def __init__(self, tensor: Any) -> None:
        self.tensor = tensor

    def __call__(self) -> np.ndarray[Any, Any]:
        import torch

        tensor = self.tensor.detach().contiguous()
        if tensor.dtype == torch.bfloat16:
            array: np.ndarray[Any, Any] = tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
            return array
        result: np.ndarray[Any, Any] = tensor.numpy()
        return result
