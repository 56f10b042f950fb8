"""``flow.data.megatron_gpt_mmap_data_loader`` (``MegatronGPTMMapDataLoader``): batches of GPT
training sequences from a Megatron ``.bin``/``.idx`` dataset, as a data op.

Batch ``k`` is samples ``k*batch_size .. (k+1)*batch_size - 1`` of
:class:`flowsnap.data.MegatronGPTDataset` (OneFlow's sample construction; each sample is
``seq_length + 1`` tokens, inputs and shifted labels in one row), so the position of the loader is
the job's ``System-DataPosition-<job>`` variable: a resumed run continues from the saved batch for
every value of ``start_from_saved_progress``. (OneFlow saved that position only when
``start_from_saved_progress`` was true, in its own ``<name>-iteration-...`` variable.)
``random_seed=None`` takes the op's seed (OneFlow took the clock's time, not reproducible).
``nd_sbp`` (0.4's ``parallel_distribution``) is accepted; the loader produces the logical batch
on the host and the engine splits it over a placement's devices.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from flowsnap import dtypes
from flowsnap._engine import HostCall, host_op
from flowsnap.data import MegatronGPTDataset, read_megatron_index
from flowsnap.errors import ArgumentError


def megatron_gpt_mmap_data_loader(
    data_file_prefix: str,
    seq_length: int,
    num_samples: int,
    batch_size: int,
    dtype: Any = np.int64,
    shuffle: bool = True,
    random_seed: int | None = None,
    split_sizes: Sequence[int] | None = None,
    split_index: int | None = None,
    nd_sbp: Sequence[str] | None = None,
    start_from_saved_progress: bool = False,
    name: str | None = None,
) -> jax.Array:
    """``(batch_size, seq_length + 1)`` token ids per job call (module docstring).

    Raises:
        ArgumentError: a non-positive count, a bad split, a dtype other than int32/int64.
        DatasetError: the ``.idx``/``.bin`` files are missing or damaged; (when read) a batch
            past the samples built for ``num_samples``.
    """
    del nd_sbp, start_from_saved_progress
    for value, what in ((seq_length, "seq_length"), (num_samples, "num_samples")):
        if not isinstance(value, int) or value <= 0:
            raise ArgumentError(f"megatron_gpt_mmap_data_loader: {what} must be > 0, got {value!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ArgumentError(
            f"megatron_gpt_mmap_data_loader: batch_size must be > 0, got {batch_size!r}"
        )
    np_dtype = dtypes.as_dtype(dtype, "megatron_gpt_mmap_data_loader")
    if np_dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise ArgumentError(
            f"megatron_gpt_mmap_data_loader: dtype must be flow.int32 or flow.int64, got {np_dtype}"
        )
    sizes = tuple(int(s) for s in (split_sizes if split_sizes is not None else (1,)))
    index = 0 if split_index is None else int(split_index)
    if not 0 <= index < len(sizes):
        raise ArgumentError(f"split index {index} is out of range, split_sizes {list(sizes)}")
    read_megatron_index(f"{data_file_prefix}.idx")  # a missing or damaged index fails here
    built: dict[int, MegatronGPTDataset] = {}
    lock = threading.Lock()

    def dataset(seed: int) -> MegatronGPTDataset:
        with lock:
            if seed not in built:
                built[seed] = MegatronGPTDataset(
                    data_file_prefix,
                    seq_length,
                    num_samples,
                    split_sizes=sizes,
                    split_index=index,
                    shuffle=bool(shuffle),
                    seed=seed,
                )
            return built[seed]

    def load(call: HostCall) -> np.ndarray[Any, Any]:
        seed = call.seed if random_seed is None else int(random_seed)
        first = call.batch * batch_size
        return dataset(seed).samples(np.arange(first, first + batch_size), np_dtype)  # type: ignore[no-any-return]

    key = (
        str(Path(data_file_prefix)),
        seq_length,
        num_samples,
        batch_size,
        str(np_dtype),
        bool(shuffle),
        random_seed,
        sizes,
        index,
    )
    out: jax.Array = host_op("megatron_gpt_mmap_data_loader", load, fed=True, name=name, key=key)
    return out


MegatronGPTMMapDataLoader = megatron_gpt_mmap_data_loader
