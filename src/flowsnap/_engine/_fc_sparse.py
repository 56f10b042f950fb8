"""``FunctionConfig.indexed_slices_optimizer_conf``: sparse updates of embedding rows.

OneFlow's ``IndexedSlicesOptimizerRewritePass`` (v0.3.4-v0.5.0) replaced the dense update of each
variable named in ``include_op_names`` whose gradient came from a gather along axis 0 with
``indexed_slices_{sgd,momentum,adam}_update``: only the rows gathered in the step are updated
(their value and their optimizer state, with the same formulas and decoupled weight decay); the
other rows keep their value, momentum, ``m`` and ``v``. It left the dense update in place when the
update had a loss scale, an l1/l2 regularizer, a gradient clip or a dynamic loss scale (a scale or
a scaling tensor on the update op), and for the other optimizers.

Here the optimizer given to ``minimize`` is wrapped: after its dense update, each such variable's
rows whose gradient is zero in every element (rows no gather touched) get back their old value
and old slots. A row that was gathered but whose gradient is exactly zero everywhere is treated as
untouched (OneFlow would have applied its weight decay and momentum decay).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap._engine._function_config import current_job_config
from flowsnap._engine._protocol import RegularizerLike, Slots, SlotSpec, TrainingOptimizer
from flowsnap._engine._trace import current_trace
from flowsnap.errors import TraceError

# flowsnap's classes for OneFlow's sgd_update, momentum_update and adam_update (the updates the
# rewrite pass handled); LazyAdam's own update already skips the elements a gather left alone
SUPPORTED = frozenset({"SGD", "SGDW", "Adam", "AdamW"})


def configured_optimizer(optimizer: TrainingOptimizer) -> TrainingOptimizer:
    """The optimizer a job's ``minimize`` (or ``flow.losses.add_loss``) records, as the job's
    ``FunctionConfig`` makes it: wrapped for ``indexed_slices_optimizer_conf``.

    Raises:
        TraceError: the body calls ``optimizer.minimize`` while the config sets
            ``train.model_update_conf``/``train.primary_lr`` (OneFlow 0.4/0.5 refused the two
            at once; 0.3.4's ``minimize`` replaced the config's, so a 0.3 facade's config lets
            ``minimize`` win).
    """
    config = current_job_config()
    legacy = None if config is None else config.legacy_optimizer_conf
    if (
        config is not None
        and legacy is not None
        and not getattr(optimizer, "from_model_update_conf", False)
        and config.oneflow_version != "0.3"
    ):
        ctx = current_trace()
        job = ctx.job if ctx is not None else "?"
        raise TraceError(
            f"train job {job!r} calls optimizer.minimize() but its FunctionConfig also sets "
            "train.model_update_conf/train.primary_lr (OneFlow 0.4/0.5 refused the two at once: "
            "'Use model update conf and optimizer conf at same time'); drop those options, or "
            "call flow.losses.add_loss(loss) instead of minimize"
        )
    return with_indexed_slices(optimizer)


def with_indexed_slices(optimizer: TrainingOptimizer) -> TrainingOptimizer:
    """``optimizer``, wrapped for sparse row updates when the current job's config names
    variables in ``indexed_slices_optimizer_conf`` (``optimizer`` itself otherwise)."""
    config = current_job_config()
    if config is None or not config.indexed_slices_variables:
        return optimizer
    return IndexedSlicesUpdates(
        optimizer, config.indexed_slices_variables, config.loss_scale_factor
    )


class IndexedSlicesUpdates:
    """An optimizer whose update of the named variables leaves untouched rows alone."""

    def __init__(
        self, inner: TrainingOptimizer, names: frozenset[str], config_scale: float | None
    ) -> None:
        self.inner = inner
        self.names = names
        self.config_scale = config_scale

    @property
    def loss_scale(self) -> float | None:
        """The wrapped optimizer's static loss scale."""
        return self.inner.loss_scale

    @property
    def dynamic_loss_scale(self) -> Any:
        """The wrapped optimizer's dynamic loss scale policy, if any."""
        return getattr(self.inner, "dynamic_loss_scale", None)

    def slot_specs(
        self, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]
    ) -> Sequence[SlotSpec]:
        """The wrapped optimizer's slots."""
        return self.inner.slot_specs(name, shape, dtype)

    @property
    def sparse(self) -> bool:
        """Whether OneFlow's pass would have rewritten this optimizer's updates."""
        inner = self.inner
        return (
            type(inner).__name__ in SUPPORTED
            and inner.loss_scale in (None, 1.0)
            and self.config_scale in (None, 1.0)
            and self.dynamic_loss_scale is None
            and getattr(inner, "grad_clipping", None) is None
        )

    def apply(
        self,
        grads: Mapping[str, jax.Array],
        values: Mapping[str, jax.Array],
        slots: Slots,
        step: jax.Array,
        regularizers: Mapping[str, RegularizerLike | None],
    ) -> tuple[dict[str, jax.Array], dict[str, dict[str, jax.Array]]]:
        """The wrapped update, then the untouched rows of the named variables restored."""
        new_values, new_slots = self.inner.apply(grads, values, slots, step, regularizers)
        if not self.sparse:
            return new_values, new_slots
        for name in sorted(self.names & set(grads) & set(new_values)):
            regularizer = regularizers.get(name)
            if regularizer is not None and (regularizer.l1 or regularizer.l2):
                continue  # an l1/l2 term on the update: OneFlow kept it dense
            g, w = grads[name], values[name]
            if g.ndim == 0:
                continue
            touched = jnp.any(g != 0, axis=tuple(range(1, g.ndim)))
            rows = touched.reshape((-1,) + (1,) * (g.ndim - 1))
            new_values[name] = jnp.where(rows, new_values[name], w)
            kept = dict(new_slots.get(name, {}))
            for suffix, value in kept.items():
                old = slots[name][suffix]
                if old.shape == w.shape:
                    kept[suffix] = jnp.where(rows, value, old)
            if name in new_slots:
                new_slots[name] = kept
        return new_values, new_slots

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self.inner, attr)
