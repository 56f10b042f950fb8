"""OneFlow's data ops inside job bodies: ``flow.data.ofrecord_reader`` and its decoders, the
deprecated ``decode_ofrecord`` with its ``BlobConf`` and codecs, ``decode_random``.

Each is a host op (:func:`flowsnap._engine.host_op`): a pure function of its arguments, the batch
index and the op's seed, run on the host before each compiled step. The reader's output stays on
the host (a :class:`~flowsnap._engine.HostBlob` of ``batch_size`` parsed ``OFRecord`` messages);
the raw decoder's output is fed to the step as an array.

**Which records batch k holds.** OneFlow's reader is an endless stream: the parts are read in
order (``part-0``'s records, then ``part-1``'s...) and, at the end of the last part, again from
the first: epochs wrap around inside a batch. Batch ``k`` holds stream positions
``k*batch_size ... (k+1)*batch_size - 1``; position ``q`` is record ``q % N`` of epoch ``q // N``
(``N`` records in all). So the batches are computed, not remembered, and a resumed run (the job's
``System-DataPosition-<job>`` variable restored by ``load_variables``) reads exactly the batches
the uninterrupted run would have read.

- ``shuffle_after_epoch=True``: as in OneFlow, epoch 0 reads the parts in order and every later
  epoch in a shuffled part order (the records inside a part keep their order); OneFlow seeded
  that shuffle with a fixed constant plus the epoch, here it is seeded with the op's seed and
  the epoch.
- ``random_shuffle=True``: OneFlow kept a buffer of ``shuffle_buffer_size`` records and emitted
  a random one as each new record came in, from an unseeded generator (not reproducible, and its
  state could not be saved). Here the stream is cut into consecutive windows of
  ``shuffle_buffer_size`` positions and each window is permuted, with a generator seeded from the
  op's seed and the window's number: every record still moves at most about a buffer's length,
  as in OneFlow, and the order is a pure function of the position, so it is reproducible and
  resumes exactly.
- ``data_part_num``: the reader reads parts ``0 .. data_part_num-1``. Under a placement of
  several devices (``flow.scope.placement("cpu", "0:0-3")`` around the reader), each device reads
  its own range of the parts and gives ``batch_size / devices`` records of each batch, as OneFlow's
  reader did (:mod:`flowsnap.ops._data_stream`); the batch is the devices' records in order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from flowsnap import dtypes
from flowsnap._engine import HostBlob, HostCall, current_placement, host_op
from flowsnap.data import OFRecordDataset, decode_bytes, decode_raw
from flowsnap.errors import ArgumentError
from flowsnap.ops._data_stream import stream_records

_log = logging.getLogger("flowsnap")


def _positive(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ArgumentError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def ofrecord_reader(
    ofrecord_dir: str,
    batch_size: int = 1,
    data_part_num: int = 1,
    part_name_prefix: str = "part-",
    part_name_suffix_length: int = -1,
    random_shuffle: bool = False,
    shuffle_buffer_size: int = 1024,
    shuffle_after_epoch: bool = False,
    name: str | None = None,
) -> HostBlob:
    """Read ``batch_size`` OFRecords per job call from the parts in ``ofrecord_dir``.

    Returns a host blob of shape ``(batch_size,)`` that decoders take
    (:func:`OFRecordRawDecoder`, :func:`OFRecordBytesDecoder`, the image decoders). Order,
    shuffling and epochs: module docstring.

    Raises:
        ArgumentError: a count is not a positive int.
        DatasetError: a part is missing, empty of records or damaged (named, with the offset).
        TraceError: called outside a job body.
    """
    batch_size = _positive(batch_size, "ofrecord_reader batch_size")
    data_part_num = _positive(data_part_num, "ofrecord_reader data_part_num")
    buffer = _positive(shuffle_buffer_size, "ofrecord_reader shuffle_buffer_size")
    dataset = OFRecordDataset(
        ofrecord_dir,
        data_part_num,
        part_name_prefix=part_name_prefix,
        part_name_suffix_length=part_name_suffix_length,
    )
    lengths = dataset.part_lengths
    if not len(dataset):
        raise ArgumentError(f"the OFRecord parts in {ofrecord_dir} hold no record")
    devices = current_placement().count  # each device of the placement reads its own parts
    shuffle, after_epoch = bool(random_shuffle), bool(shuffle_after_epoch)

    def indices(batch: int, seed: int) -> np.ndarray[Any, Any]:
        return stream_records(
            batch,
            batch_size,
            lengths,
            seed=seed,
            random_shuffle=shuffle,
            shuffle_buffer_size=buffer,
            shuffle_after_epoch=after_epoch,
            parallel_num=devices,
        )

    indices(0, 0)  # counts the devices cannot share fail now, not in a batch

    def read(call: HostCall) -> list[Any]:
        return dataset.read(indices(call.batch, call.seed))

    key = (
        str(ofrecord_dir),
        batch_size,
        data_part_num,
        part_name_prefix,
        part_name_suffix_length,
        bool(random_shuffle),
        buffer,
        bool(shuffle_after_epoch),
        devices,
    )
    blob: HostBlob = host_op(
        "ofrecord_reader",
        read,
        fed=False,
        name=name,
        key=key,
        shape=(batch_size,),
        dtype=dtypes.record,
    )
    return blob


def ofrecord_loader(
    ofrecord_dir: str,
    batch_size: int = 1,
    data_part_num: int = 1,
    part_name_prefix: str = "part-",
    part_name_suffix_length: int = -1,
    shuffle: bool = False,
    shuffle_buffer_size: int = 1024,
    name: str | None = None,
) -> HostBlob:
    """OneFlow's older name of :func:`ofrecord_reader` (``shuffle`` is ``random_shuffle``)."""
    _log.warning(
        "flow.data.ofrecord_loader is deprecated; use flow.data.ofrecord_reader(...) to read "
        "OFRecords"
    )
    return ofrecord_reader(
        ofrecord_dir,
        batch_size=batch_size,
        data_part_num=data_part_num,
        part_name_prefix=part_name_prefix,
        part_name_suffix_length=part_name_suffix_length,
        random_shuffle=shuffle,
        shuffle_buffer_size=shuffle_buffer_size,
        name=name,
    )


