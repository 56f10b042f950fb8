"""``@flow.global_function``: a legacy job body becomes one pure, compiled step.

The body is Python that calls ``get_variable``, ops and ``minimize``. flowsnap runs it twice, never
per call: once abstractly (``jax.eval_shape``) to learn which variables it declares, and once under
``jax.jit`` as the pure function

* predict job: ``(variables, inputs) -> (outputs, assigned)``;
* train job: ``(trainable, state, inputs) -> (outputs, new_trainable, new_state)``, where the step
  takes ``value_and_grad`` of the mean loss, regularizes and clips the gradients, applies the
  optimizer's update rule with this step's learning rate, and increments the train step; the
  variables' buffers are donated, so a step updates them in place.

Each call then only checks the inputs, runs the compiled step and stores the new values.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap import initializers
from flowsnap import typing as tp
from flowsnap._engine._function_config import FunctionConfig
from flowsnap._engine._returns import _EMPTY, ReturnSpec, parse_return
from flowsnap._engine._scope import resolve_device
from flowsnap._engine._trace import TraceContext, tracing
from flowsnap._store import Session, VariableSpec, current_session, name_hash
from flowsnap.errors import JobArgumentError, JobDefinitionError, TraceError

_log = logging.getLogger("flowsnap")

TRAIN_STEP_PREFIX = "System-Train-TrainStep-"


class LocalBlob:
    """A computed result of a job without a return annotation (OneFlow's ``LocalMirroredTensor``):
    ``.numpy()`` gives the array; other attributes are the array's (``blob.mean()``)."""

    __slots__ = ("_array",)

    def __init__(self, array: np.ndarray[Any, Any]) -> None:
        self._array = array

    def numpy(self) -> np.ndarray[Any, Any]:
        """The result as a NumPy array."""
        return self._array

    def __getattr__(self, name: str) -> Any:
        return getattr(self._array, name)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        del copy
        return self._array if dtype is None else self._array.astype(dtype)

    def __repr__(self) -> str:
        return f"LocalBlob({self._array!r})"


class LazyResult:
    """What an un-annotated job returns: ``.get()`` waits for the result (a :class:`LocalBlob` or a
    tuple/list/dict of them); ``.async_get(cb)`` hands it to ``cb`` in the background."""

    def __init__(self, outputs: Any, session: Session) -> None:
        self._outputs = outputs
        self._session = session

    def get(self) -> Any:
        """The result, once computed."""
        return jax.tree_util.tree_map(lambda a: LocalBlob(np.asarray(a)), self._outputs)

    def async_get(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(self.get())`` on the session's callback thread."""
        self._session.submit(lambda: callback(self.get()))


class JobFunction:
    """A registered job function; call it with NumPy arrays matching its placeholders."""

    def __init__(
        self,
        func: Callable[..., Any],
        job_type: str,
        config: FunctionConfig,
        session: Session,
        localns: dict[str, Any] | None = None,
    ) -> None:
        self.func = func
        self.name: str = func.__name__
        self.is_train = job_type == "train"
        self.config = config
        self.session = session
        self.params, self.returns = _parse_signature(func, self.name, localns or {})
        self.device: jax.Device | None = None
        self.var_names: tuple[str, ...] = ()
        self.trainable: tuple[str, ...] = ()
        self.state: tuple[str, ...] = ()
        self.step_name = TRAIN_STEP_PREFIX + self.name
        self.optimizer: Any = None
        self._compiled: Callable[..., Any] | None = None
        functools.update_wrapper(self, func)

    # -- building (called by the session) --------------------------------------------------

    def _context(self, *, discovering: bool, **kwargs: Any) -> TraceContext:
        return TraceContext(
            job=self.name,
            is_train=self.is_train,
            discovering=discovering,
            default_initializer=self.config.default_initializer,
            default_dtype=self.config.default_dtype,
            **kwargs,
        )

    def build(self) -> tuple[list[VariableSpec], jax.Device]:
        """Trace the body abstractly; return the variables it uses, slots and step included."""
        ctx = self._context(discovering=True)
        if self.is_train:
            ctx.rng = jax.random.key(0)

        def body(*inputs: jax.Array) -> Any:
            with tracing(ctx):
                outputs = self.func(*inputs)
            self.returns.check(outputs, self.name)
            return outputs

        jax.eval_shape(body, *(_abstract(p) for p in self.params.values()))
        specs = list(ctx.specs.values())
        self.device = resolve_device(ctx.device_tag)
        self.var_names = tuple(ctx.specs)
        if self.is_train:
            specs += self._train_specs(ctx)
        self._compiled = None
        return specs, self.device

    def _train_specs(self, ctx: TraceContext) -> list[VariableSpec]:
        if ctx.optimizer is None:
            raise TraceError(
                f"train job {self.name!r} never calls optimizer.minimize(loss); call e.g. "
                "flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.1]))"
                ".minimize(loss) in its body, or make it type='predict'"
            )
        self.optimizer = ctx.optimizer
        trainable = [s for s in ctx.specs.values() if s.trainable]
        self.trainable = tuple(s.name for s in trainable)
        extra: list[VariableSpec] = []
        for spec in trainable:
            rule = self.optimizer.rule_for(spec.name)
            for slot in rule.slot_names:
                extra.append(
                    VariableSpec(
                        name=f"{spec.name}-{slot}",
                        shape=tuple(rule.slot_shape(slot, spec.shape)),
                        dtype=spec.dtype,
                        initializer=initializers.constant_initializer(rule.slot_fill(slot)),
                        trainable=False,
                        model_name=spec.model_name,
                        distribute=spec.distribute,
                        job=self.name,
                    )
                )
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
        trainable_set = set(self.trainable)
        self.state = tuple(
            [n for n in self.var_names if n not in trainable_set] + [s.name for s in extra]
        )
        return extra

    # -- the pure step ---------------------------------------------------------------------

    def _run_body(self, ctx: TraceContext, inputs: Sequence[jax.Array]) -> Any:
        with tracing(ctx):
            outputs = self.func(*inputs)
        missing = set(self.var_names) - set(ctx.specs)
        if missing:
            raise TraceError(
                f"job {self.name!r} did not declare {sorted(missing)} when compiled, though it "
                "did when first traced; a job body must declare the same variables every time"
            )
        return outputs

    def _predict_step(self, params: dict[str, jax.Array], inputs: tuple[jax.Array, ...]) -> Any:
        ctx = self._context(discovering=False, params=params)
        outputs = self._run_body(ctx, inputs)
        return outputs, ctx.updates

    def _train_step(
        self,
        trainable: dict[str, jax.Array],
        state: dict[str, jax.Array],
        inputs: tuple[jax.Array, ...],
    ) -> Any:
        step = state[self.step_name]
        t = step[0]
        base = jax.random.fold_in(jax.random.key(self.session.seed), name_hash(self.name))
        rng = jax.random.fold_in(base, t)
        recorded: dict[str, Any] = {}

        def loss_fn(trainable: dict[str, jax.Array]) -> Any:
            ctx = self._context(discovering=False, params={**state, **trainable}, rng=rng)
            outputs = self._run_body(ctx, inputs)
            if not ctx.losses:
                raise TraceError(f"train job {self.name!r} did not call minimize() when compiled")
            recorded["optimizer"] = ctx.optimizer
            total = sum(jnp.mean(loss.astype(jnp.float32)) for loss in ctx.losses)
            if ctx.optimizer.loss_scale is not None:
                total = total * ctx.optimizer.loss_scale
            updates = jax.tree_util.tree_map(jax.lax.stop_gradient, ctx.updates)
            return total, (outputs, updates)

        (_, (outputs, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable)
        optimizer = recorded["optimizer"]
        if optimizer.loss_scale is not None:
            grads = {k: g / optimizer.loss_scale for k, g in grads.items()}
        specs = self.session.specs
        grads = {
            name: optimizer.regularize(g, trainable[name], specs[name].regularizer)
            for name, g in grads.items()
        }
        if optimizer.clip_norm is not None:
            grads = _clip_by_global_norm(grads, optimizer.clip_norm)
        lr = optimizer.learning_rate(t)
        new_trainable: dict[str, jax.Array] = {}
        new_state = dict(state)
        new_state.update(updates)
        for name, w in trainable.items():
            rule = optimizer.rule_for(name)
            slots = {s: state[f"{name}-{s}"] for s in rule.slot_names}
            new_w, new_slots = rule.update(w, grads[name].astype(w.dtype), slots, lr, t)
            new_trainable[name] = new_w.astype(w.dtype)
            for s, value in new_slots.items():
                new_state[f"{name}-{s}"] = value.astype(state[f"{name}-{s}"].dtype)
        new_state[self.step_name] = step + 1
        return outputs, new_trainable, new_state

    def _compile(self) -> Callable[..., Any]:
        if self._compiled is None:
            if self.is_train:
                self._compiled = jax.jit(self._train_step, donate_argnums=(0, 1))
            else:
                self._compiled = jax.jit(self._predict_step)
        return self._compiled

    # -- calling ---------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run one step with ``args`` fed to the placeholders; return what the annotation says."""
        session = self.session
        session.check_open()
        session.start()
        inputs = self._check_inputs(args, kwargs)
        compiled = self._compile()
        values = session.values
        if self.is_train:
            trainable = {n: values[n] for n in self.trainable}
            state = {n: values[n] for n in self.state}
            outputs, new_trainable, new_state = compiled(trainable, state, inputs)
            values.update(new_trainable)
            values.update(new_state)
        else:
            params = {n: values[n] for n in self.var_names}
            outputs, updates = compiled(params, inputs)
            values.update(updates)
        return self._result(outputs)

    def _result(self, outputs: Any) -> Any:
        returns = self.returns
        if returns.kind == "future":
            return LazyResult(outputs, self.session)
        if returns.callback:
            session = self.session

            def register(callback: Callable[[Any], None]) -> None:
                session.submit(lambda: callback(returns.convert(outputs)))

            return register
        return returns.convert(outputs)

    def _check_inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        names = list(self.params)
        if len(args) > len(names):
            raise JobArgumentError(
                f"job {self.name!r} takes {len(names)} argument(s) ({', '.join(names)}), "
                f"got {len(args)}"
            )
        given = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in self.params:
                raise JobArgumentError(f"job {self.name!r} has no parameter {key!r}")
            if key in given:
                raise JobArgumentError(f"job {self.name!r}: argument {key!r} given twice")
            given[key] = value
        missing = [n for n in names if n not in given]
        if missing:
            raise JobArgumentError(f"job {self.name!r} is missing argument(s) {', '.join(missing)}")
        return tuple(
            _check_input(self.name, name, self.params[name], given[name]) for name in names
        )


def _clip_by_global_norm(grads: dict[str, jax.Array], clip_norm: float) -> dict[str, jax.Array]:
    leaves = [jnp.sum(jnp.square(g.astype(jnp.float32))) for g in grads.values()]
    norm = jnp.sqrt(sum(leaves)) if leaves else jnp.float32(0)
    scale = clip_norm / jnp.maximum(norm, clip_norm)
    return {k: (g * scale).astype(g.dtype) for k, g in grads.items()}


def _abstract(p: tp.PlaceholderDef) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(p.shape, jax.dtypes.canonicalize_dtype(p.dtype))  # type: ignore[no-untyped-call]


def _check_input(job: str, name: str, p: tp.PlaceholderDef, value: Any) -> Any:
    where = f"job {job!r}, argument {name!r}"
    if p.kind != "Numpy":
        if not isinstance(value, list | tuple) or len(value) != 1:
            raise JobArgumentError(
                f"{where}: a tp.{p.kind}.Placeholder takes a list with one array per device "
                f"(1 device here), got {type(value).__name__}"
            )
        (value,) = value
        if p.kind == "ListListNumpy":
            if not isinstance(value, list | tuple) or len(value) != 1:
                raise JobArgumentError(f"{where}: expected [[array]] for one device")
            (value,) = value
    if not isinstance(value, np.ndarray | jax.Array):
        raise JobArgumentError(
            f"{where}: expected a NumPy array of shape {p.shape} and dtype {p.dtype}, got "
            f"{type(value).__name__}; convert it with np.asarray(..., dtype=np.{p.dtype})"
        )
    if value.dtype != p.dtype:
        raise JobArgumentError(
            f"{where}: expected dtype {p.dtype}, got {value.dtype}; convert it with "
            f".astype(np.{p.dtype})"
        )
    if p.kind == "Numpy":
        if tuple(value.shape) != p.shape:
            raise JobArgumentError(f"{where}: expected shape {p.shape}, got {tuple(value.shape)}")
    elif len(value.shape) != len(p.shape) or any(
        d > m for d, m in zip(value.shape, p.shape, strict=True)
    ):
        raise JobArgumentError(
            f"{where}: expected an array of rank {len(p.shape)} no larger than {p.shape}, got "
            f"shape {tuple(value.shape)}"
        )
    canonical = jax.dtypes.canonicalize_dtype(p.dtype)
    if isinstance(value, np.ndarray) and value.dtype != canonical:
        value = value.astype(canonical)
    return value


def _parse_signature(
    func: Callable[..., Any], job: str, localns: dict[str, Any]
) -> tuple[dict[str, tp.PlaceholderDef], ReturnSpec]:
    signature = inspect.signature(func)
    params: dict[str, tp.PlaceholderDef] = {}
    for name, param in signature.parameters.items():
        annotation = _resolve(param.annotation, func, localns)
        if param.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
            raise JobDefinitionError(
                f"job {job!r}: parameter {name!r} must be a plain positional parameter "
                "(no *args, **kwargs or keyword-only parameters)"
            )
        if not isinstance(annotation, tp.PlaceholderDef):
            raise JobDefinitionError(
                f"job {job!r}: parameter {name!r} must be annotated with a placeholder, e.g. "
                f"{name}: tp.Numpy.Placeholder((100, 784), dtype=flow.float); got "
                f"{annotation if annotation is not inspect.Parameter.empty else 'no annotation'}"
            )
        params[name] = annotation
    ret = signature.return_annotation
    ret = _EMPTY if ret is inspect.Signature.empty else _resolve(ret, func, localns)
    return params, parse_return(ret, job)


def _resolve(annotation: Any, func: Callable[..., Any], localns: dict[str, Any]) -> Any:
    """Evaluate a string annotation (``from __future__ import annotations``) in the function's
    module and the scope that defined it."""
    if isinstance(annotation, str):
        try:
            return eval(annotation, getattr(func, "__globals__", {}), localns)
        except Exception as exc:
            raise JobDefinitionError(
                f"job {func.__name__!r}: cannot evaluate annotation {annotation!r}: {exc}"
            ) from None
    return annotation


def global_function(
    type: str | FunctionConfig = "predict",
    function_config: FunctionConfig | None = None,
) -> Callable[[Callable[..., Any]], JobFunction]:
    """Decorate a job body: ``@flow.global_function(type="train", function_config=cfg)``.

    The job's name is the function's name. The job is registered with the current session; if
    the session already started, it is traced at once (OneFlow refused late jobs).

    Raises:
        JobDefinitionError: ``type`` is not ``"train"``/``"predict"``, or an annotation is wrong.
    """
    if isinstance(type, FunctionConfig):
        _log.warning(
            "flow.global_function(func_config) is deprecated; write "
            "flow.global_function(type=..., function_config=func_config)"
        )
        function_config, type = type, "predict"
    if type not in ("train", "predict"):
        raise JobDefinitionError(
            f"global_function: type must be 'train' or 'predict', got {type!r}"
        )
    config = function_config if function_config is not None else FunctionConfig()
    if not isinstance(config, FunctionConfig):
        raise JobDefinitionError(
            f"global_function: function_config must be a flow.FunctionConfig(), got {config!r}"
        )

    def decorate(func: Callable[..., Any]) -> JobFunction:
        # names visible where the job is defined, for string annotations (PEP 563)
        localns = dict(sys._getframe(1).f_locals)
        session = current_session()
        job = JobFunction(func, type, config, session, localns)
        session.add_job(job)
        return job

    return decorate
