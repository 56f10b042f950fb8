"""``flow.data.onerec_reader`` and ``OneRecDecoder``/``onerec_decoder``: OneFlow's OneRec files
(:mod:`flowsnap.data`'s ``OneRecDataset``, ``decode_onerec``) as data ops.

The reader is the OFRecord reader's stream (:mod:`flowsnap.ops._data_stream`) over the ``files``
in order: endless, epochs wrapping inside a batch, ``shuffle_after_epoch`` reordering the files
after the first epoch, each device of the placement reading its share of the files. With
``random_shuffle``, ``shuffle_mode="instance"`` permutes records within windows of
``shuffle_buffer_size`` positions (OneFlow: a buffer of records); ``"batch"`` permutes whole
batches within windows of ``shuffle_buffer_size`` batches (OneFlow: a buffer of batches). Both
are seeded from the op's seed, so they are reproducible and resume exactly (OneFlow's were not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from flowsnap import dtypes
from flowsnap._engine import HostBlob, HostCall, current_placement, host_op
from flowsnap.data import OneRecDataset, decode_onerec
from flowsnap.errors import ArgumentError
from flowsnap.ops._data_stream import stream_records


def _batch_window_shuffle(batch: int, size: int, seed: int) -> int:
    window, offset = divmod(batch, size)
    perm = np.random.default_rng([seed, 0xBA7C, window]).permutation(size)
    return window * size + int(perm[offset])


def onerec_reader(
    files: Sequence[str],
    batch_size: int = 1,
    random_shuffle: bool = False,
    shuffle_mode: str = "instance",
    shuffle_buffer_size: int = 1024,
    shuffle_after_epoch: bool = False,
    verify_example: bool = True,
    name: str | None = None,
) -> HostBlob:
    """``batch_size`` OneRec records per job call from ``files`` (module docstring); a host
    blob that :func:`OneRecDecoder` decodes.

    Raises:
        ArgumentError: ``files`` is not a list of paths, a count is not positive, an unknown
            ``shuffle_mode``.
        DatasetError: a file is missing or damaged (named, with the offset).
    """
    if not isinstance(files, list | tuple):
        raise ArgumentError(f"onerec_reader: files must be a list or tuple, got {files!r}")
    for what, value in (("batch_size", batch_size), ("shuffle_buffer_size", shuffle_buffer_size)):
        if not isinstance(value, int) or value <= 0:
            raise ArgumentError(f"onerec_reader: {what} must be a positive int, got {value!r}")
    if shuffle_mode not in ("instance", "batch"):
        raise ArgumentError(
            f'onerec_reader: shuffle_mode must be "instance" or "batch", got {shuffle_mode!r}'
        )
    dataset = OneRecDataset(files)
    lengths = dataset.part_lengths
    if not len(dataset):
        raise ArgumentError(f"onerec_reader: the files {list(files)} hold no record")
    devices = current_placement().count
    by_instance = bool(random_shuffle) and shuffle_mode == "instance"
    by_batch = bool(random_shuffle) and shuffle_mode == "batch"
    after_epoch, verify = bool(shuffle_after_epoch), bool(verify_example)

    def indices(batch: int, seed: int) -> np.ndarray[Any, Any]:
        if by_batch:
            batch = _batch_window_shuffle(batch, shuffle_buffer_size, seed)
        return stream_records(
            batch,
            batch_size,
            lengths,
            seed=seed,
            random_shuffle=by_instance,
            shuffle_buffer_size=shuffle_buffer_size,
            shuffle_after_epoch=after_epoch,
            parallel_num=devices,
        )

    indices(0, 0)  # counts the devices cannot share fail now, not in a batch

    def read(call: HostCall) -> list[bytes]:
        return dataset.read(indices(call.batch, call.seed), verify=verify)

    key = (
        tuple(str(f) for f in files),
        batch_size,
        bool(random_shuffle),
        shuffle_mode,
        shuffle_buffer_size,
        after_epoch,
        verify,
        devices,
    )
    blob: HostBlob = host_op(
        "onerec_reader", read, fed=False, name=name, key=key, shape=(batch_size,), dtype=None
    )
    return blob


def OneRecDecoder(  # noqa: N802 - OneFlow's name
    input_blob: HostBlob,
    key: str,
    dtype: Any,
    shape: Sequence[int],
    is_dynamic: bool = False,
    reshape: Sequence[int] | None = None,
    batch_padding: Sequence[int] | None = None,
    name: str | None = None,
) -> jax.Array:
    """Feature ``key`` of each OneRec record as a ``(batch_size, *shape)`` array (rules:
    :func:`flowsnap.data.decode_onerec`).

    Raises:
        ArgumentError: the input is not ``onerec_reader``'s output, a bad dtype, shape,
            ``reshape`` or ``batch_padding``.
        DatasetError: (when the batch is read) a record lacks the feature or does not fit.
    """
    if not isinstance(input_blob, HostBlob):
        raise ArgumentError(
            f"OneRecDecoder decodes the output of flow.data.onerec_reader, got "
            f"{type(input_blob).__name__}"
        )
    np_dtype = dtypes.as_dtype(dtype, f"OneRecDecoder({key!r})")
    if not isinstance(shape, list | tuple):
        raise ArgumentError(f"OneRecDecoder({key!r}): shape must be a list or tuple")
    dims = tuple(int(d) for d in shape)
    new = None if reshape is None else tuple(int(d) for d in reshape)
    pad = None if batch_padding is None else tuple(int(d) for d in batch_padding)
    dynamic = bool(is_dynamic)
    decode_onerec([], key, np_dtype, dims, reshape=new, batch_padding=pad)  # check arguments

    def decode(call: HostCall, payloads: list[bytes]) -> np.ndarray[Any, Any]:
        del call
        return decode_onerec(
            payloads, key, np_dtype, dims, is_dynamic=dynamic, reshape=new, batch_padding=pad
        )

    out: jax.Array = host_op(
        "onerec_decoder",
        decode,
        (input_blob,),
        fed=True,
        name=name,
        key=(key, str(np_dtype), dims, dynamic, new, pad),
    )
    return out


onerec_decoder = OneRecDecoder