def _records_input(input_blob: Any, what: str) -> HostBlob:
    if not isinstance(input_blob, HostBlob):
        raise ArgumentError(
            f"{what} decodes the output of flow.data.ofrecord_reader, got "
            f"{type(input_blob).__name__}"
        )
    return input_blob


def OFRecordRawDecoder(  # noqa: N802 - OneFlow's name
    input_blob: HostBlob,
    blob_name: str,
    shape: Sequence[int],
    dtype: Any,
    dim1_varying_length: bool = False,
    truncate: bool = False,
    auto_zero_padding: bool = False,
    name: str | None = None,
) -> jax.Array:
    """Feature ``blob_name`` of each record as an array of shape ``(batch_size, *shape)``.

    OneFlow's ``ofrecord_raw_decoder`` (conversion and length rules:
    :func:`flowsnap.data.decode_raw`). ``auto_zero_padding`` is 0.3/0.4's name of ``truncate``
    (deprecated in 0.5, with a warning).

    Raises:
        ArgumentError: the input is not a reader's output, a bad shape or dtype.
        DatasetError: (when the batch is read) a record lacks the feature or it does not fit.
    """
    _records_input(input_blob, "OFRecordRawDecoder")
    np_dtype = dtypes.as_dtype(dtype, f"OFRecordRawDecoder({blob_name!r})")
    if not isinstance(shape, list | tuple):
        raise ArgumentError(
            f"OFRecordRawDecoder({blob_name!r}): shape must be a list or tuple, got {shape!r}"
        )
    dims = tuple(int(d) for d in shape)
    if auto_zero_padding:
        _log.warning("auto_zero_padding has been deprecated, please use truncate instead")
    cut = bool(truncate or auto_zero_padding)
    varying = bool(dim1_varying_length)
    decode_raw([], blob_name, dims, np_dtype)  # validate the arguments now, not in a batch

    def decode(call: HostCall, records: list[Any]) -> np.ndarray[Any, Any]:
        del call
        return decode_raw(
            records, blob_name, dims, np_dtype, dim1_varying_length=varying, truncate=cut
        )

    key = (blob_name, dims, str(np_dtype), varying, cut)
    out: jax.Array = host_op(
        "ofrecord_raw_decoder", decode, (input_blob,), fed=True, name=name, key=key
    )
    return out


