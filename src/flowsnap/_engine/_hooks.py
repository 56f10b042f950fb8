"""What ops, layers and optimizers tell the trace: a loss to minimize, a variable to assign, a
random key to draw from, whether the job trains."""

from __future__ import annotations

from collections.abc import Sequence

import jax

from flowsnap._engine._fc_sparse import configured_optimizer
from flowsnap._engine._protocol import TrainingOptimizer
from flowsnap._engine._trace import current_trace, require_trace
from flowsnap.errors import ArgumentError, TraceError


def record_minimize(optimizer: TrainingOptimizer, loss: jax.Array | Sequence[jax.Array]) -> None:
    """Record that this train job minimizes ``loss`` (or a list of losses) with ``optimizer``,
    which the compiled step then drives through the :class:`TrainingOptimizer` protocol.

    Raises:
        TraceError: called outside a job body, in a predict job, or twice in one job.
        ArgumentError: ``loss`` is not a blob or a non-empty list of blobs.
    """
    ctx = require_trace("Optimizer.minimize")
    if not ctx.is_train:
        raise TraceError(
            f"job {ctx.job!r} calls minimize() but is a predict job; declare it with "
            "@flow.global_function(type='train')"
        )
    if ctx.optimizer is not None:
        raise TraceError(
            f"train job {ctx.job!r} calls minimize() twice; one job has one optimizer (pass a "
            "list of losses to minimize them together)"
        )
    losses: list[jax.Array] = list(loss) if isinstance(loss, list | tuple) else [loss]  # type: ignore[list-item]
    if not losses:
        raise ArgumentError(
            f"job {ctx.job!r}: minimize() got an empty list; pass the loss blob, or a list of "
            "loss blobs"
        )
    for item in losses:
        if not hasattr(item, "shape"):
            raise ArgumentError(
                f"job {ctx.job!r}: minimize() takes a blob (the loss), got {type(item).__name__}"
            )
    ctx.optimizer = configured_optimizer(optimizer)  # as the job's FunctionConfig makes it
    # losses recorded before by flow.losses.add_loss are dropped: OneFlow's minimize set the
    # job's whole train conf (SetTrainConf), the loss list included, then added its own losses
    ctx.losses[:] = losses


def assign_variable(name: str, value: jax.Array) -> None:
    """Make ``value`` the new value of variable ``name`` after this step (e.g. moving
    statistics). The variable must have been declared in this job.

    Raises:
        TraceError: called outside a job body.
        ArgumentError: ``name`` is not a variable of the job.
    """
    ctx = require_trace("assign")
    if name not in ctx.values:
        raise ArgumentError(
            f"job {ctx.job!r}: cannot assign to {name!r}, not a variable of the job; declare it "
            "with flow.get_variable in this job first"
        )
    if not ctx.discovering:
        ctx.updates[name] = value.astype(ctx.values[name].dtype)


def is_training() -> bool:
    """Whether the current trace is of a train job (False outside job bodies)."""
    ctx = current_trace()
    return bool(ctx is not None and ctx.is_train)


def random_key(name: str | None) -> jax.Array:
    """A PRNG key for one random op in this step of a train job (see ``TraceContext.next_key``)."""
    return require_trace("a random op").next_key(name)
