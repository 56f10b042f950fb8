"""``flow.model``: OneFlow 0.4/0.5's Keras-like training API (``Model.fit`` with
``TrainingConfig``, ``ValidationConfig``, ``CheckpointConfig``, data modules and callbacks), built
on flowsnap's ``@global_function`` jobs and checkpoints."""

from flowsnap.model._configs import Callback as Callback
from flowsnap.model._configs import CheckpointConfig as CheckpointConfig
from flowsnap.model._configs import DataModule as DataModule
from flowsnap.model._configs import NumpyDataModule as NumpyDataModule
from flowsnap.model._configs import TrainingConfig as TrainingConfig
from flowsnap.model._configs import ValidationConfig as ValidationConfig
from flowsnap.model._model import Model as Model
from flowsnap.model._module import Module as Module

__all__ = [
    "Callback",
    "CheckpointConfig",
    "DataModule",
    "Model",
    "Module",
    "NumpyDataModule",
    "TrainingConfig",
    "ValidationConfig",
]
