"""The job object: a registered ``@flow.global_function`` body, built once and called per step.

The body is Python that calls ``get_variable``, ops and ``minimize``. flowsnap runs it twice, never
per call: once abstractly (``jax.eval_shape``, :meth:`JobFunction.build`, called by the session) to
learn which variables it declares, to which a train job adds its optimizer's slot variables and its
train step; and once under ``jax.jit`` as the pure step of ``_step.py``. Each call then only checks
the inputs (``_signature.py``), runs the compiled step, stores the new values and hands the result
over (``_returns.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from flowsnap import initializers
from flowsnap._engine._function_config import FunctionConfig
from flowsnap._engine._host import HostNode, HostPipeline, start_host_trace
from flowsnap._engine._mesh import StepLayout, is_mirrored
from flowsnap._engine._placement import (
    default_placement,
    ensure_distributed,
    first_device,
    recording_placement,
    resolve,
)
from flowsnap._engine._returns import deliver
from flowsnap._engine._scaling import loss_scale_specs
from flowsnap._engine._signature import InputBinder, abstract_inputs, parse_signature
from flowsnap._engine._step import StepPlan, compile_step, slot_variable_name, step_options
from flowsnap._engine._trace import TraceContext, current_trace, tracing
from flowsnap._store import Session, VariableSpec, Where
from flowsnap.errors import TraceError

TRAIN_STEP_PREFIX = "System-Train-TrainStep-"


class JobFunction:
    """A registered job function; call it with NumPy arrays matching its placeholders."""

    def __init__(
        self,
        func: Callable[..., Any],
        job_type: str,
        config: FunctionConfig,
        session: Session,
        localns: Mapping[str, Any] | None = None,
    ) -> None:
        self.func = func
        self.name: str = func.__name__
        self.is_train = job_type == "train"
        self.config = config
        self.session = session
        self.params, self.returns = parse_signature(func, self.name, localns or {})
        self.device: jax.Device | None = None
        self.where: Where | None = None
        self._layout: StepLayout | None = None
        self.trainable: tuple[str, ...] = ()
        self.state: tuple[str, ...] = ()
        self.step_name = TRAIN_STEP_PREFIX + self.name
        self._plan = StepPlan(
            job=self.name,
            body=func,
            is_train=self.is_train,
            default_initializer=config.default_initializer,
            default_dtype=config.default_dtype,
            var_names=(),
            step_name=self.step_name if self.is_train else "",
            **step_options(config),
        )
        self._compiled: Callable[..., Any] | None = None
        self._call: _CallPlan | None = None
        self.pipeline: HostPipeline | None = None
        functools.update_wrapper(self, func)

    @property
    def var_names(self) -> tuple[str, ...]:
        """The variables the body declares, in order (known once built)."""
        return self._plan.var_names

    # -- building (called by the session) --------------------------------------------------

    def build(self) -> tuple[list[VariableSpec], Where]:
        """Trace the body abstractly; return the variables it uses, slots and step included.

        Raises:
            TraceError: a train job's body never calls ``minimize``.
        """
        ensure_distributed()  # before anything starts JAX's backends
        ctx = self._plan.context(discovering=True, rng=jax.random.key(0) if self.is_train else None)
        start_host_trace(ctx, self.session.seed)

        def body(*inputs: jax.Array) -> Any:
            with tracing(ctx):
                outputs = self.func(*inputs)
            self.returns.check(outputs, self.name)
            return outputs

        with recording_placement() as entered:
            jax.eval_shape(body, *abstract_inputs(self.params))
        specs = list(ctx.specs.values())
        self.where = resolve(entered[0] if entered else default_placement(self.session))
        self.device = first_device(self.where)
        if self.pipeline is not None:
            self.pipeline.close()
        self.pipeline = ctx.host.pipeline()
        self._plan = dataclasses.replace(
            self._plan,
            body=_replaying_body(self.func, self.session.seed, tuple(ctx.host.nodes)),
            var_names=tuple(ctx.specs),
            watches_diff=bool(ctx.diff_watches),
        )
        if self.is_train:
            specs += self._train_specs(ctx)
        self._compiled = None
        self._call = None
        return specs, self.where

    def close(self) -> None:
        """Stop the producer thread of the job's data ops, if it has any (session close)."""
        if self.pipeline is not None:
            self.pipeline.close()

    def _train_specs(self, ctx: TraceContext) -> list[VariableSpec]:
        """The optimizer's slot variables of each trainable variable, then the train step."""
        optimizer = ctx.optimizer
        if optimizer is None and ctx.losses:  # flow.losses.add_loss with nothing to train them
            raise TraceError(
                f"train job {self.name!r} calls flow.losses.add_loss(loss) but neither calls "
                "optimizer.minimize nor has a FunctionConfig that gives the optimizer: OneFlow's "
                "pre-0.3 set-up needs both func_config.train.primary_lr(lr) and "
                "func_config.train.model_update_conf(dict(naive_conf={})) (or momentum_conf, "
                "adam_conf...); set them, or call flow.optimizer.SGD(...).minimize(loss) in the "
                "body instead"
            )
        if optimizer is None:
            raise TraceError(
                f"train job {self.name!r} never calls optimizer.minimize(loss); call e.g. "
                "flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.1]))"
                ".minimize(loss) in its body, or make it type='predict'"
            )
        trainable = [s for s in ctx.specs.values() if s.trainable]
        self.trainable = tuple(s.name for s in trainable)
        extra: list[VariableSpec] = []
        slots: dict[str, tuple[str, ...]] = {}
        for spec in trainable:
            slot_specs = optimizer.slot_specs(spec.name, spec.shape, spec.dtype)
            slots[spec.name] = tuple(slot.suffix for slot in slot_specs)
            extra.extend(
                VariableSpec(
                    name=slot_variable_name(spec.name, slot.suffix),
                    shape=tuple(slot.shape),
                    dtype=slot.dtype,
                    initializer=initializers.constant_initializer(slot.fill),
                    trainable=False,
                    model_name=spec.model_name,
                    distribute=spec.distribute,
                    job=self.name,
                )
                for slot in slot_specs
            )
        extra.extend(loss_scale_specs(self.name, getattr(optimizer, "dynamic_loss_scale", None)))
        extra.append(
            VariableSpec(
                name=self.step_name,
                shape=(1,),
                dtype=np.dtype(np.int64),
                initializer=initializers.constant_initializer(0, np.int64),
                trainable=False,
                job=self.name,
            )
        )
        self._plan = dataclasses.replace(self._plan, slots=slots)
        trainable_set = set(self.trainable)
        self.state = tuple(
            [n for n in self.var_names if n not in trainable_set] + [s.name for s in extra]
        )
        return extra

    def _compile(self) -> Callable[..., Any]:
        """The compiled step over dicts of variables by name (what the serving export and the
        mesh benchmark call): predict ``(variables, inputs) -> (outputs, assigned)``, train
        ``(trainable, state, inputs) -> (outputs, new_trainable, new_state)``."""
        return self._call_plan().by_name

    def _call_plan(self) -> _CallPlan:
        """What every call uses, made once per build: the compiled step, the device layout,
        the input check, the variable gatherers."""
        call = self._call
        if call is not None:
            return call
        plan = self._plan
        if self.is_train:
            specs = self.session.specs
            plan = dataclasses.replace(
                plan,
                regularizers={n: specs[n].regularizer for n in self.trainable},
                seed=self.session.seed,
            )
        groups = (self.trainable, self.state) if self.is_train else (self.var_names,)
        view = self.config.options.get("default_logical_view")
        layout = StepLayout(
            self.where if self.where is not None else jax.devices()[0],
            self.session.specs,
            groups,
            mirrored=is_mirrored(self.params, getattr(view, "kind", "") == "mirrored"),
        )
        self._layout = layout
        step = layout.wrap(compile_step(plan, groups, layout.shardings))
        call = _CallPlan(
            plan=plan,
            step=step,
            layout=layout,
            bind=InputBinder(self.name, self.params, layout.devices).bind,
            groups=groups,
            gathers=tuple(_gatherer(g) for g in groups),
            on_mesh=isinstance(layout.where, Mesh),
            is_train=self.is_train,
        )
        self._call = call
        self._compiled = call.by_name
        return call

    # -- calling ---------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run one step with ``args`` fed to the placeholders; return what the annotation says.

        Raises:
            JobArgumentError: the arguments do not fit the placeholders.
        """
        session = self.session
        session.check_open()
        session.start()
        call = self._call or self._call_plan()
        inputs = call.bind(args, kwargs)
        placed = None
        if call.on_mesh:
            placed = call.layout.inputs(self.name, self.params, inputs)
            inputs = placed.arrays
        values = session.values
        pipeline = self.pipeline
        if pipeline is not None:
            steps = self._plan.accumulation_steps
            fed = pipeline.batch_for_call(values, steps)
            inputs = (*inputs, call.layout.host_batch(fed, steps))
        # on one device the variables are where the step wants them: gathered, not placed
        variables = call.gathers if placed is None else call.placed_gathers
        if call.is_train:
            trainable_names, state_names = call.groups
            outputs, new_trainable, new_state, other = call.step(
                variables[0](values), variables[1](values), inputs
            )
            values.update(zip(trainable_names, new_trainable, strict=True))
            values.update(zip(state_names, new_state, strict=True))
            if other:
                values.update(other)
        else:
            outputs, updates = call.step(variables[0](values), inputs)
            if updates:
                values.update(call.layout.variables(updates))
        if pipeline is not None:
            pipeline.called(values)
        if placed is not None:
            outputs = call.layout.results(outputs, placed)
        return deliver(self.returns, outputs, session)


@dataclass(frozen=True)
class _CallPlan:
    """A built job's per-call machinery (made on its first call, dropped when it is built
    again).

    Attributes:
        plan: the step's plan (as compiled: a train job's regularizers and seed included).
        step: the compiled step, taking each variable group as a tuple (``compile_step``).
        layout: the job's device layout.
        bind: the check of a call's arguments (``InputBinder.bind``).
        groups: the variable names of each group, in the step's order.
        gathers: for each group, a function of the session's values giving the group's arrays.
        on_mesh: the job runs over several devices (inputs, variables and results are placed).
        is_train: the job trains.
    """

    plan: StepPlan
    step: Callable[..., Any]
    layout: StepLayout
    bind: Callable[[tuple[Any, ...], Mapping[str, Any]], tuple[Any, ...]]
    groups: tuple[tuple[str, ...], ...]
    gathers: tuple[Callable[[Mapping[str, jax.Array]], tuple[jax.Array, ...]], ...]
    on_mesh: bool
    is_train: bool

    @property
    def placed_gathers(self) -> tuple[Callable[[Mapping[str, jax.Array]], tuple[Any, ...]], ...]:
        """For each group, a function of the session's values giving the group's arrays in the
        step's layout (moved where a job on other devices left them)."""
        return tuple(functools.partial(self.variables, i) for i in range(len(self.groups)))

    def variables(self, group: int, values: Mapping[str, jax.Array]) -> tuple[jax.Array, ...]:
        """The arrays of variable group ``group`` from ``values``, in the step's layout."""
        arrays = self.gathers[group](values)
        if not self.on_mesh:
            return arrays
        names = self.groups[group]
        moved = self.layout.variables(dict(zip(names, arrays, strict=True)))
        return tuple(moved[n] for n in names)

    def by_name(self, *args: Any) -> Any:
        """The step over dicts of variables by name (see :meth:`JobFunction._compile`)."""
        *variables, inputs = args
        groups = self.groups
        arrays = [tuple(v[n] for n in g) for v, g in zip(variables, groups, strict=True)]
        out = self.step(*arrays, inputs)
        if not self.is_train:
            return out
        outputs, new_trainable, new_state, other = out
        trainable = dict(zip(groups[0], new_trainable, strict=True))
        state = dict(zip(groups[1], new_state, strict=True))
        state.update(other)
        return outputs, trainable, state


def _gatherer(names: tuple[str, ...]) -> Callable[[Mapping[str, jax.Array]], tuple[Any, ...]]:
    """A function of a values mapping giving the arrays of ``names`` as a tuple, in C."""
    if not names:
        return lambda values: ()
    if len(names) == 1:
        (name,) = names
        return lambda values: (values[name],)
    return operator.itemgetter(*names)


def _replaying_body(
    func: Callable[..., Any], seed: int, nodes: tuple[HostNode, ...]
) -> Callable[..., Any]:
    """The body as the compiled step calls it: with data ops (``nodes``), it takes one more
    input, the tuple of their fed outputs for one batch, which it hands to them."""

    def body(*inputs: Any) -> Any:
        ctx = current_trace()
        if ctx is None:  # pragma: no cover - run_body always sets one
            return func(*inputs)
        fed: tuple[jax.Array, ...] = ()
        if nodes:
            *placeholders, fed = inputs
            inputs = tuple(placeholders)
        start_host_trace(ctx, seed, nodes, fed)
        return func(*inputs)

    return functools.wraps(func)(body)
