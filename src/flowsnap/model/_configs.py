"""What ``Model.fit`` is configured with: the data modules, ``TrainingConfig``,
``ValidationConfig``, ``CheckpointConfig`` and ``Callback`` (OneFlow 0.4/0.5 ``flow.model``)."""

from __future__ import annotations

from abc import ABC
from typing import Any

import numpy as np

from flowsnap import typing as tp
from flowsnap._engine import FunctionConfig
from flowsnap.errors import ArgumentError
from flowsnap.model._module import Module


class DataModule(Module):
    """Produces the batches of a job: ``data(step_idx, optimizer_idx)`` runs ``forward``. A plain
    DataModule is called inside the job body (its ``forward`` returns blobs, e.g. from a data
    reader); see :class:`NumpyDataModule` for batches fed from NumPy."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        del args, kwargs
        super().__init__()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The batch; subclasses define it (None here)."""
        del args, kwargs
        return None

    def infer_oneflow_data_placeholder(
        self, batch: tuple[Any, ...] | None = None, optimizer_idx: int = 0
    ) -> list[Any] | None:
        """The job's placeholders for ``batch``: none for a DataModule (the body reads it)."""
        del batch, optimizer_idx
        return None


class NumpyDataModule(DataModule):
    """Batches as tuples of NumPy arrays, fed to the jobs: ``forward(step_idx, optimizer_idx)``
    returns the batch of that step (the jobs' placeholders take the first batch's shapes and
    dtypes)."""

    def forward(self, step_idx: int = 0, optimizer_idx: int = 0) -> Any:
        """The batch of ``step_idx``; subclasses define it (None here)."""
        del step_idx, optimizer_idx
        return None

    def infer_oneflow_data_placeholder(
        self, batch: tuple[Any, ...] | None = None, optimizer_idx: int = 0
    ) -> list[Any]:
        """One ``tp.Numpy.Placeholder`` per array of ``batch``, of its shape and dtype.

        Raises:
            TypeError: ``batch`` is not a tuple of NumPy arrays.
        """
        del optimizer_idx
        if not isinstance(batch, tuple):
            raise TypeError(
                f"{type(self).__name__} must return a tuple of NumPy arrays, got "
                f"{type(batch).__name__}"
            )
        placeholders = []
        for item in batch:
            if not isinstance(item, np.ndarray):
                raise TypeError(
                    f"{type(self).__name__} must return a tuple of NumPy arrays, got an item of "
                    f"type {type(item).__name__}"
                )
            placeholders.append(tp.Numpy.Placeholder(item.shape, dtype=item.dtype))
        return placeholders


class _JobConfig:
    """The execution config (a ``FunctionConfig``) and data module of one kind of job."""

    _what = "model.TrainingConfig"

    def __init__(self) -> None:
        self.exe_cfg: FunctionConfig | None = None
        self.data: DataModule | None = None
        self.error_msg = ""

    def config_execution(self, exe_cfg: FunctionConfig | None = None) -> None:
        """The ``flow.FunctionConfig`` of the job (``flow.ExecutionConfig`` is the same)."""
        self.exe_cfg = exe_cfg

    def config_data(self, data: DataModule | None = None) -> None:
        """The data module giving the job's batches."""
        self.data = data

    def check_valid(self) -> bool:
        """Whether both are set and of the right types; ``error_msg`` says what is wrong."""
        self.error_msg = ""
        if not isinstance(self.exe_cfg, FunctionConfig):
            self.error_msg += f"{self._what} exe_cfg is not a flow.FunctionConfig;"
        if not isinstance(self.data, DataModule):
            self.error_msg += f"{self._what} data is not a model.DataModule;"
        return not self.error_msg


class TrainingConfig(_JobConfig):
    """``config_execution(function_config)`` and ``config_data(data_module)`` of the train jobs
    (one per optimizer)."""


class ValidationConfig(_JobConfig):
    """Like :class:`TrainingConfig`, plus ``config_step_interval(n)``: validate after every
    ``n``-th train step (default 10)."""

    _what = "model.ValidationConfig"

    def __init__(self) -> None:
        super().__init__()
        self.step_interval = 10

    def config_step_interval(self, step_interval: int = 1) -> None:
        """Validate after every ``step_interval``-th step."""
        self.step_interval = step_interval

    def check_valid(self) -> bool:
        """As :meth:`TrainingConfig.check_valid`, and the interval must be > 0."""
        valid = super().check_valid()
        if not (isinstance(self.step_interval, int) and self.step_interval > 0):
            self.error_msg += f"{self._what} step_interval is <= 0;"
            valid = False
        return valid


class CheckpointConfig:
    """``config_load(dirpath)``: load that checkpoint before training;
    ``config_save(dirpath, step_interval)``: after every ``step_interval``-th step ``i`` save every
    variable to ``<dirpath>-<i>`` (OneFlow's naming)."""

    def __init__(self) -> None:
        self.need_load = False
        self.load_dirpath: str | None = None
        self.need_save = False
        self.save_dirpath: str | None = None
        self.save_step_interval = 1
        self.error_msg = ""

    def config_load(self, dirpath: str | None = None) -> None:
        """Load the checkpoint at ``dirpath`` before the first step.

        Raises:
            ArgumentError: ``dirpath`` is None.
        """
        if dirpath is None:
            raise ArgumentError("CheckpointConfig.config_load: dirpath should not be None")
        self.need_load = True
        self.load_dirpath = dirpath

    def config_save(self, dirpath: str | None = None, step_interval: int = 1) -> None:
        """Save to ``<dirpath>-<step>`` after every ``step_interval``-th step.

        Raises:
            ArgumentError: ``dirpath`` is None or ``step_interval`` is not > 0.
        """
        if dirpath is None:
            raise ArgumentError("CheckpointConfig.config_save: dirpath should not be None")
        if not step_interval > 0:
            raise ArgumentError(
                f"CheckpointConfig.config_save: step_interval should be > 0, got {step_interval}"
            )
        self.need_save = True
        self.save_dirpath = dirpath
        self.save_step_interval = step_interval

    def check_valid(self) -> bool:
        """Always valid (OneFlow reserved it for later checks)."""
        self.error_msg = ""
        return True


class Callback(ABC):  # noqa: B024 (OneFlow's abstract base has no abstract methods)
    """Called by ``Model.fit`` after each step; override the hooks you need."""

    def on_training_step_end(  # noqa: B027 (a hook that does nothing by default)
        self, outputs: Any, step_idx: int = 0, optimizer_idx: int = 0
    ) -> None:
        """After train step ``step_idx`` of optimizer ``optimizer_idx``, with its outputs."""

    def on_validation_step_end(  # noqa: B027
        self, outputs: Any, step_idx: int = 0
    ) -> None:
        """After the validation at step ``step_idx``, with its outputs."""
