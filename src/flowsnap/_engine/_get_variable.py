"""``flow.get_variable``: declare a variable in a job, or get the one already declared.

OneFlow's create-or-get rules (reference 1.3): within one job, a second call with the same name
returns the first one (``reuse=True``, the other arguments are ignored) or is an error
(``reuse=False``, what every ``flow.layers`` function passes). The same name in another job is the
same variable, shared; its shape and dtype must agree (checked when the session builds the jobs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap import dtypes
from flowsnap._engine._scope import broadcast, namespace_prefix
from flowsnap._engine._trace import TraceContext, require_trace
from flowsnap._store import Distribute, RegularizerLike, VariableSpec, parse_sbp
from flowsnap.errors import (
    ArgumentError,
    MissingInitializerError,
    TraceError,
    VariableConflictError,
)
from flowsnap.format import validate_name
from flowsnap.initializers import Initializer


def get_variable(
    name: str,
    shape: Sequence[int] | None = None,
    dtype: Any = dtypes.float32,
    initializer: Initializer | None = None,
    regularizer: RegularizerLike | None = None,
    trainable: bool | None = None,
    model_name: str | None = None,
    random_seed: int | None = None,
    nd_sbp: Sequence[str] | str | None = None,
    distribute: Distribute | None = None,
    reuse: bool = True,
) -> jax.Array:
    """Declare variable ``name`` in the current job (or get it), and return its value.

    Args:
        name: the name; inside ``flow.scope.namespace("a")`` it becomes ``"a-<name>"``. It is
            also the variable's directory in checkpoints.
        shape: a list or tuple of dimensions.
        dtype: the element type (default ``flow.float32``, as in OneFlow; ``None`` takes the
            job's ``default_data_type``).
        initializer: draws the first value; required unless the job's ``function_config`` sets
            ``default_initializer_conf``.
        regularizer: ``flow.regularizers.l1/l2/l1_l2``: added to the gradient in train jobs.
        trainable: whether train jobs update it (default True).
        model_name: OneFlow's metadata tag (default ``"weight"``); no effect.
        random_seed: a seed for this variable's initial value (default: derived from the session
            seed and the name, so runs are reproducible).
        nd_sbp: OneFlow 0.5's n-d distribution (0.4's ``parallel_distribution``): one entry per
            axis of the placement's ``hierarchy``, ``"B"`` (broadcast) or ``"S(<axis>)"``
            (split that axis of the variable), e.g. ``["B", "S(1)"]`` for a weight split over
            the model-parallel axis of a ``[2, 4]`` hierarchy. Overrides ``distribute``. No
            effect on one device.
        distribute: ``flow.distribute.broadcast()`` (default: every device holds the whole
            variable) or ``flow.distribute.split(axis)`` (each device of the placement holds a
            slice along ``axis``). No effect on one device.
        reuse: if False, a second declaration of ``name`` in the same job is an error.

    Raises:
        TraceError: called outside a job body, or a job body that declares different variables
            from one trace to the next.
        ArgumentError: a ``name`` that is not a str, a ``shape`` that is not a list or tuple of
            dimensions >= 0, an ``initializer`` or ``regularizer`` that is not a flow one, a
            ``distribute`` that is not ``broadcast()``/``split(axis)``, an ``nd_sbp`` entry that
            is not ``"B"``/``"S(k)"``, or a split axis outside the variable's rank.
        VariableConflictError: ``reuse=False`` and ``name`` is already declared in this job.
        MissingInitializerError: no initializer and no job default.
    """
    ctx = require_trace("flow.get_variable")
    if not isinstance(name, str):
        raise ArgumentError(f"get_variable: name must be a str, got {type(name).__name__} {name!r}")
    full = namespace_prefix() + name
    if full in ctx.values:
        if not reuse:
            raise VariableConflictError(
                f"variable {full!r} already exists in job {ctx.job!r}; getting the same variable "
                "is not allowed when reuse=False (flow.layers.* pass reuse=False: give each layer "
                "its own name=)"
            )
        return ctx.values[full]
    dims, dt, init = _check_arguments(ctx, full, shape, dtype, initializer, regularizer)
    layout = _layout(f"get_variable({full!r}) in job {ctx.job!r}", distribute, nd_sbp, len(dims))
    spec = VariableSpec(
        name=full,
        shape=dims,
        dtype=dt,
        initializer=init,
        regularizer=regularizer,
        trainable=True if trainable is None else bool(trainable),
        model_name="weight" if model_name is None else model_name,
        random_seed=random_seed,
        distribute=layout,
        job=ctx.job,
    )
    ctx.specs[full] = spec
    if ctx.discovering:
        value = jnp.zeros(spec.shape, spec.device_dtype)
    else:
        try:
            value = ctx.params[full]
        except KeyError:
            raise TraceError(
                f"job {ctx.job!r} declared variable {full!r} when it was compiled but not when it "
                "was first traced: a job body must declare the same variables every time it runs "
                "(do not make get_variable depend on Python state that changes between calls)"
            ) from None
    ctx.values[full] = value
    return value


def _check_arguments(
    ctx: TraceContext,
    full: str,
    shape: Sequence[int] | None,
    dtype: Any,
    initializer: Initializer | None,
    regularizer: RegularizerLike | None,
) -> tuple[tuple[int, ...], np.dtype[Any], Initializer]:
    """Validate the arguments; return the shape, dtype and initializer to use."""
    validate_name(full)
    what = f"get_variable({full!r}) in job {ctx.job!r}"
    if not isinstance(shape, list | tuple):
        raise ArgumentError(
            f"{what}: param shape should be a list or tuple of dimension, got {shape!r}"
        )
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise ArgumentError(f"{what}: shape must hold ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ArgumentError(f"{what}: shape {dims} has a negative dimension")
    if dtype is None:
        dtype = ctx.default_dtype if ctx.default_dtype is not None else dtypes.float32
    dt = dtypes.as_dtype(dtype, what)
    init = initializer if initializer is not None else ctx.default_initializer
    if init is None:
        raise MissingInitializerError(
            f"{what} has no initializer: pass initializer= (e.g. flow.zeros_initializer() or "
            "flow.truncated_normal(0.1)), or set function_config.default_initializer_conf(...) "
            "for the job"
        )
    if not isinstance(init, Initializer):
        raise ArgumentError(
            f"{what}: initializer must be a flow initializer (flow.constant_initializer(0), ...), "
            f"got {type(init).__name__}"
        )
    if regularizer is not None and not (hasattr(regularizer, "l1") and hasattr(regularizer, "l2")):
        raise ArgumentError(
            f"{what}: regularizer must come from flow.regularizers.l1/l2/l1_l2, got {regularizer!r}"
        )
    return dims, dt, init


def _layout(
    what: str, distribute: Distribute | None, nd_sbp: Sequence[Any] | str | None, rank: int
) -> Distribute:
    """The variable's layout from ``distribute`` and ``nd_sbp`` (checked)."""
    if distribute is not None and not (
        isinstance(distribute, Distribute) and distribute.nd is None
    ):
        raise ArgumentError(
            f"{what}: distribute must be flow.distribute.broadcast() or "
            f"flow.distribute.split(axis), got {distribute!r}"
        )
    result = broadcast() if distribute is None else distribute
    # OneFlow split a str at commas ("B,S(0)") and took an empty list as "not given" (its
    # model-zoo GPT passes [] on one device)
    entries = (
        []
        if nd_sbp is None
        else nd_sbp.split(",")
        if isinstance(nd_sbp, str)
        else [nd_sbp]
        if isinstance(nd_sbp, Distribute)
        else list(nd_sbp)
    )
    if entries:
        nd = tuple(parse_sbp(e, what) for e in entries)
        splits = {int(e[2:-1]) for e in nd if e != "B"}
        # on a 1-d placement a one-entry nd_sbp is a plain split/broadcast
        axis = next(iter(splits)) if len(nd) == 1 and splits else None
        result = Distribute(axis, nd)
    for axis in [result.axis] + [int(e[2:-1]) for e in result.nd or () if e != "B"]:
        if axis is not None and not 0 <= axis < rank:
            raise ArgumentError(
                f"{what}: cannot split axis {axis} of a variable with {rank} dimension(s); "
                f"split an axis in 0..{rank - 1}"
                if rank
                else f"{what}: a scalar cannot be split"
            )
    return result