ofrecord_raw_decoder = OFRecordRawDecoder


def OFRecordBytesDecoder(  # noqa: N802 - OneFlow's name
    input_blob: HostBlob, blob_name: str, name: str | None = None
) -> HostBlob:
    """Feature ``blob_name`` of each record (one byte string) as a host blob of ``uint8`` arrays,
    OneFlow's TensorBuffer: what the image decoders take.

    Raises:
        ArgumentError: the input is not a reader's output.
    """
    blob = _records_input(input_blob, "OFRecordBytesDecoder")

    def decode(call: HostCall, records: list[Any]) -> list[np.ndarray[Any, Any]]:
        del call
        return decode_bytes(records, blob_name)

    out: HostBlob = host_op(
        "ofrecord_bytes_decoder",
        decode,
        (input_blob,),
        fed=False,
        name=name,
        key=(blob_name,),
        shape=blob.shape,
        dtype=np.dtype(np.uint8),
    )
    return out


ofrecord_bytes_decoder = OFRecordBytesDecoder


def decode_random(
    shape: Sequence[int],
    dtype: Any,
    batch_size: int = 1,
    initializer: Any = None,
    tick: Any = None,
    name: str | None = None,
) -> jax.Array:
    """A batch of random data of shape ``(batch_size, *shape)`` each job call.

    ``initializer`` is a flowsnap initializer (``flow.random_normal_initializer()``...) called
    with a key made from the op's seed and the batch index; ``None`` gives OneFlow's default,
    ``random_uniform_initializer()`` (uniform in [0, 1)). ``tick`` (OneFlow's scheduling
    input) is accepted and has no effect: batches are computed one per call.

    Raises:
        ArgumentError: ``shape`` is not a list or tuple, ``batch_size`` not a positive int, or
            ``initializer`` not callable.
    """
    del tick
    if not isinstance(shape, list | tuple):
        raise ArgumentError(f"decode_random: shape must be a list or tuple, got {shape!r}")
    batch_size = _positive(batch_size, "decode_random batch_size")
    np_dtype = dtypes.as_dtype(dtype, "decode_random")
    full = (batch_size, *(int(d) for d in shape))
    if initializer is not None and not callable(initializer):
        raise ArgumentError(
            "decode_random: initializer must be a flowsnap initializer "
            f"(flow.random_uniform_initializer()...), got {type(initializer).__name__}"
        )

    def draw(call: HostCall) -> np.ndarray[Any, Any]:
        if initializer is None:
            return call.rng.uniform(0.0, 1.0, full).astype(np_dtype)
        # (on the CPU, outside any trace: the first batch is drawn while the body is traced)
        with jax.ensure_compile_time_eval(), jax.default_device(jax.devices("cpu")[0]):
            key = jax.random.fold_in(jax.random.PRNGKey(call.seed % (1 << 32)), call.batch)
            return np.asarray(initializer(key, full, np_dtype)).astype(np_dtype)

    key = (full, str(np_dtype), repr(initializer))  # initializers are records: equal if alike
    out: jax.Array = host_op("decode_random", draw, fed=True, name=name, key=key)
    return out
