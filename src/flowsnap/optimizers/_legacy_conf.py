"""OneFlow's pre-0.3 training set-up: ``flow.losses.add_loss(loss)`` in a train job whose
``FunctionConfig`` gives ``train.primary_lr(lr)`` and ``train.model_update_conf({...})``.

OneFlow 0.3.4's optimizer classes were a front end for exactly these fields (``SGD(...).minimize``
filled ``model_update_conf`` and ``primary_lr``; OneFlow 0.4/0.5 converted them into an optimizer
conf, ``ModelUpdateConfCompatiblePass``). :func:`optimizer_from_conf` goes the other way: it builds
the flowsnap optimizer that those classes would have been, from OneFlow's
``NormalModelUpdateOpUserConf`` in dict form: one of ``naive_conf``, ``momentum_conf``,
``adam_conf``, ``lazy_adam_conf``, ``rmsprop_conf``, ``lars_conf``, ``lamb_conf`` (proto defaults
for the fields left out), plus ``learning_rate_decay``, ``warmup_conf``, ``clip_conf`` and
``weight_decay_conf``. ``train.secondary_lr`` has no effect: OneFlow 0.3.4 computed it but no
update op read it, and 0.4/0.5 dropped it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax

from flowsnap._engine import current_job_config, current_trace, record_minimize
from flowsnap.errors import ArgumentError, TraceError, UnsupportedFeatureError
from flowsnap.optimizers._classes import LAMB, LARS, SGD, SGDW, Adam, AdamW, LazyAdam, RMSProp
from flowsnap.optimizers._clipping import by_global_norm
from flowsnap.optimizers._optimizer import Optimizer
from flowsnap.optimizers._schedules import (
    CosineScheduler,
    ExponentialScheduler,
    InverseTimeScheduler,
    LinearCosineScheduler,
    NaturalExpScheduler,
    PiecewiseConstantScheduler,
    PiecewiseScalingScheduler,
    PolynomialScheduler,
    Warmup,
    constant,
    linear,
)

_WHAT = "FunctionConfig.train.model_update_conf"
# each update conf: its fields and their proto defaults (None: required)
_UPDATE_FIELDS: dict[str, dict[str, Any]] = {
    "naive_conf": {},
    "momentum_conf": {"beta": 0.9},
    "adam_conf": {
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "do_bias_correction": True,
        "amsgrad": False,
    },
    "lazy_adam_conf": {
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "do_bias_correction": True,
        "amsgrad": False,
    },
    "rmsprop_conf": {"decay_rate": 0.99, "epsilon": 1e-8, "centered": False},
    "lars_conf": {"momentum_beta": 0.9, "epsilon": 1e-9, "lars_coefficient": 0.0001},
    "lamb_conf": {"beta1": None, "beta2": None, "epsilon": None},
}
_OTHER_FIELDS = ("learning_rate_decay", "warmup_conf", "clip_conf", "weight_decay_conf")


def add_loss(loss: jax.Array) -> None:
    """``flow.losses.add_loss(loss)``: train this job on ``loss`` (OneFlow's pre-0.3 set-up).

    With no ``optimizer.minimize`` in the body, the optimizer is the job's ``FunctionConfig``
    ``train.model_update_conf`` with learning rate ``train.primary_lr`` (and
    ``train.loss_scale_factor``). After a ``minimize`` call, ``loss`` is added to the losses it
    minimizes. Before one, with no such config, ``loss`` is only recorded: OneFlow's
    ``minimize`` then replaced the job's train conf, losses included, so a body calling
    ``add_loss(loss)`` and then ``opt.minimize(loss)`` (OneFlow's BERT fine-tuning) minimizes
    ``loss`` once; with no ``minimize`` following, the job's build fails (TraceError naming the
    options to set).

    Raises:
        TraceError: outside a train job body, or the config gives no optimizer.
        ArgumentError: the conf is not one OneFlow accepted.
    """
    ctx = current_trace()
    if ctx is None:
        raise TraceError(
            "flow.losses.add_loss can only be called inside the body of a "
            "@flow.global_function(type='train') job; move the call into the job function"
        )
    if not ctx.is_train:
        raise TraceError(
            f"job {ctx.job!r} calls flow.losses.add_loss() but is a predict job; declare it "
            "with @flow.global_function(type='train')"
        )
    if ctx.optimizer is not None:
        ctx.losses.append(loss)
        return
    config = current_job_config()
    legacy = None if config is None else config.legacy_optimizer_conf
    if legacy is None or legacy["model_update_conf"] is None or legacy["primary_lr"] is None:
        ctx.losses.append(loss)  # until a minimize() replaces it, or the build refuses the job
        return
    optimizer = optimizer_from_conf(
        legacy["model_update_conf"], legacy["primary_lr"], legacy["loss_scale_factor"]
    )
    optimizer.from_model_update_conf = True  # type: ignore[attr-defined]  # (not a minimize call)
    record_minimize(optimizer, loss)


def optimizer_from_conf(
    model_update_conf: Mapping[str, Any],
    primary_lr: float,
    loss_scale_factor: float | None = None,
) -> Optimizer:
    """The optimizer OneFlow built from ``train.model_update_conf`` (a
    ``NormalModelUpdateOpUserConf`` dict) and ``train.primary_lr``.

    Raises:
        ArgumentError: not exactly one update conf, an unknown field, or a required field left
            out.
        UnsupportedFeatureError: a combination flowsnap's optimizers do not have (Adagrad,
            AMSGrad, weight decay with RMSProp or LazyAdam, a learning-rate decay OneFlow added
            after 0.3).
    """
    conf = dict(model_update_conf)
    kinds = [k for k in conf if k not in _OTHER_FIELDS]
    unknown = [k for k in kinds if k not in _UPDATE_FIELDS]
    if unknown == ["adagrad_conf"]:
        raise UnsupportedFeatureError(
            f"{_WHAT}: adagrad_conf is not provided by flowsnap (no Adagrad update); use "
            f"one of {sorted(_UPDATE_FIELDS)}"
        )
    if unknown or len(kinds) != 1:
        raise ArgumentError(
            f"{_WHAT} takes exactly one of {sorted(_UPDATE_FIELDS)} (and optionally "
            f"{', '.join(_OTHER_FIELDS)}), got {sorted(conf)}"
        )
    (kind,) = kinds
    fields = _fields(kind, conf[kind])
    lr = _scheduler(conf.get("learning_rate_decay"), conf.get("warmup_conf"), float(primary_lr))
    common: dict[str, Any] = {"loss_scale_factor": loss_scale_factor}
    clip = _dict(conf.get("clip_conf"), "clip_conf")
    if clip:
        norm = _dict(clip.get("clip_by_global_norm"), "clip_conf.clip_by_global_norm")
        if "clip_norm" not in norm:
            raise ArgumentError(f"{_WHAT}: clip_conf takes {{'clip_by_global_norm': ...}}")
        common["grad_clipping"] = by_global_norm(float(norm["clip_norm"]))
    decay = _weight_decay(conf.get("weight_decay_conf"))
    if kind in ("adam_conf", "lazy_adam_conf") and fields["amsgrad"]:
        raise UnsupportedFeatureError(f"{_WHAT}: {kind} amsgrad=True is not provided by flowsnap")
    if decay and kind in ("rmsprop_conf", "lazy_adam_conf"):
        raise UnsupportedFeatureError(
            f"{_WHAT}: weight_decay_conf with {kind} is not provided by flowsnap's optimizers"
        )
    if kind in ("naive_conf", "momentum_conf"):
        momentum = fields.get("beta", 0.0)
        if decay:
            return SGDW(lr, momentum=momentum, **decay, **common)
        return SGD(lr, momentum=momentum, **common)
    if kind == "adam_conf":
        adam: Callable[..., Optimizer] = AdamW if decay else Adam
        return adam(
            lr,
            fields["beta1"],
            fields["beta2"],
            fields["epsilon"],
            fields["do_bias_correction"],
            **decay,
            **common,
        )
    if kind == "lazy_adam_conf":
        return LazyAdam(lr, fields["beta1"], fields["beta2"], fields["epsilon"], **common)
    if kind == "rmsprop_conf":
        return RMSProp(lr, fields["decay_rate"], fields["epsilon"], fields["centered"], **common)
    if kind == "lars_conf":
        return LARS(
            lr,
            fields["momentum_beta"],
            fields["epsilon"],
            fields["lars_coefficient"],
            **decay,
            **common,
        )
    return LAMB(lr, fields["beta1"], fields["beta2"], fields["epsilon"], **decay, **common)


def _dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArgumentError(f"{_WHAT}: {what} takes a dict, got {value!r}")
    return dict(value)


def _fields(kind: str, given: Any) -> dict[str, Any]:
    values = _dict(given, kind)
    known = _UPDATE_FIELDS[kind]
    extra = set(values) - set(known)
    if extra:
        raise ArgumentError(
            f"{_WHAT}: {kind} has no field(s) {sorted(extra)}; its fields are {sorted(known)}"
        )
    out = {**known, **values}
    missing = [k for k, v in out.items() if v is None]
    if missing:
        raise ArgumentError(f"{_WHAT}: {kind} requires {missing} (OneFlow's required fields)")
    return out


def _weight_decay(given: Any) -> dict[str, Any]:
    conf = _dict(given, "weight_decay_conf")
    if not conf:
        return {}
    if "weight_decay_rate" not in conf:
        raise ArgumentError(f"{_WHAT}: weight_decay_conf requires weight_decay_rate")
    out: dict[str, Any] = {"weight_decay": float(conf["weight_decay_rate"])}
    for key in ("includes", "excludes"):
        if key in conf:
            out[f"weight_decay_{key}"] = list(_dict(conf[key], key).get("pattern", []))
    return out


def _scheduler(decay: Any, warmup_conf: Any, base_lr: float) -> Any:
    warmup = _warmup(warmup_conf)
    conf = _dict(decay, "learning_rate_decay")
    if not conf:
        return PiecewiseConstantScheduler([], [base_lr], warmup)
    if len(conf) != 1:
        raise ArgumentError(f"{_WHAT}: learning_rate_decay takes one decay conf, got {conf}")
    ((kind, raw),) = conf.items()
    f = _dict(raw, kind)

    def steps() -> int:
        if "decay_batches" not in f:
            raise ArgumentError(f"{_WHAT}: learning_rate_decay.{kind} requires decay_batches")
        return int(f["decay_batches"])

    rate_schedulers: dict[str, Callable[..., Any]] = {
        "exponential_conf": ExponentialScheduler,
        "inverse_time_conf": InverseTimeScheduler,
        "natural_exp_conf": NaturalExpScheduler,
    }
    if kind in rate_schedulers:
        return rate_schedulers[kind](
            base_lr, steps(), float(f["decay_rate"]), bool(f.get("staircase", False)), warmup
        )
    if kind == "piecewise_constant_conf":
        return PiecewiseConstantScheduler(
            list(f.get("boundaries", [])), list(f.get("values", [])), warmup
        )
    if kind == "piecewise_scaling_conf":
        boundaries, scales = list(f.get("boundaries", [])), list(f.get("scales", []))
        if len(scales) != len(boundaries) + 1:
            raise ArgumentError(
                f"{_WHAT}: piecewise_scaling_conf needs one scale more than boundaries, got "
                f"{len(scales)} scales for {len(boundaries)} boundaries"
            )
        if scales[0] == 1:
            return PiecewiseScalingScheduler(base_lr, boundaries, scales[1:], warmup)
        return PiecewiseConstantScheduler(boundaries, [base_lr * s for s in scales], warmup)
    if kind == "polynomial_conf":
        return PolynomialScheduler(
            base_lr,
            steps(),
            float(f.get("end_learning_rate", 0.0001)),
            float(f.get("power", 1.0)),
            bool(f.get("cycle", False)),
            warmup,
        )
    if kind == "cosine_conf":
        return CosineScheduler(base_lr, steps(), float(f.get("alpha", 0.0)), warmup)
    if kind == "linear_cosine_conf":
        return LinearCosineScheduler(
            base_lr,
            steps(),
            float(f.get("num_periods", 0.5)),
            float(f.get("alpha", 0.0)),
            float(f.get("beta", 0.001)),
            warmup,
        )
    raise UnsupportedFeatureError(
        f"{_WHAT}: learning_rate_decay.{kind} is not provided by flowsnap in the pre-0.3 set-up "
        "(it has exponential, inverse_time, natural_exp, piecewise_constant, piecewise_scaling, "
        "polynomial, cosine and linear_cosine); use a flow.optimizer scheduler with minimize()"
    )


def _warmup(given: Any) -> Warmup | None:
    conf = _dict(given, "warmup_conf")
    if not conf:
        return None
    if len(conf) != 1:
        raise ArgumentError(f"{_WHAT}: warmup_conf takes one of constant_conf/linear_conf")
    ((kind, raw),) = conf.items()
    f = _dict(raw, kind)
    if kind == "constant_conf":
        return constant(int(f["warmup_batches"]), float(f["multiplier"]))
    if kind == "linear_conf":
        return linear(int(f["warmup_batches"]), float(f["start_multiplier"]))
    raise ArgumentError(f"{_WHAT}: warmup_conf takes constant_conf or linear_conf, got {kind!r}")
