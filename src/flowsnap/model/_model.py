"""``flow.model.Model``: OneFlow 0.4/0.5's Keras-like training API on flowsnap's own jobs.

A subclass defines ``training_step(batch, optimizer_idx)`` (returns the loss, or a tuple whose
first item is the loss), ``configure_optimizers()`` (an optimizer, or a list: one train job each)
and optionally ``validation_step(batch)``. ``fit`` then does what OneFlow's did: clear the default
session, build a ``@global_function`` train job per optimizer (``<Class>_Model_train_numpy_job_<i>``
for a :class:`NumpyDataModule`, whose placeholders take the first batch's shapes, else
``<Class>_Model_train_job_<i>`` reading its data in the body) and a predict job for validation,
load the checkpoint of ``CheckpointConfig.config_load``, and run ``max_steps`` steps: each train
job (then the ``on_training_step_end`` callbacks), validation after every ``step_interval``-th step
(then ``on_validation_step_end``), and a checkpoint of every variable to ``<save_dirpath>-<step>``
after every ``save_step_interval``-th step. A config that is missing or invalid skips its part
with a warning, as OneFlow printed one.
"""

from __future__ import annotations

import abc
import inspect
import logging
from abc import ABC
from collections.abc import Callable, Sequence
from typing import Any

from flowsnap._engine import global_function
from flowsnap._store import clear_default_session
from flowsnap.checkpoint import get as get_checkpoint
from flowsnap.checkpoint import load_variables
from flowsnap.checkpoint import save as save_checkpoint
from flowsnap.errors import ArgumentError
from flowsnap.model._configs import (
    Callback,
    CheckpointConfig,
    DataModule,
    NumpyDataModule,
    TrainingConfig,
    ValidationConfig,
)
from flowsnap.model._module import Module
from flowsnap.optimizers import Optimizer

_log = logging.getLogger("flowsnap")


class Model(ABC, Module):
    """Subclass it and define ``training_step``, ``configure_optimizers`` and optionally
    ``validation_step``; ``fit`` trains. ``is_deprecated_function_style=True`` (which OneFlow
    required) is accepted; flowsnap has only this style."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        del args
        super().__init__()
        self._is_deprecated_function_style = bool(kwargs.get("is_deprecated_function_style", True))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The operations used for prediction; subclasses define it."""
        return super().forward(*args, **kwargs)

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        """One batch of training (``batch=``, ``optimizer_idx=``): return the loss, or a tuple
        whose first item is the loss."""
        raise NotImplementedError(
            f"{type(self).__name__} must define training_step(batch, optimizer_idx) "
            "returning the loss for fit() to use it (as in OneFlow)"
        )

    def validation_step(self, *args: Any, **kwargs: Any) -> Any:
        """One batch of validation (``batch``): return what the callbacks should see."""
        raise NotImplementedError(
            f"{type(self).__name__} must define validation_step(batch) "
            "for fit() to use it (as in OneFlow)"
        )

    def configure_optimizers(self) -> Any:
        """The optimizer, or a list of optimizers (one train job each)."""
        raise NotImplementedError(
            f"{type(self).__name__} must define configure_optimizers() "
            "returning an optimizer or a list of them for fit() to use it (as in OneFlow)"
        )

    def method_overrided(self, method_name: str | None = None) -> bool:
        """Whether this class defines ``method_name`` itself (OneFlow's spelling)."""
        if method_name is None:
            raise ArgumentError("method_overrided: give a method name")
        return getattr(type(self), method_name) is not getattr(Model, method_name)

    def fit(
        self,
        training_config: TrainingConfig | None = None,
        validation_config: ValidationConfig | None = None,
        checkpoint_config: CheckpointConfig | None = None,
        callbacks: Callback | list[Callback] | None = None,
        max_steps: int = 100,
    ) -> None:
        """Clear the default session, build the jobs, load the configured checkpoint and run
        ``max_steps`` steps of training, validation and checkpointing (see the module)."""
        clear_default_session()
        cbs = _callbacks(callbacks)
        parts: list[_Part] = []
        train = _TrainPart(self, training_config, cbs)
        if train.valid:
            parts.append(train)
        validate = _ValidationPart(self, validation_config, cbs)
        if validate.valid:
            parts.append(validate)
        if not parts:
            _log.warning("%s.fit() will do nothing", type(self).__name__)
            return
        checkpoint = _CheckpointPart(self, checkpoint_config)
        if checkpoint.valid:
            checkpoint.load()
            parts.append(checkpoint)
        for step_idx in range(max_steps):
            for part in parts:
                part.step(step_idx)


def _callbacks(callbacks: Callback | Sequence[Callback] | None) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    items = list(callbacks)
    for cb in items:
        if not isinstance(cb, Callback):
            raise TypeError(
                "model callbacks must be a model.Callback or a list of them, got "
                f"{type(cb).__name__}"
            )
    return items


class _Part(abc.ABC):
    """One part of ``fit``: valid or not (with the reason, logged), and its step."""

    name = "part"

    def __init__(self, model: Model, cfg: Any, callbacks: list[Callback]) -> None:
        self.model = model
        self.cfg = cfg
        self.callbacks = callbacks
        self.valid = True
        if cfg is None:
            self._skip("config is None;")
        elif not cfg.check_valid():
            self._skip(cfg.error_msg)

    def _skip(self, why: str) -> None:
        if self.valid:
            _log.warning(
                "%s %s %s %s.fit() will not do it.",
                type(self.model).__name__,
                self.name,
                why,
                type(self.model).__name__,
            )
        self.valid = False

    @abc.abstractmethod
    def step(self, step_idx: int) -> None:
        """Run this part (training or validation) for step ``step_idx``."""


