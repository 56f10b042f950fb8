"""``flow.watch`` and ``flow.watch_diff``: hand a blob's value, or its gradient, to a host function
each time the job runs.

A handler gets what its first parameter's annotation asks for, as in OneFlow: ``tp.Numpy`` a NumPy
array, ``tp.ListNumpy`` a list with one array per device (one here), no annotation a
:class:`~flowsnap._engine._returns.LocalBlob` (``.numpy()``, ``.numpy_list()``); a string instead
of a handler is a prompt printed before the value.

``watch_diff`` records the blob in the trace; the train step (``_step.py``) then differentiates
the loss with respect to it too and delivers the gradient: OneFlow's diff of the blob, i.e. the
gradient of the *sum* of the losses times the loss scale (the variables' gradients are then
divided by the number of loss instances; that is flowsnap's mean loss).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap import typing as tp
from flowsnap._engine._returns import LocalBlob
from flowsnap._engine._trace import current_trace, require_trace
from flowsnap.errors import ArgumentError, TraceError

Handler = Callable[[np.ndarray[Any, Any]], None]


def make_handler(handler_or_prompt: Any, what: str) -> Handler:
    """A function of the NumPy value that calls ``handler_or_prompt`` with what its annotation
    asks for (or prints the value after the prompt).

    Raises:
        ArgumentError: the handler takes no parameter, or its annotation is not ``tp.Numpy``,
            ``tp.ListNumpy`` or absent; or it is neither callable, a str nor None.
    """
    if handler_or_prompt is None or isinstance(handler_or_prompt, str):
        prompt = handler_or_prompt

        def show(array: np.ndarray[Any, Any]) -> None:
            if prompt is not None:
                print(prompt)
            print(array)

        return show
    if not callable(handler_or_prompt):
        raise ArgumentError(
            f"{what}: handler_or_prompt must be a function, a str or None, got "
            f"{type(handler_or_prompt).__name__}"
        )
    handler: Callable[[Any], None] = handler_or_prompt
    annotation = _first_annotation(handler, what)
    if annotation is tp.Numpy:
        return handler
    if annotation is tp.ListNumpy:
        return lambda array: handler([array])
    if annotation is inspect.Parameter.empty:
        return lambda array: handler(LocalBlob(array))
    raise ArgumentError(
        f"{what}: the handler's parameter is annotated {annotation!r}; use tp.Numpy, "
        "tp.ListNumpy or no annotation"
    )


def _first_annotation(handler: Callable[..., Any], what: str) -> Any:
    if inspect.isbuiltin(handler):  # print: hand it the array
        return tp.Numpy
    try:
        params = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):  # nothing to read: hand it the array
        return tp.Numpy
    if not params:
        raise ArgumentError(f"{what}: the handler must take one parameter (the value)")
    annotation = params[0].annotation
    if isinstance(annotation, str):  # PEP 563
        try:
            annotation = eval(annotation, getattr(handler, "__globals__", {}))
        except Exception:
            raise ArgumentError(
                f"{what}: cannot evaluate the handler's annotation {annotation!r}"
            ) from None
    return annotation


def watch(blob_watched: jax.Array, handler_or_prompt: Any = None) -> None:
    """Call the handler with ``blob_watched``'s value each time the job runs (print it when
    ``handler_or_prompt`` is None or a prompt). Handlers run on the host during the step."""
    call = make_handler(handler_or_prompt, "flow.watch")
    ctx = current_trace()
    if ctx is not None and ctx.discovering:
        return
    jax.debug.callback(lambda value: call(np.asarray(value)), blob_watched, ordered=False)


def watch_diff(blob_watched: jax.Array, handler_or_prompt: Any = None) -> None:
    """Call the handler with the gradient of the loss with respect to ``blob_watched`` after
    each step of this train job (OneFlow's diff: of the sum of the losses, times the loss scale).

    Raises:
        TraceError: outside a job body, or in a predict job (it has no gradients).
        ArgumentError: ``blob_watched`` is not a floating-point blob, or a bad handler.
    """
    ctx = require_trace("flow.watch_diff")
    call = make_handler(handler_or_prompt, "flow.watch_diff")
    if not ctx.is_train:
        raise TraceError(
            f"job {ctx.job!r}: flow.watch_diff needs a train job (a predict job computes no "
            "gradients); declare it with @flow.global_function(type='train')"
        )
    if not hasattr(blob_watched, "dtype") or not jnp.issubdtype(blob_watched.dtype, jnp.floating):
        raise ArgumentError(
            f"job {ctx.job!r}: flow.watch_diff needs a floating-point blob (only those have "
            f"gradients), got {getattr(blob_watched, 'dtype', type(blob_watched).__name__)}"
        )
    ctx.diff_watches.append((blob_watched, call))


def deliver_diffs(handlers: list[Handler], diffs: list[jax.Array]) -> None:
    """Hand each computed gradient to its handler on the host, during the step."""
    for call, diff in zip(handlers, diffs, strict=True):
        jax.debug.callback(lambda value, call=call: call(np.asarray(value)), diff, ordered=False)
