"""``flow.summary``'s writing ops: ``create_summary_writer``, ``scalar``, ``histogram``,
``image``, ``pb``, ``flush_summary_writer``.

OneFlow ran them as ops inside a job; so does flowsnap. Inside a job body the arguments are
traced blobs, and the write is a host callback of the compiled step (``jax.debug.callback``),
which gets the step's values and writes one event each time the job runs. Outside a job the
arguments are NumPy arrays (or plain values) and the event is written at once. ``tag`` is, as in
OneFlow, an int8 blob of the tag's bytes; a ``str`` is accepted too. ``step`` is an int64 blob of
one value (or an int); OneFlow made it optional for ``pb`` and ``image``, whose op still needed
it: flowsnap writes step 0 when it is left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from flowsnap.errors import ArgumentError
from flowsnap.summary._encode import encode_png, fill_histogram
from flowsnap.summary._proto import message_class
from flowsnap.summary._writer import current_writer, flush_writer, open_writer

__all__ = [
    "create_summary_writer",
    "flush_summary_writer",
    "histogram",
    "image",
    "pb",
    "scalar",
]


def _is_traced(value: Any) -> bool:
    import jax

    return isinstance(value, jax.core.Tracer)


def _on_host(fn: Callable[..., None], *args: Any) -> None:
    """Run ``fn`` on the arguments' values: now, or, for traced blobs, as a host callback each
    time the compiled step runs (the arguments that are not blobs are passed as they are)."""
    traced = [i for i, a in enumerate(args) if _is_traced(a)]
    if not traced:
        fn(*args)
        return
    import jax

    fixed = list(args)

    def callback(*values: Any) -> None:
        full = list(fixed)
        for i, value in zip(traced, values, strict=True):
            full[i] = np.asarray(value)
        fn(*full)

    jax.debug.callback(callback, *(args[i] for i in traced))


def _tag(tag: Any, default: str | None = None) -> str:
    if tag is None and default is not None:
        return default
    if isinstance(tag, str):
        return tag
    if isinstance(tag, bytes):
        return tag.decode("utf-8", "replace")
    array = np.asarray(tag)
    if array.dtype not in (np.int8, np.uint8):
        raise ArgumentError(
            f"a summary tag is a str or an int8 blob of its bytes, got {array.dtype}"
        )
    return array.astype(np.uint8).tobytes().decode("utf-8", "replace")


def _step(step: Any) -> int:
    if step is None:
        return 0
    array = np.asarray(step).ravel()
    if array.size < 1:
        raise ArgumentError("a summary step is an int64 blob with one value, got an empty one")
    return int(array[0])


def _event(step: Any) -> Any:
    return message_class("tensorboard.Event")(wall_time=time.time(), step=_step(step))


def _value(event: Any, tag: str, plugin: str) -> Any:
    value = event.summary.value.add(tag=tag)
    value.metadata.plugin_data.plugin_name = plugin
    return value


def create_summary_writer(logdir: Any, name: str | None = None) -> None:
    """Open the process's summary writer on ``<logdir>/event/`` (replacing any other)."""
    del name
    if not isinstance(logdir, str) and not hasattr(logdir, "__fspath__"):
        raise ArgumentError(f"create_summary_writer: logdir is a path, got {type(logdir).__name__}")
    from flowsnap._engine import current_trace

    if current_trace() is None:
        open_writer(logdir)
        return
    import jax

    def create() -> None:
        open_writer(logdir)

    jax.debug.callback(create)


def flush_summary_writer(name: str | None = None) -> None:
    """Flush the process's summary writer (outside a job: once the summary callbacks of the
    steps dispatched so far have run)."""
    del name
    from flowsnap._engine import current_trace

    if current_trace() is None:
        flush_writer(wait=True)
        return
    import jax

    jax.debug.callback(flush_writer)


def scalar(value: Any, step: Any, tag: Any, name: str | None = None) -> None:
    """Write the first element of ``value`` as a scalar (TensorBoard's ``scalars`` plugin)."""
    del name

    def write(value: Any, step: Any, tag: Any) -> None:
        array = np.asarray(value).ravel()
        if array.size < 1:
            raise ArgumentError("flow.summary.scalar: the value blob is empty")
        event = _event(step)
        _value(event, _tag(tag), "scalars").simple_value = float(array[0])
        current_writer("flow.summary.scalar").write(event)

    _on_host(write, value, step, tag)


def histogram(value: Any, step: Any, tag: Any, name: str | None = None) -> None:
    """Write the histogram of every element of ``value`` (TensorBoard's ``histograms``)."""
    del name

    def write(value: Any, step: Any, tag: Any) -> None:
        event = _event(step)
        fill_histogram(_value(event, _tag(tag), "histograms").histo, np.asarray(value))
        current_writer("flow.summary.histogram").write(event)

    _on_host(write, value, step, tag)


def image(value: Any, step: Any = None, tag: Any = None, name: str | None = None) -> None:
    """Write a uint8 NHWC batch of images (1, 3 or 4 channels) as PNGs; with more than one
    image, the i-th is tagged ``f"{tag}{i}"`` as OneFlow did."""
    del name

    def write(value: Any, step: Any, tag: Any) -> None:
        images = np.asarray(value)
        if images.ndim != 4 or images.shape[3] not in (1, 3, 4) or images.dtype != np.uint8:
            raise ArgumentError(
                "flow.summary.image: value must be uint8 of shape (batch, height, width, "
                f"1|3|4), got {images.dtype} {images.shape}"
            )
        label = _tag(tag, "image")
        event = _event(step)
        for i, one in enumerate(images):
            value_ = _value(event, label if len(images) == 1 else f"{label}{i}", "images")
            value_.image.height, value_.image.width = one.shape[0], one.shape[1]
            value_.image.colorspace = one.shape[2]
            value_.image.encoded_image_string = encode_png(one)
        current_writer("flow.summary.image").write(event)

    _on_host(write, value, step, tag)


def pb(value: Any, step: Any = None, name: str | None = None) -> None:
    """Write a ``Summary`` given as the int8 bytes of its text format (what OneFlow's programs
    fed: ``np.fromstring(str(flow.summary.text([...])), dtype=np.int8)``), of its binary
    encoding, or as the message itself."""
    del name

    def write(value: Any, step: Any) -> None:
        event = _event(step)
        event.summary.CopyFrom(parse_summary(value))
        current_writer("flow.summary.pb").write(event)

    if hasattr(value, "SerializeToString"):
        value = np.frombuffer(value.SerializeToString(), np.int8)
    _on_host(write, value, step)


def parse_summary(value: Any) -> Any:
    """A ``tensorboard.Summary`` from its text format or binary encoding (bytes, str, or an int8
    array of the bytes).

    Raises:
        ArgumentError: neither parses.
    """
    from google.protobuf import message, text_format

    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, bytes):
        data = value
    else:
        data = np.asarray(value).astype(np.uint8).tobytes()
    summary = message_class("tensorboard.Summary")()
    try:
        text_format.Parse(data.decode("utf-8"), summary)
        return summary
    except (text_format.ParseError, UnicodeDecodeError):
        pass
    try:
        summary.ParseFromString(data)
    except message.DecodeError as exc:
        raise ArgumentError(
            "flow.summary.pb: the value is neither a Summary in protobuf text format nor its "
            f"binary encoding ({exc})"
        ) from None
    return summary