def _outputs(result: Any) -> Any:
    return result.get() if hasattr(result, "get") else result


def _loss_of(outputs: Any) -> Any:
    return outputs[0] if isinstance(outputs, tuple) and outputs else outputs


def _job(name: str, kind: str, cfg: Any, body: Callable[..., Any], batch: Any = None) -> Any:
    """``body`` as a ``@global_function`` named ``name``: with one placeholder per array of the
    first ``batch`` when the data module feeds NumPy."""
    data: DataModule = cfg.data
    body.__name__ = body.__qualname__ = name
    params = []
    if isinstance(data, NumpyDataModule):
        placeholders = data.infer_oneflow_data_placeholder(batch, 0)
        params = [
            inspect.Parameter(
                f"{type(data).__name__}_para_{i}",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=placeholder,
            )
            for i, placeholder in enumerate(placeholders)
        ]
    # the placeholders, and no return annotation: the job returns its outputs lazily (.get())
    body.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return global_function(type=kind, function_config=cfg.exe_cfg)(body)


class _TrainPart(_Part):
    name = "train_model"

    def __init__(self, model: Model, cfg: TrainingConfig | None, callbacks: list[Callback]):
        super().__init__(model, cfg, callbacks)
        if not model.method_overrided("training_step"):
            self._skip("model.training_step() is empty;")
        if not model.method_overrided("configure_optimizers"):
            self._skip("model.configure_optimizers() is empty;")
        if not self.valid or cfg is None:
            return
        opts = model.configure_optimizers()
        self.opts: list[Optimizer] = list(opts) if isinstance(opts, list | tuple) else [opts]
        for opt in self.opts:
            if not isinstance(opt, Optimizer):
                raise TypeError(
                    "model.configure_optimizers() must return an optimizer or a list of them, "
                    f"got {type(opt).__name__}"
                )
        self.numpy = isinstance(cfg.data, NumpyDataModule)
        self.first: list[Any] = []
        self.jobs = [self._build(i) for i in range(len(self.opts))]

    def _build(self, idx: int) -> Any:
        cls = type(self.model).__name__
        model, opt, data = self.model, self.opts[idx], self.cfg.data
        if self.numpy:
            batch = data(0, idx)
            self.first.append(batch)

            def numpy_job(*input_batch: Any) -> Any:
                outputs = model.training_step(batch=input_batch, optimizer_idx=idx)
                opt.minimize(_loss_of(outputs))
                return outputs

            return _job(f"{cls}_Model_train_numpy_job_{idx}", "train", self.cfg, numpy_job, batch)

        def job() -> Any:
            outputs = model.training_step(batch=data(0, idx), optimizer_idx=idx)
            opt.minimize(_loss_of(outputs))
            return outputs

        return _job(f"{cls}_Model_train_job_{idx}", "train", self.cfg, job)

    def step(self, step_idx: int) -> None:
        for idx, job in enumerate(self.jobs):
            if self.numpy:
                batch = self.first[idx] if step_idx == 0 else self.cfg.data(step_idx, idx)
                outputs = _outputs(job(*batch))
            else:
                outputs = _outputs(job())
            for cb in self.callbacks:
                cb.on_training_step_end(outputs=outputs, step_idx=step_idx, optimizer_idx=idx)


class _ValidationPart(_Part):
    name = "validate_model"

    def __init__(self, model: Model, cfg: ValidationConfig | None, callbacks: list[Callback]):
        super().__init__(model, cfg, callbacks)
        if not model.method_overrided("validation_step"):
            self._skip("model.validation_step() is empty;")
        if not self.valid or cfg is None:
            return
        cls, data = type(model).__name__, cfg.data
        assert data is not None  # check_valid passed
        self.numpy = isinstance(data, NumpyDataModule)
        if self.numpy:
            self.first = data(0)

            def numpy_job(*input_batch: Any) -> Any:
                return model.validation_step(batch=input_batch)

            self.job = _job(f"{cls}_Model_eval_numpy_job", "predict", cfg, numpy_job, self.first)
        else:

            def job() -> Any:
                return model.validation_step(data())

            self.job = _job(f"{cls}_Model_eval_job", "predict", cfg, job)

    def step(self, step_idx: int) -> None:
        if (step_idx + 1) % self.cfg.step_interval != 0:
            return
        if self.numpy:
            batch = self.first if step_idx == 0 else self.cfg.data(step_idx)
            outputs = _outputs(self.job(*batch))
        else:
            outputs = _outputs(self.job())
        for cb in self.callbacks:
            cb.on_validation_step_end(outputs=outputs, step_idx=step_idx)


class _CheckpointPart(_Part):
    name = "checkpoint_model"

    def __init__(self, model: Model, cfg: CheckpointConfig | None):
        super().__init__(model, cfg, [])

    def load(self) -> None:
        if self.cfg.need_load:
            load_variables(get_checkpoint(self.cfg.load_dirpath))

    def step(self, step_idx: int) -> None:
        if self.cfg.need_save and (step_idx + 1) % self.cfg.save_step_interval == 0:
            save_checkpoint(f"{self.cfg.save_dirpath}-{step_idx}")
