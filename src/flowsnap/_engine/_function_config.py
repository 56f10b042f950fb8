"""``flow.FunctionConfig()``: per-job options, set by calls (``cfg.default_data_type(flow.float)``,
``cfg.train.primary_lr(0.1)``, ``cfg.qat.symmetric(True)``).

Every option of OneFlow 0.3.4-0.5.0 (the table in ``_fc_options.py``) is accepted with its
version's parameters and defaults (``value=True`` where OneFlow's setter had it) and recorded in
:attr:`FunctionConfig.options` under its dotted name; ``flowsnap.core.job_config_proto`` turns
them into OneFlow's ``JobConfigProto``. Options that change what a job computes are read by the
engine through the properties below; OneFlow's kernel, memory and communication switches are
recorded with no effect (XLA compiles every job). ``FunctionConfig.for_oneflow("0.4")`` is the
class a version's facade gives as ``flow.FunctionConfig``: it accepts exactly that version's
options, and names the versions that have any other. An unknown option is an error that suggests
the closest known one.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar

import numpy as np

from flowsnap import initializers as init
from flowsnap._engine._fc_options import (
    ALIASES,
    MEMORY_POLICIES,
    OPTIONS,
    POLICY_GETTERS,
    Option,
    options_of,
)
from flowsnap._engine._fc_values import check_value, initializer_from_conf
from flowsnap._engine._trace import current_trace
from flowsnap._store import current_session
from flowsnap.errors import (
    ArgumentError,
    MissingOpError,
    UnknownOptionError,
)

_ANNOTATIONS: dict[str, Any] = {"float": float, "str": str}
_DEFAULTS: dict[str, Any] = {"True": True, "None": None}
_VERSION_TAGS = {"0.3": "0.3.4", "0.4": "0.4.0", "0.5": "0.5.0"}
MEMORY_POLICY_OPTION = "static_mem_alloc_policy_white_list"
"""The key under which ``static_mem_alloc_policy_white_list.add/remove`` record the policies
(policy name -> on/off, OneFlow's ``memory_allocation_algorithm_conf``)."""


class FunctionConfig:
    """Options of one job function, passed as ``@flow.global_function(function_config=cfg)``.

    ``cfg.<option>(value)`` sets an option (see the README's "FunctionConfig options" table);
    :attr:`options` holds what was set, by OneFlow's dotted option name.
    """

    oneflow_version: ClassVar[str | None] = None
    """The OneFlow version whose options this class accepts (``"0.3"``...), None for all."""

    def __init__(self) -> None:
        self.options: dict[str, Any] = {}

    @classmethod
    def for_oneflow(cls, version: str) -> type[FunctionConfig]:
        """The ``FunctionConfig`` class of OneFlow ``version`` (``"0.4"``, ``"0.4.0"``,
        ``"v0.4.0"``): it accepts exactly that version's options."""
        short = ".".join(version.removeprefix("v").split(".")[:2])
        if short not in _VERSION_TAGS:
            raise ArgumentError(
                f"FunctionConfig.for_oneflow: OneFlow version {version!r} has no option table; "
                f"choose one of {', '.join(_VERSION_TAGS)}"
            )
        return _versioned(cls, short)

    def copy(self) -> FunctionConfig:
        """A copy with the same options (what a job keeps: OneFlow cloned the config when the
        job was defined, so later changes do not reach it)."""
        twin = type(self)()
        twin.options = {
            k: v if isinstance(v, AbstractContextManager) else copy.deepcopy(v)
            for k, v in self.options.items()
        }
        return twin

    # -- what the engine reads -----------------------------------------------------------------

    @property
    def default_dtype(self) -> np.dtype[Any] | None:
        """The ``default_data_type`` set, if any."""
        value: np.dtype[Any] | None = self.options.get("default_data_type")
        return value

    @property
    def default_initializer(self) -> init.Initializer | None:
        """The ``default_initializer_conf`` set, if any."""
        value: init.Initializer | None = self.options.get("default_initializer_conf")
        return value

    @property
    def num_gradient_accumulation_steps(self) -> int:
        """``train.num_gradient_accumulation_steps`` (1: no accumulation)."""
        return int(self.options.get("train.num_gradient_accumulation_steps", 1))

    @property
    def auto_mixed_precision(self) -> bool:
        """Whether ``enable_auto_mixed_precision`` is on."""
        return bool(self.options.get("enable_auto_mixed_precision", False))

    @property
    def loss_scale_factor(self) -> float | None:
        """``train.loss_scale_factor``, if set."""
        value = self.options.get("train.loss_scale_factor")
        return None if value is None else float(value)

    @property
    def quantization_aware_training(self) -> bool:
        """Whether ``enable_qat`` is on."""
        return bool(self.options.get("enable_qat", False))

    @property
    def legacy_optimizer_conf(self) -> dict[str, Any] | None:
        """The pre-0.3 optimizer set-up: ``{"model_update_conf": ..., "primary_lr": ...,
        "loss_scale_factor": ...}`` when ``train.model_update_conf`` or ``train.primary_lr`` is
        set, else None."""
        keys = ("train.model_update_conf", "train.primary_lr")
        if not any(k in self.options for k in keys):
            return None
        return {
            "model_update_conf": self.options.get("train.model_update_conf"),
            "primary_lr": self.options.get("train.primary_lr"),
            "loss_scale_factor": self.options.get("train.loss_scale_factor"),
        }

    @property
    def indexed_slices_variables(self) -> frozenset[str]:
        """The variables ``indexed_slices_optimizer_conf`` names (empty when unset or
        ``enable=False``)."""
        conf = self.options.get("indexed_slices_optimizer_conf")
        if not conf or not conf.get("enable", True):
            return frozenset()
        return frozenset(conf["include_op_names"]["op_name"])

    @contextmanager
    def placement_scope(self) -> Iterator[None]:
        """Enter ``default_placement_scope`` (a fresh copy of it each time), if set."""
        scope = self.options.get("default_placement_scope")
        if scope is None:
            yield
            return
        with _fresh(scope):
            yield

    def job_body(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` as the job body this config builds: inside ``default_placement_scope`` when
        one is set (``func`` itself otherwise).

        Raises:
            MissingOpError: ``enable_qat(True)``: flowsnap has no fake-quantization ops.
        """
        if self.quantization_aware_training:
            raise MissingOpError(
                f"job {getattr(func, '__name__', func)!r}: FunctionConfig.enable_qat(True) "
                "(quantization-aware training) is not provided by flowsnap: OneFlow's job pass "
                "inserted observers and fake-quantization ops around every matmul, conv2d, "
                "add_n and pooling op of the job, and flowsnap does not rewrite jobs that way; "
                "leave enable_qat off, or call flow.quantization.min_max_observer / "
                "moving_average_min_max_observer / fake_quantization in the body where you want "
                "them (docs/RUNTIME.md)"
            )
        if "default_placement_scope" not in self.options:
            return func
        return _InPlacement(func, self)

    # -- setting options -------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _lookup(self, name)


def current_job_config() -> FunctionConfig | None:
    """The ``FunctionConfig`` of the job whose body is being traced (the copy the job kept when
    it was defined), or None outside job bodies."""
    ctx = current_trace()
    if ctx is None:
        return None
    job = current_session().jobs.get(ctx.job)
    config = getattr(job, "config", None)
    return config if isinstance(config, FunctionConfig) else None


class _Namespace:
    """``cfg.train``, ``cfg.qat``...: the options under one dotted prefix."""

    def __init__(self, config: FunctionConfig, prefix: str) -> None:
        self._config = config
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _lookup(self._config, f"{self._prefix}.{name}")

    def __dir__(self) -> list[str]:
        start = self._prefix + "."
        names = options_of(self._config.oneflow_version)
        return sorted({n[len(start) :].split(".")[0] for n in names if n.startswith(start)})

    def __repr__(self) -> str:
        return f"<FunctionConfig options {self._prefix}.*>"


class _InPlacement:
    """A job body run inside its config's ``default_placement_scope``; it looks like the body to
    ``inspect.signature`` and to annotation evaluation (``__wrapped__``, ``__globals__``)."""

    def __init__(self, func: Callable[..., Any], config: FunctionConfig) -> None:
        functools.update_wrapper(self, func)
        self.__globals__ = getattr(func, "__globals__", {})
        self._config = config

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._config.placement_scope():
            return self.__wrapped__(*args, **kwargs)  # type: ignore[attr-defined]


_CLASSES: dict[tuple[type[FunctionConfig], str], type[FunctionConfig]] = {}


def _versioned(base: type[FunctionConfig], version: str) -> type[FunctionConfig]:
    key = (base, version)
    if key not in _CLASSES:
        _CLASSES[key] = _subclass(base, version)
    return _CLASSES[key]


def _subclass(base: type[FunctionConfig], version: str) -> type[FunctionConfig]:
    return type(
        base.__name__,
        (base,),
        {
            "oneflow_version": version,
            "__module__": base.__module__,
            "__qualname__": base.__qualname__,
            "__doc__": f"{base.__doc__}\n\n    (OneFlow {_VERSION_TAGS[version]}'s options.)",
        },
    )


def _lookup(config: FunctionConfig, dotted: str) -> Any:
    version = config.oneflow_version
    name = ALIASES.get(dotted, dotted)
    known = options_of(version)
    if name in known:
        return _setter(config, name, known[name])
    if any(n.startswith(name + ".") for n in known):
        return _Namespace(config, name)
    where = f"OneFlow {_VERSION_TAGS[version]}'s FunctionConfig" if version else "FunctionConfig"
    elsewhere = [v for v, tag in _VERSION_TAGS.items() if _has(name, v)]
    if elsewhere:
        tags = ", ".join(_VERSION_TAGS[v] for v in elsewhere)
        raise UnknownOptionError(
            f"{where} has no option {dotted!r}: it is an option of OneFlow {tags}; run the "
            f"program with that version (flowsnap run --oneflow-version {elsewhere[-1]}), or "
            "remove the call"
        )
    names = sorted(set(known) | {n.rpartition(".")[0] for n in known if "." in n})
    close = difflib.get_close_matches(dotted, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownOptionError(f"{where} has no option {dotted!r}{hint}")


def _has(name: str, version: str) -> bool:
    return any(n == name or n.startswith(name + ".") for n in options_of(version))


def _signature(params: tuple[str, ...]) -> inspect.Signature:
    parameters = []
    for text in params:
        head, _, default = text.partition("=")
        pname, _, annotation = head.partition(":")
        parameters.append(
            inspect.Parameter(
                pname.strip(),
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=inspect.Parameter.empty if not default else _DEFAULTS[default],
                annotation=_ANNOTATIONS.get(annotation.strip(), inspect.Parameter.empty),
            )
        )
    return inspect.Signature(parameters)


def _setter(config: FunctionConfig, name: str, option: Option) -> Callable[..., Any]:
    signature = _signature(option.params)

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ArgumentError(f"FunctionConfig.{name}{signature}: {exc}") from None
        bound.apply_defaults()
        return _apply(config, name, option, *bound.arguments.values())

    call.__name__ = call.__qualname__ = name.rpartition(".")[2]
    call.__doc__ = f"OneFlow's FunctionConfig option {name!r}: {option.effect}."
    call.__signature__ = signature  # type: ignore[attr-defined]
    return call


def _apply(config: FunctionConfig, name: str, option: Option, *args: Any) -> Any:
    options = config.options
    if option.kind == "none":
        if name in POLICY_GETTERS:
            return POLICY_GETTERS[name]
        return list(MEMORY_POLICIES)
    (value,) = args
    if value is None and option.params == ("attr_value=None",) and option.kind == "bool":
        value = True  # OneFlow's flag setter: no value turns a bool flag on
    if option.kind == "policy":
        return _memory_policy(config, name, value)
    value = check_value(name, option.kind, value)
    if name == "tensorrt.int8_calibration" and not options.get("tensorrt.use_int8"):
        raise ArgumentError(
            "FunctionConfig.tensorrt.int8_calibration: call tensorrt.use_int8() first (OneFlow "
            "required int8 to be on before its calibration)"
        )
    options[name] = value
    if name in ("tensorrt.use_fp16", "tensorrt.use_int8"):
        options["use_tensorrt"] = True  # as OneFlow's setters did
    elif name == "enable_non_distributed_optimizer" and value:
        options["optimizer_placement_optimization_mode"] = "non_distributed"
    elif name == "default_distribute_strategy":
        options["default_logical_view"] = value
    return config


def _memory_policy(config: FunctionConfig, name: str, policy: Any) -> Any:
    if policy not in MEMORY_POLICIES:
        raise ArgumentError(
            f"FunctionConfig.{name}: policy must be one of {list(MEMORY_POLICIES)} (e.g. "
            "cfg.static_mem_alloc_policy_white_list.policy_time_line()), got {policy!r}"
        )
    policies: dict[str, bool] = config.options.get(MEMORY_POLICY_OPTION, {})
    action = name.rpartition(".")[2]
    if action == "has":
        return policies.get(policy, MEMORY_POLICIES[policy])
    config.options[MEMORY_POLICY_OPTION] = {**policies, policy: action == "add"}
    return config


def _fresh(scope: Any) -> AbstractContextManager[Any]:
    """A usable copy of a context manager made by a ``@contextmanager`` function (one instance
    can be entered once, and a job body is traced more than once)."""
    factory = getattr(scope, "func", None)
    if callable(factory) and hasattr(scope, "args") and hasattr(scope, "kwds"):
        # contextlib's _GeneratorContextManager(func, args, kwds)
        fresh: AbstractContextManager[Any] = type(scope)(factory, scope.args, scope.kwds)
        return fresh
    return scope  # type: ignore[no-any-return]


__all__ = ["OPTIONS", "FunctionConfig", "current_job_config", "initializer_from_conf"]
